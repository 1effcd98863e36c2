import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// The join coordinator against a real broker process; the "agents" here are plain clients publishing results,
/// so each case controls exactly which part arrives when.
@Suite struct JoinTests {
    static func config(timeout: String = "1500ms", policy: String = "partial", maxOpen: Int = 1000, joinKeys: String = "", extra: String = "") -> String {
        """
        [joins.media]
        open = "gen.request"
        emit = "gen.merged"
        timeout = "\(timeout)"
        on_timeout = "\(policy)"
        max_open = \(maxOpen)
        \(joinKeys)
        [joins.media.parts.text]
        topic = "gen.result.text"
        group = "text"
        [joins.media.parts.image]
        topic = "gen.result.image"
        [joins.media.parts.audio]
        topic = "gen.result.audio"
        \(extra)
        """
    }

    static func result(
        _ c: BrokerConnection, _ part: String, _ correlation: String, _ body: String, status: String = "ok", error: String? = nil, attempt: Int = 1
    ) throws -> UInt64 {
        var p = Properties([("correlation", correlation), ("content-type", "text/plain"), ("producer", "\(part)-agent"), ("h.attempt", String(attempt)), ("h.status", status)])
        if let error { p.append("h.error", error) }
        return try c.publish(topic: "gen.result.\(part)", payload: Array(body.utf8), properties: p).seq
    }

