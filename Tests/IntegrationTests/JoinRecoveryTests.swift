import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// A join rebuilt after kill -9 has each part as it was: a success is found again as its event in the log (it has
/// no `join_parts` row), and an event the join did not accept stays unaccepted (docs/STORAGE.md, `join_parts`).
@Suite struct JoinRecoveryTests {
    /// A `media` join opened by `gen.request`, with a 30 s deadline and `settings` in its table, and `parts`:
    /// each a name, its topic and more lines of its table.
    static func media(_ settings: String = "", parts: [(name: String, topic: String, extra: String)]) -> String {
        var toml = "[joins.media]\nopen = \"gen.request\"\nemit = \"gen.merged\"\ntimeout = \"30s\"\n\(settings)"
        for part in parts { toml += "[joins.media.parts.\(part.name)]\ntopic = \"\(part.topic)\"\n\(part.extra)" }
        return toml
    }

    /// The text part is optional and gives up after 300 ms; image and audio are required.
    static let config = media(parts: [
        ("text", "gen.result.text", "required = false\ntimeout = \"300ms\"\n"), ("image", "gen.result.image", ""), ("audio", "gen.result.audio", ""),
    ])

    /// Two required parts, no timeouts of their own.
    static let twoParts = media(parts: [("image", "gen.result.image", ""), ("audio", "gen.result.audio", "")])

    /// Two optional parts, one of which completes the join.
    static func eitherPart(textExtra: String = "") -> String {
        media("need = 1\n", parts: [("text", "gen.result.text", "required = false\n" + textExtra), ("image", "gen.result.image", "required = false\n")])
    }

