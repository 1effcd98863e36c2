import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// A join rebuilt after kill -9 has each part as it was: a success is found again as its event in the log (it has
/// no `join_parts` row), and an event the join did not accept stays unaccepted (docs/STORAGE.md, `join_parts`).
@Suite struct JoinRecoveryTests {
    /// The text part is optional and gives up after 300 ms; image and audio are required.
    static let config = """
        [joins.media]
        open = "gen.request"
        emit = "gen.merged"
        timeout = "30s"
        [joins.media.parts.text]
        topic = "gen.result.text"
        required = false
        timeout = "300ms"
        [joins.media.parts.image]
        topic = "gen.result.image"
        [joins.media.parts.audio]
        topic = "gen.result.audio"
        """

    @Test func aSuccessBeforeTheCrashCountsAndALatePartStaysLate() throws {
        let broker = try BrokerProcess(config: Self.config)
        defer { broker.stop() }
        let db = broker.directory.file("data/chorus.sqlite")
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-1")]))
        let image = try JoinTests.result(c, "image", "k-1", "pixels", attempt: 3)
        #expect(try waitUntil(10) { try sqlite(db, "select status from join_parts where correlation = 'k-1'") == ["timeout"] })
        let late = try JoinTests.result(c, "text", "k-1", "too late")
        #expect(try waitUntil(10) { try sqlite(db, "select count(*) from join_parts where status = 'late'") == ["1"] })
        broker.kill9()

        try broker.start()
        let c2 = try broker.connect(name: "after")
        let audio = try JoinTests.result(c2, "audio", "k-1", "sound")
        let merged = try #require(try c2.awaitEvent(correlation: "k-1", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let r = try JoinTests.record(merged)
        // Complete at the audio part: the image part came back from the log, with its event's attempt.
        #expect(r["status"] as? String == "complete")
        let parts = JoinTests.parts(r)
        #expect(OperatorTests.int(parts["image"]?["seq"]) == Int(image))
        #expect(OperatorTests.int(parts["image"]?["attempt"]) == 3)
        #expect(OperatorTests.int(parts["audio"]?["seq"]) == Int(audio))
        // The text result came after the part timed out: it was late before the crash and is not used after it.
        #expect(parts["text"]?["status"] as? String == "timeout", "\(parts["text"] ?? [:])")
        #expect(OperatorTests.int(parts["text"]?["seq"]) != Int(late))
        let column = try sqlite(db, "select parts from joins where correlation = 'k-1'")
        #expect(column == [#"{"audio":\#(audio),"image":\#(image)}"#], "\(parts)")
    }

    @Test func aDeadLetterFailureBeforeTheCrashIsNotUndoneByALaterResult() throws {
        let config = """
            [groups.text]
            max_attempts = 1
            [joins.media]
            open = "gen.request"
            emit = "gen.merged"
            timeout = "30s"
            need = 1
            [joins.media.parts.text]
            topic = "gen.result.text"
            group = "text"
            required = false
            [joins.media.parts.image]
            topic = "gen.result.image"
            required = false
            """
        let broker = try BrokerProcess(config: config)
        defer { broker.stop() }
        let db = broker.directory.file("data/chorus.sqlite")
        let agent = try broker.connect(name: "text-agent")
        try agent.subscribe(group: "text", patterns: ["gen.request"], credit: 1)
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-2")]))
        let job = try #require(try agent.deliveries(1, within: 10).first)
        try agent.nack(group: "text", lease: job.lease, mode: .reject, reason: "cannot")
        #expect(try waitUntil(10) { try sqlite(db, "select status from join_parts where correlation = 'k-2'") == ["failed"] })
        // A result for the part that already failed: recorded as a duplicate, not used.
        let after = try JoinTests.result(c, "text", "k-2", "words after all")
        #expect(try waitUntil(10) { try sqlite(db, "select status || ':' || seq from join_parts where correlation = 'k-2' order by id") == ["failed:0", "duplicate:\(after)"] })
        broker.kill9()

        try broker.start()
        let c2 = try broker.connect(name: "after")
        _ = try JoinTests.result(c2, "image", "k-2", "pixels")
        let merged = try #require(try c2.awaitEvent(correlation: "k-2", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let parts = JoinTests.parts(try JoinTests.record(merged))
        #expect(parts["text"]?["status"] as? String == "failed", "\(parts["text"] ?? [:])")
        #expect(parts["image"]?["status"] as? String == "ok")
    }
}