    static func record(_ e: Event) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(e.payload)) as? [String: Any])
    }

    static func parts(_ r: [String: Any]) -> [String: [String: Any]] {
        var out: [String: [String: Any]] = [:]
        for p in r["parts"] as? [[String: Any]] ?? [] { out[p["name"] as? String ?? ""] = p }
        return out
    }

    @Test func allPartsGiveOneCompleteRecordAtOnce() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: Array("{\"prompt\":\"a fox\"}".utf8),
                                    properties: Properties([("correlation", "r-1"), ("content-type", "application/json")]))
        for part in ["text", "image", "audio"] { _ = try Self.result(c, part, "r-1", "\(part) result") }
        let start = nowMs()
        let merged = try #require(try c.awaitEvent(correlation: "r-1", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        #expect(nowMs() - start < 5000, "a complete join is emitted at once, not at its deadline")
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "complete")
        #expect(r["correlation"] as? String == "r-1")
        #expect((r["missing"] as? [String])?.isEmpty == true)
        let parts = Self.parts(r)
        #expect(parts["text"]?["text"] as? String == "text result")
        #expect(parts["audio"]?["producer"] as? String == "audio-agent")
        #expect(parts["image"]?["attempt"] as? Int == 1)
        #expect(((r["request"] as? [String: Any])?["payload"] as? [String: Any])?["prompt"] as? String == "a fox")
        #expect(merged.headers.contains { $0.name == "status" && $0.value == "complete" })
    }

    /// `embed_limit = 0`: the record names every event and embeds none, and `chorus request --save` still
    /// writes each part's content, read from the log by sequence number (docs/JOINS.md, section 6.2).
    @Test func withEmbedLimitZeroTheRecordNamesThePartsAndSaveStillWritesThem() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s", joinKeys: "embed_limit = 0"))
        defer { broker.stop() }
        let out = broker.directory.file("out")
        let request = try broker.client(
            ["request", "gen.request", "--data", "{\"prompt\":\"a fox\"}", "--correlation", "e-1", "--wait", "20", "--save", out], label: "request")
        defer { request.terminate() }
        let c = try broker.connect(name: "client")
        #expect(try c.awaitEvent(correlation: "e-1", pattern: "gen.request", afterSeq: 0, timeoutMilliseconds: 10_000) != nil, "\(request.stderr)")
        for part in ["text", "image", "audio"] { _ = try Self.result(c, part, "e-1", "\(part) result") }
        #expect(request.waitForExit(20) == 0, "\(request.stderr)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(request.stdout.utf8)) as? [String: Any])
        #expect(r["status"] as? String == "complete")
        #expect((r["request"] as? [String: Any])?["payload"] == nil, "the request is named, not embedded")
        #expect((r["request"] as? [String: Any])?["size"] as? Int == 18)
        for part in ["text", "image", "audio"] {
            let p = try #require(Self.parts(r)[part])
            #expect(p["text"] == nil && p["payload"] == nil, "\(part) embedded: \(p)")
            #expect(p["size"] as? Int == "\(part) result".utf8.count && (p["seq"] as? Int ?? 0) > 1)
            let saved = FileManager.default.contents(atPath: "\(out)/\(part).txt").map { String(decoding: $0, as: UTF8.self) }
            #expect(saved == "\(part) result", "\(request.stderr)")
        }
    }

    @Test func aMissingPartGivesAPartialRecordNamingItAtTheDeadline() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "800ms"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "r-2")]))
        _ = try Self.result(c, "text", "r-2", "words")
        _ = try Self.result(c, "image", "r-2", "pixels")
        let merged = try #require(try c.awaitEvent(correlation: "r-2", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "partial")
        #expect(r["missing"] as? [String] == ["audio"])
        #expect(Self.parts(r)["audio"]?["status"] as? String == "missing")
        #expect((r["duration_ms"] as? Int ?? 0) >= 750)
    }

    @Test func aFailedPartGivesAFailedRecordAtOnce() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "r-3")]))
        _ = try Self.result(c, "text", "r-3", "", status: "error", error: "model exploded")
        let merged = try #require(try c.awaitEvent(correlation: "r-3", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "failed")
        #expect(r["failed"] as? [String] == ["text"])
        #expect(Self.parts(r)["text"]?["error"] as? String == "model exploded")
    }

    @Test func aDeadLetteredRequestFailsThePartOfItsGroup() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s"))
        defer { broker.stop() }
        let agent = try broker.connect(name: "text-agent")
        try agent.subscribe(group: "text", patterns: ["gen.request"], credit: 1, extra: [("max-attempts", "1")])
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "r-4")]))
        let d = try #require(try agent.deliveries(1, within: 10).first)
        try agent.nack(group: "text", lease: d.lease, mode: .requeue, reason: "GPU on fire")
        let merged = try #require(try c.awaitEvent(correlation: "r-4", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "failed")
        #expect((Self.parts(r)["text"]?["error"] as? String)?.contains("GPU on fire") == true)
    }

    @Test func duplicateAndLatePartsChangeNothingAndAreRecorded() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "r-5")]))
        let text = try Self.result(c, "text", "r-5", "first")
        let duplicate = try Self.result(c, "text", "r-5", "second (a redelivered duplicate)")
        let image = try Self.result(c, "image", "r-5", "img")
        let audio = try Self.result(c, "audio", "r-5", "wav")
        let merged = try #require(try c.awaitEvent(correlation: "r-5", pattern: "gen.merged", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        #expect(Self.parts(try Self.record(merged))["text"]?["text"] as? String == "first")
        let late = try Self.result(c, "audio", "r-5", "late wav")
        // No second record: nothing on gen.merged after the late part.
        #expect(try c.awaitEvent(correlation: "r-5", pattern: "gen.merged", afterSeq: merged.seq, timeoutMilliseconds: 600) == nil)
        let db = broker.directory.file("data/chorus.sqlite")
        // The parts it used are named in the join's row; what it did not use has a row of its own.
        let column = try sqlite(db, "select parts from joins where correlation = 'r-5'")
        #expect(column == [#"{"audio":\#(audio),"image":\#(image),"text":\#(text)}"#])
        let rows = try sqlite(db, "select part || ':' || status || ':' || seq from join_parts where correlation = 'r-5' order by id")
        #expect(rows == ["text:duplicate:\(duplicate)", "audio:late:\(late)"])
    }

    /// The result that closes a join is followed in the log by the merged record; its CONFIRM, and the key it
    /// was published with, name the result's own sequence number (they once named the record's).
    @Test func theConfirmOfTheClosingPartIsThePartsOwnSequenceNumber() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "r-9")]))
        _ = try Self.result(c, "text", "r-9", "t")
        _ = try Self.result(c, "image", "r-9", "i")
        let properties = Properties([("correlation", "r-9"), ("key", "audio-r-9"), ("h.status", "ok")])
        let closing = try c.publish(topic: "gen.result.audio", payload: Array("a".utf8), properties: properties)
        let retry = try c.publish(topic: "gen.result.audio", payload: Array("a".utf8), properties: properties)
        #expect(retry.duplicate && retry.seq == closing.seq)
        let db = broker.directory.file("data/chorus.sqlite")
        #expect(try sqlite(db, "select topic from events where seq = \(closing.seq)") == ["gen.result.audio"])
        #expect(try sqlite(db, "select topic from events where seq = \(closing.seq + 1)") == ["gen.merged"])
    }

    @Test func killNineWithJoinsOpenEmitsExactlyOneRecordEachAtTheOriginalDeadline() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "2500ms"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        var opened: [String: Int64] = [:]
        for i in 0..<20 {
            let id = "crash-\(i)"
            _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", id)]))
            opened[id] = nowMs()
            if i % 2 == 0 { _ = try Self.result(c, "text", id, "t") }
        }
        broker.kill9()
        try broker.start()
        let c2 = try broker.connect(name: "after")
        for (id, openedAt) in opened {
            let merged = try #require(try c2.awaitEvent(correlation: id, pattern: "gen.merged", afterSeq: 0, timeoutMilliseconds: 15_000))
            let r = try Self.record(merged)
            #expect(r["status"] as? String == "partial")
            let closedAt = r["closed_at"] as? Int64 ?? Int64(r["closed_at"] as? Int ?? 0)
            #expect(closedAt >= openedAt + 2400, "\(id) closed before its original deadline")
            #expect(closedAt <= openedAt + 8000, "\(id) closed long after its original deadline")
            if id.hasSuffix("0") || id.hasSuffix("2") || id.hasSuffix("4") || id.hasSuffix("6") || id.hasSuffix("8") {
                #expect(Self.parts(r)["text"]?["status"] as? String == "ok")
            }
        }
        let counts = try sqlite(broker.directory.file("data/chorus.sqlite"), "select count(*) from events where topic = 'gen.merged' group by correlation")
        #expect(counts.count == 20)
        #expect(counts.allSatisfy { $0 == "1" })
    }

    @Test func openJoinsAreBoundedWithAClearError() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "30s", maxOpen: 3))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        for i in 0..<3 { _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "b-\(i)")])) }
        #expect {
            _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "b-3")]))
        } throws: { error in
            guard case ChorusClientError.refused(let code, let message) = error else { return false }
            return code == .limitReached && message.contains("max_open")
        }
        // Closing one makes room again.
        for part in ["text", "image", "audio"] { _ = try Self.result(c, part, "b-0", "x") }
        _ = try c.awaitEvent(correlation: "b-0", pattern: "gen.merged", afterSeq: 0, timeoutMilliseconds: 10_000)
        _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "b-3")]))
    }

    @Test func discardAndDeadLetterPolicies() throws {
        let broker = try BrokerProcess(config: Self.config(timeout: "500ms", policy: "deadletter"))
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        _ = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "p-1")]))
        let dead = try #require(try c.awaitEvent(correlation: "p-1", pattern: "$dlq.join.media", afterSeq: 0, timeoutMilliseconds: 10_000))
        #expect(try Self.record(dead)["status"] as? String == "partial")
        #expect(try c.awaitEvent(correlation: "p-1", pattern: "gen.merged", afterSeq: 0, timeoutMilliseconds: 300) == nil)
    }
}