    /// The parts of `correlation`'s merged record, once it is emitted.
    static func mergedParts(_ c: BrokerConnection, _ correlation: String, after request: UInt64) throws -> [String: [String: Any]] {
        let merged = try #require(try c.awaitEvent(correlation: correlation, pattern: "gen.merged", afterSeq: request, timeoutMilliseconds: 10_000))
        return JoinTests.parts(try JoinTests.record(merged))
    }

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
        let config = "[groups.text]\nmax_attempts = 1\n" + Self.eitherPart(textExtra: "group = \"text\"\n")
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
        let parts = try Self.mergedParts(c2, "k-2", after: request.seq)
        #expect(parts["text"]?["status"] as? String == "failed", "\(parts["text"] ?? [:])")
        #expect(parts["image"]?["status"] as? String == "ok")
    }

    /// A join open when a version-4 log is upgraded: its success has an `ok` row (v4) and, once it closes, is also
    /// named in `joins.parts` (v5). `chorus inspect` should list it once.
    @Test func aJoinOpenAcrossTheUpgradeListsItsSuccessOnce() throws {
        let broker = try BrokerProcess(config: Self.twoParts)
        defer { broker.stop() }
        let db = broker.directory.file("data/chorus.sqlite")
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-u")]))
        let image = try JoinTests.result(c, "image", "k-u", "pixels")
        broker.kill9()
        // What a version-4 broker would have written for that success, and the version-4 schema.
        _ = try sqlite(db, readOnly: false, """
            INSERT INTO join_parts(name, correlation, part, seq, status, producer, attempt, received_at, error)
              SELECT 'media', 'k-u', 'image', seq, 'ok', producer, 1, time, NULL FROM events WHERE seq = \(image);
            ALTER TABLE joins DROP COLUMN parts; PRAGMA user_version = 4;
            """)
        try broker.start()
        let c2 = try broker.connect(name: "after")
        _ = try JoinTests.result(c2, "audio", "k-u", "sound")
        #expect(try Self.mergedParts(c2, "k-u", after: request.seq)["image"]?["status"] as? String == "ok")
        let json = try TailTests.run(["inspect", "k-u", "--json", "--log", TailTests.logPath(broker)], in: broker.directory, label: "inspect-json")
        #expect(json.waitForExit(10) == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let imageOK = (doc["join_parts"] as? [[String: Any]] ?? []).filter { $0["part"] as? String == "image" && $0["status"] as? String == "ok" }
        #expect(imageOK.count == 1, "image ok listed \(imageOK.count) times: \(imageOK)")
    }

    /// The opening event is a part of its own join; the join is rebuilt after kill -9 with that part ok.
    @Test func anOpeningEventThatIsAlsoAPartSurvivesARestart() throws {
        let broker = try BrokerProcess(config: Self.media(parts: [("ask", "gen.request", ""), ("image", "gen.result.image", "")]))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-o")]))
        broker.kill9()
        try broker.start()
        let c2 = try broker.connect(name: "after")
        let image = try JoinTests.result(c2, "image", "k-o", "pixels")
        let parts = try Self.mergedParts(c2, "k-o", after: request.seq)
        #expect(OperatorTests.int(parts["ask"]?["seq"]) == Int(request.seq))
        #expect(OperatorTests.int(parts["image"]?["seq"]) == Int(image))
    }

    /// A result with the correlation id from before the join opened is not a part of it, before or after a restart.
    @Test func aResultFromBeforeTheJoinOpenedIsNotUsedAfterARestart() throws {
        let broker = try BrokerProcess(config: Self.twoParts)
        defer { broker.stop() }
        let db = broker.directory.file("data/chorus.sqlite")
        let c = try broker.connect(name: "client")
        let early = try JoinTests.result(c, "image", "k-r", "early pixels")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-r")]))
        broker.kill9()
        try broker.start()
        let c2 = try broker.connect(name: "after")
        _ = try JoinTests.result(c2, "audio", "k-r", "sound")
        // Confirmed, so committed: had the audio part closed the join, its record would be in the same commit.
        #expect(try sqlite(db, "select status from joins where correlation = 'k-r'") == ["open"])
        #expect(try sqlite(db, "select count(*) from events where topic = 'gen.merged'") == ["0"])
        let image = try JoinTests.result(c2, "image", "k-r", "pixels")
        let parts = try Self.mergedParts(c2, "k-r", after: request.seq)
        #expect(OperatorTests.int(parts["image"]?["seq"]) == Int(image))
        #expect(OperatorTests.int(parts["image"]?["seq"]) != Int(early))
    }

    /// A failure by h.status=error, then a success for the same part (duplicate): still failed after a restart.
    @Test func anErrorResultThenASuccessStaysFailedAfterARestart() throws {
        let broker = try BrokerProcess(config: Self.eitherPart())
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-e")]))
        _ = try JoinTests.result(c, "text", "k-e", "boom", status: "error", error: "boom")
        _ = try JoinTests.result(c, "text", "k-e", "words")
        broker.kill9()
        try broker.start()
        let c2 = try broker.connect(name: "after")
        _ = try JoinTests.result(c2, "image", "k-e", "pixels")
        let parts = try Self.mergedParts(c2, "k-e", after: request.seq)
        #expect(parts["text"]?["status"] as? String == "failed", "\(parts["text"] ?? [:])")
    }

    /// JOINS.md section 5: an open join whose section is removed is left open and closes again when the section
    /// comes back. Its success (now only an event) must survive retention meanwhile.
    @Test func anUnconfiguredOpenJoinKeepsItsSuccessThroughRetention() throws {
        let joins = JoinRecoveryTests.twoParts
        let broker = try BrokerProcess(config: "[retention]\nmax_events = 1\n" + joins)
        defer { broker.stop() }
        let toml = broker.directory.file("broker.toml")
        let full = try String(contentsOfFile: toml, encoding: .utf8)
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "k-x")]))
        _ = try JoinTests.result(c, "image", "k-x", "pixels")
        broker.kill9()
        // The section is removed for a while; retention runs.
        try full.replacingOccurrences(of: joins, with: "").write(toFile: toml, atomically: true, encoding: .utf8)
        try broker.start()
        let c2 = try broker.connect(name: "meanwhile")
        for _ in 0..<5 { _ = try c2.publish(topic: "other", payload: []) }
        _ = try c2.admin("log.compact")
        broker.kill9()
        // It comes back.
        try full.write(toFile: toml, atomically: true, encoding: .utf8)
        try broker.start()
        let c3 = try broker.connect(name: "after")
        _ = try JoinTests.result(c3, "audio", "k-x", "sound")
        let merged = try c3.awaitEvent(correlation: "k-x", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 5_000)
        #expect(merged != nil, "no record: the image part is pending again after the restart")
    }
}