/// `chorus inspect` tells a multimodal request's whole story: the join, a redelivered part, a late part.
@Suite struct InspectJoinTests {
    @Test func inspectShowsTheJoinARedeliveryAndALatePart() throws {
        let broker = try BrokerProcess(config: JoinTests.config(timeout: "30s"))
        defer { broker.stop() }
        let agent = try broker.connect(name: "text-agent")
        try agent.subscribe(group: "text", patterns: ["gen.request"], credit: 1)
        let c = try broker.connect(name: "client")
        let request = try c.publish(topic: "gen.request", payload: Array("{\"prompt\":\"x\"}".utf8),
                                    properties: Properties([("correlation", "story-1"), ("content-type", "application/json")]))
        let first = try #require(try agent.deliveries(1, within: 10).first)
        try agent.nack(group: "text", lease: first.lease, mode: .requeue, reason: "GPU busy")
        let second = try #require(try agent.deliveries(1, within: 10).first)
        #expect(second.attempt == 2)
        // The agent reports the attempt it was given, as the runtime does.
        let textSeq = try JoinTests.result(agent, "text", "story-1", "words", attempt: Int(second.attempt))
        try agent.ack(group: "text", leases: [second.lease], confirm: true)
        _ = try JoinTests.result(c, "image", "story-1", "pixels")
        _ = try JoinTests.result(c, "audio", "story-1", "sound")
        _ = try #require(try c.awaitEvent(correlation: "story-1", pattern: "@reply", afterSeq: request.seq, timeoutMilliseconds: 10_000))
        let late = try JoinTests.result(c, "audio", "story-1", "late sound")
        let inspect = try TailTests.run(["inspect", "story-1", "--log", TailTests.logPath(broker)], in: broker.directory, label: "inspect")
        #expect(inspect.waitForExit(10) == 0, "\(inspect.stderr)")
        let out = inspect.stdout
        #expect(out.contains("[join media] opened by #\(request.seq)"))
        #expect(
            inspect.stdoutLines.contains { $0.contains("part text ok #\(textSeq)") && $0.contains("(attempt 2)") },
            "the redelivered part shows its attempt: \(out)")
        #expect(out.contains("closed complete"))
        #expect(out.contains("part audio late #\(late)"))
        // tail's one-line preview of the merged record leads with its outcome, not with the start of its JSON.
        let tail = try TailTests.run(["tail", "--correlation", "story-1", "--topic", "gen.merged", "--log", TailTests.logPath(broker)], in: broker.directory, label: "tail-merged")
        #expect(tail.waitForExit(10) == 0, "\(tail.stderr)")
        #expect(tail.stdoutLines.contains { $0.contains("join media complete (merged record, ") }, "\(tail.stdout)")
        let json = try TailTests.run(["inspect", "story-1", "--json", "--log", TailTests.logPath(broker)], in: broker.directory, label: "inspect-json")
        #expect(json.waitForExit(10) == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((doc["joins"] as? [[String: Any]])?.first?["status"] as? String == "complete")
        let joinParts = doc["join_parts"] as? [[String: Any]] ?? []
        #expect(joinParts.contains { $0["status"] as? String == "late" })
        #expect(OperatorTests.int(joinParts.first { $0["part"] as? String == "text" }?["attempt"]) == 2)
    }
}

/// Runs a query with the sqlite3 shell (read-only) and returns the rows.
func sqlite(_ path: String, readOnly: Bool = true, _ sql: String) throws -> [String] {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
    p.arguments = (readOnly ? ["-readonly"] : []) + [path, sql]
    let out = Pipe()
    p.standardOutput = out
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    // A write must happen; a read that finds the log busy returns nothing, for a caller polling until it answers.
    guard readOnly || p.terminationStatus == 0 else { throw TestFailure("sqlite3 exited \(p.terminationStatus) for: \(sql)") }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}
