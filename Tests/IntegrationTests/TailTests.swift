import ChorusClient
import ChorusProtocol
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// `chorus tail` and `chorus inspect` reading a real broker's log, read-only, while it runs and after it stopped.
@Suite struct TailTests {
    static func logPath(_ broker: BrokerProcess) -> String { broker.directory.path + "/data/chorus.sqlite" }

    /// Each stdout line as a JSON object (a line that does not parse fails the test).
    static func objects(_ p: ChildProcess, sourceLocation: SourceLocation = #_sourceLocation) -> [[String: Any]] {
        p.stdoutLines.compactMap { line in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                Issue.record("not a JSON object: \(line)", sourceLocation: sourceLocation)
                return nil
            }
            return o
        }
    }

    static func seqs(_ objects: [[String: Any]]) -> [UInt64] {
        objects.compactMap { ($0["seq"] as? NSNumber)?.uint64Value }
    }

    /// Runs a chorus command to its end (20 s at most) and returns it.
    static func run(_ arguments: [String], in directory: TempDir, label: String) throws -> ChildProcess {
        let p = try ChildProcess(arguments, directory: directory, label: label)
        #expect(p.waitForExit(20) != nil, "\(arguments) did not finish")
        return p
    }

    static let everyField: Set<String> = [
        "seq", "id", "topic", "correlation", "causation", "producer", "time", "content_type", "deadline", "headers",
    ]

    @Test func followJSONShowsAnEventSoonAfterItsPublishIsConfirmed() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect(name: "api")
        func properties(_ id: String, _ type: String) -> Properties {
            Properties([
                ("id", id), ("correlation", "req-1"), ("causation", "ev-0"), ("producer", "planner"),
                ("content-type", type),
                ("deadline", String(nowMs() + 3_600_000)), ("h.trace", "t-1"), ("h.empty", ""),
            ])
        }
        let first = try publisher.publish(
            topic: "jobs.text", payload: Array("{\"n\":1}".utf8), properties: properties("e-1", "application/json")
        ).seq
        let tail = try ChildProcess(
            ["tail", "--follow", "--json", "--log", Self.logPath(broker)], directory: broker.directory, label: "tail")
        defer { tail.terminate() }
        // Started without -n or --from, it shows the last events first (one here): it is running.
        #expect(waitUntil(10) { tail.stdoutLines.count == 1 }, "tail printed nothing: \(tail.stderr)")

        let binary: [UInt8] = [0, 1, 2, 0xFF, 0xFE]
        let second = try publisher.publish(
            topic: "blobs.raw", payload: binary, properties: properties("e-2", "application/octet-stream")
        ).seq
        let confirmedAt = nowMs()
        let shown = waitUntil(3) { tail.stdoutLines.count >= 2 }
        #expect(shown, "tail --follow did not show an event within 3 s of its confirm")
        #expect(nowMs() - confirmedAt < 3000)

        let lines = Self.objects(tail)
        #expect(Self.seqs(lines) == [first, second])
        for line in lines {
            #expect(Self.everyField.isSubset(of: Set(line.keys)), "missing fields in \(line.keys.sorted())")
            #expect(line["correlation"] as? String == "req-1")
            #expect(line["causation"] as? String == "ev-0")
            #expect(line["producer"] as? String == "planner")
            #expect((line["deadline"] as? NSNumber)?.int64Value ?? 0 > nowMs())
            #expect((line["time"] as? NSNumber)?.int64Value ?? 0 > nowMs() - 60_000)
            #expect(line["headers"] as? [String: String] == ["trace": "t-1", "empty": ""])
        }
        #expect(lines.first?["id"] as? String == "e-1")
        #expect(lines.first?["topic"] as? String == "jobs.text")
        #expect(lines.first?["content_type"] as? String == "application/json")
        #expect(lines.first?["payload"] as? [String: Int] == ["n": 1], "a JSON payload is embedded as JSON")
        #expect(lines.last?["payload"] == nil)
        #expect(
            (lines.last?["payload_base64"] as? String).flatMap { Data(base64Encoded: $0) }.map(Array.init) == binary)

        // Ctrl-C ends it quietly with the shell's status for SIGINT.
        kill(tail.process.processIdentifier, SIGINT)
        let status = tail.waitForExit(5)
        #expect(status == 130 && tail.process.terminationReason == .exit, "status \(String(describing: status))")
        #expect(tail.stderr.isEmpty)
    }

    @Test func lastNWithTopicsAndOtherFiltersWhileNoBrokerRuns() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect()
        let topics = ["a.x", "b.y", "a.z", "a.w", "b.q", "c.d.e"]
        var seqs: [String: UInt64] = [:]
        for (i, topic) in topics.enumerated() {
            let props = Properties([("correlation", i % 2 == 0 ? "even" : "odd"), ("producer", "p\(i % 3)")])
            seqs[topic] = try publisher.publish(
                topic: topic, payload: Array("payload \(i)\nsecond line".utf8), properties: props
            ).seq
        }
        // The log stays readable with the broker gone (killed, so its -wal file is still there).
        broker.kill9()
        let log = Self.logPath(broker)
        func tail(_ args: [String], _ label: String) throws -> ChildProcess {
            let p = try Self.run(["tail", "--log", log] + args, in: broker.directory, label: label)
            #expect(p.process.terminationStatus == 0, "\(args): \(p.stderr)")
            return p
        }
        #expect(
            Self.seqs(Self.objects(try tail(["-n", "2", "--topic", "a.*", "--json"], "a"))) == [
                seqs["a.z"]!, seqs["a.w"]!,
            ])
        #expect(
            Self.seqs(Self.objects(try tail(["-n", "2", "--topic", "b.*", "--topic", "c.>", "--json"], "bc"))) == [
                seqs["b.q"]!, seqs["c.d.e"]!,
            ])
        #expect(
            Self.seqs(Self.objects(try tail(["-n", "5", "--topic", "a.*", "--correlation", "even", "--json"], "ae")))
                == [seqs["a.x"]!, seqs["a.z"]!])
        #expect(
            Self.seqs(Self.objects(try tail(["--from", String(seqs["a.w"]!), "--producer", "p1", "--json"], "from")))
                == [seqs["b.q"]!])
        #expect(
            Self.seqs(Self.objects(try tail(["--since", "1h", "--json"], "since"))).count == 6,
            "--since without -n: every match")
        #expect(try tail(["--until", "1h"], "until").stdout.isEmpty)
        let iso = ISO8601DateFormatter()
        #expect(try tail(["--since", iso.string(from: Date().addingTimeInterval(3600))], "future").stdout.isEmpty)
        let sinceMs = String(nowMs() - 3_600_000)
        #expect(
            Self.seqs(
                Self.objects(
                    try tail(
                        [
                            "--since", sinceMs, "--until", iso.string(from: Date().addingTimeInterval(60)), "-n", "1",
                            "--json",
                        ], "range"))) == [seqs["c.d.e"]!])

        // The human line: local time, seq, topic, correlation, producer, one-line preview; no colour off a terminal.
        let human = try tail(["-n", "1", "--topic", "a.*"], "human").stdoutLines
        #expect(human.count == 1)
        let fields = human.first?.split(separator: " ", maxSplits: 5).map(String.init) ?? []
        #expect(fields.count == 6)
        #expect(fields.first?.wholeMatch(of: /\d\d:\d\d:\d\d\.\d\d\d/) != nil)
        #expect(Array(fields.dropFirst().prefix(4)) == [String(seqs["a.w"]!), "a.w", "odd", "p0"])
        #expect(fields.last == "payload 3 second line")
        #expect(!human[0].contains("\u{1B}"))

        // Bad options are usage errors.
        for bad in [["--topic", "a..b"], ["--since", "yesterday"], ["--until", "5"], ["-n", "-1"]] {
            let p = try Self.run(["tail", "--log", log] + bad, in: broker.directory, label: "bad")
            #expect(p.process.terminationStatus == 64, "\(bad)")
        }
    }

    @Test func tailFollowsAWriterThroughTwoThousandEventsInOrderWithoutGaps() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let log = Self.logPath(broker)
        let probe = try broker.connect().publish(topic: "probe", payload: Array("probe".utf8)).seq
        let tail = try ChildProcess(
            ["tail", "-f", "--json", "--from", "1", "--log", log], directory: broker.directory, label: "tail")
        defer { tail.terminate() }
        #expect(waitUntil(10) { tail.stdoutLines.count == 1 }, "tail is not running: \(tail.stderr)")

        let n = 2000
        // Window 1: one event per commit, so the tail reads between 2000 separate commits.
        let pump = try broker.publishLines(
            (0..<n).map(String.init).joined(separator: "\n").appending("\n"), topic: "pump", extra: ["--window", "1"], label: "pump")
        // Meanwhile, one-shot reads beside the writer each see a gapless prefix of the log.
        var snapshots = 0
        while pump.process.isRunning && snapshots < 10 {
            let shot = try Self.run(
                ["tail", "--json", "--from", "1", "--log", log], in: broker.directory, label: "shot-\(snapshots)")
            let got = Self.seqs(Self.objects(shot))
            #expect(shot.process.terminationStatus == 0)
            #expect(got == (got.isEmpty ? [] : Array(1...UInt64(got.count))), "snapshot \(snapshots) has a gap")
            snapshots += 1
        }
        #expect(pump.waitForExit(60) == 0, "\(pump.stderr)")
        #expect(waitUntil(30) { tail.stdoutLines.count >= n + 1 }, "tail saw \(tail.stdoutLines.count - 1) of \(n)")
        let lines = Self.objects(tail)
        #expect(Self.seqs(lines) == Array(probe...(probe + UInt64(n))))
        #expect(lines.dropFirst().map { $0["payload"] as? String } == (0..<n).map(String.init))
        #expect(tail.process.isRunning && tail.stderr.isEmpty)
    }

    @Test func aClosedPipeEndsTailWithStatusZero() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect()
        _ = try publisher.publish(topic: "t", payload: Array("one".utf8))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chorusExecutable())
        process.arguments = ["tail", "-f", "--log", Self.logPath(broker)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let first = pipe.fileHandleForReading.availableData
        #expect(String(decoding: first, as: UTF8.self).contains(" t - - one"))
        try pipe.fileHandleForReading.close()
        // The next event it writes meets the closed pipe (`chorus tail -f | head -1`).
        _ = try publisher.publish(topic: "t", payload: Array("two".utf8))
        #expect(waitUntil(5) { !process.isRunning })
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
    }

    @Test func missingAndForeignLogsFailClearly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        for command in [["tail"], ["tail", "-f"], ["inspect", "req-1"]] {
            let missing = try Self.run(command + ["--data-dir", dir.file("nowhere")], in: dir, label: "missing")
            #expect(missing.process.terminationStatus == 66)
            #expect(
                missing.stderr.contains(
                    "no Chorus log at \(dir.file("nowhere"))/chorus.sqlite: start a broker or pass --log"))
            #expect(!FileManager.default.fileExists(atPath: dir.file("nowhere")))
        }
        // The default place is data/chorus.sqlite in the current folder.
        let byDefault = try Self.run(["tail"], in: dir, label: "default")
        #expect(byDefault.process.terminationStatus == 66)
        #expect(byDefault.stderr.contains("no Chorus log at data/chorus.sqlite"))

        try String(repeating: "not a database\n", count: 100).write(
            toFile: dir.file("notes.sqlite"), atomically: true, encoding: .utf8)
        for command in [["tail"], ["inspect", "req-1"]] {
            let foreign = try Self.run(command + ["--log", dir.file("notes.sqlite")], in: dir, label: "foreign")
            #expect(foreign.process.terminationStatus == 65)
            #expect(foreign.stderr.contains("is not a Chorus log"))
        }
    }

    @Test func inspectTellsTheStoryOfARequestWithARedeliveryAndADeadLetter() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let log = Self.logPath(broker)
        let watcher = try broker.connect(name: "dlq-watcher")
        try watcher.subscribe(group: "dlq", patterns: ["$dlq.>"], credit: 10)
        let worker = try broker.connect(name: "worker")
        try worker.subscribe(group: "g", patterns: ["work"], credit: 1, extra: [("max-attempts", "2")])
        let api = try broker.connect(name: "api")
        func props(_ id: String, causation: String? = nil, correlation: String = "req-9") -> Properties {
            var p = Properties([
                ("id", id), ("correlation", correlation), ("producer", "api"), ("content-type", "application/json"),
            ])
            if let causation { p.append("causation", causation) }
            return p
        }
        func inspect(_ extra: [String], _ label: String) throws -> ChildProcess {
            let p = try Self.run(["inspect", "req-9", "--log", log] + extra, in: broker.directory, label: label)
            #expect(p.process.terminationStatus == 0, "\(label): \(p.stderr)")
            return p
        }
        func document(_ p: ChildProcess) throws -> [String: Any] {
            try #require(
                try JSONSerialization.jsonObject(with: Data(p.stdout.utf8)) as? [String: Any],
                "not one JSON document: \(p.stdout)")
        }

        // The request is nacked once and redelivered.
        let request = try api.publish(topic: "work", payload: Array("{\"job\":1}".utf8), properties: props("r1")).seq
        let first = try #require(try worker.deliveries(1, within: 10).first)
        #expect(first.attempt == 1)
        // A first delivery in flight has no pending row; the group's list of first deliveries shows it.
        let firstJSON = try #require(try document(try inspect(["--json"], "first-json"))["pending"] as? [[String: Any]])
        #expect(firstJSON.count == 1)
        #expect((firstJSON.first?["seq"] as? NSNumber)?.uint64Value == request)
        #expect((firstJSON.first?["attempt"] as? NSNumber)?.intValue == 1)
        #expect(firstJSON.first?["state"] as? String == "in_flight")
        #expect(firstJSON.first?["due"] == nil && firstJSON.first?["consumer"] == nil)
        let firstText = try inspect([], "first").stdout
        #expect(firstText.contains("[g] #\(request) attempt 1 in flight (first delivery)"), "\(firstText)")
        try worker.nack(group: "g", lease: first.lease, mode: .requeue, reason: "GPU busy")
        let second = try #require(try worker.deliveries(1, within: 10).first)
        #expect(second.attempt == 2 && second.lease.seq == request)

        // While attempt 2 is in flight, the story shows the failed attempt and who holds the lease now.
        let during = try document(try inspect(["--json"], "during-json"))
        let pending = try #require(during["pending"] as? [[String: Any]])
        #expect(pending.count == 1)
        #expect(pending.first?["group"] as? String == "g")
        #expect((pending.first?["seq"] as? NSNumber)?.uint64Value == request)
        #expect((pending.first?["attempt"] as? NSNumber)?.intValue == 2)
        #expect(pending.first?["state"] as? String == "in_flight")
        #expect(pending.first?["consumer"] as? String == "worker")
        let history = try #require(pending.first?["history"] as? [[String: Any]])
        #expect(history.count == 1)
        #expect((history.first?["attempt"] as? NSNumber)?.intValue == 1)
        #expect(history.first?["outcome"] as? String == "nacked")
        #expect(history.first?["consumer"] as? String == "worker")
        #expect(history.first?["reason"] as? String == "GPU busy")
        let duringText = try inspect([], "during").stdout
        #expect(duringText.contains("[g] #\(request) attempt 1 nacked by worker: GPU busy"), "\(duringText)")
        #expect(duringText.contains("[g] #\(request) attempt 2 in flight to worker"), "\(duringText)")
        try worker.ack(group: "g", leases: [second.lease], confirm: true)

        // A second part fails twice and is dead-lettered; a result answers the request; another request is unrelated.
        let doomed = try api.publish(topic: "work", payload: Array("{\"job\":2}".utf8), properties: props("r2")).seq
        for attempt in 1...2 {
            let d = try #require(try worker.deliveries(1, within: 10).first)
            #expect(d.lease.seq == doomed && d.attempt == UInt32(attempt))
            try worker.nack(group: "g", lease: d.lease, mode: .requeue, reason: "boom \(attempt)")
        }
        let dead = try #require(try watcher.deliveries(1, within: 10).first)
        #expect(dead.event.topic == "$dlq.g")
        try watcher.ack(group: "dlq", leases: [dead.lease], confirm: true)
        _ = try api.publish(topic: "other", payload: Array("{}".utf8), properties: props("x", correlation: "req-10"))
        let result = try api.publish(
            topic: "results", payload: Array("{\"ok\":true}".utf8), properties: props("r3", causation: "r1")
        ).seq

        let after = try document(try inspect(["--json"], "after-json"))
        #expect(after["correlation"] as? String == "req-9")
        let events = try #require(after["events"] as? [[String: Any]])
        #expect(Self.seqs(events) == [request, doomed, dead.lease.seq, result])
        #expect(events.map { $0["topic"] as? String } == ["work", "work", "$dlq.g", "results"])
        #expect(events.allSatisfy { $0["correlation"] as? String == "req-9" })
        let letters = try #require(after["dead_letters"] as? [[String: Any]])
        #expect(letters.count == 1)
        #expect(letters.first?["group"] as? String == "g")
        #expect((letters.first?["seq"] as? NSNumber)?.uint64Value == doomed)
        #expect((letters.first?["attempts"] as? NSNumber)?.intValue == 2)
        #expect((letters.first?["reason"] as? String)?.contains("boom 2") == true)
        let attempts = try #require(letters.first?["history"] as? [[String: Any]])
        #expect(attempts.map { $0["outcome"] as? String } == ["nacked", "nacked"])
        #expect(attempts.map { $0["reason"] as? String } == ["boom 1", "boom 2"])
        #expect((after["pending"] as? [Any])?.isEmpty == true, "acked and dead-lettered: nothing unsettled")

        let text = try inspect([], "after").stdoutLines
        #expect(text.first?.hasPrefix("req-9: 4 events, 1 dead letter, 0 unsettled deliveries") == true, "\(text)")
        func index(_ fragment: String) -> Int? { text.firstIndex { $0.contains(fragment) } }
        let order = [
            index("#\(request) work (api) id=r1"), index("[g] #\(doomed) attempt 1 nacked by worker: boom 1"),
            index("[g] #\(doomed) attempt 2 nacked by worker: boom 2"),
            index("[g] #\(doomed) dead-lettered after 2 attempts"),
            index("#\(dead.lease.seq) $dlq.g (chorus) id="), index("#\(result) results (api) id=r3 causation=r1"),
        ]
        #expect(order.allSatisfy { $0 != nil }, "\(text)")
        #expect(order.compactMap { $0 } == order.compactMap { $0 }.sorted(), "steps out of time order: \(text)")
        // Every step after the first says how long after the previous one it came.
        #expect(
            text.count == 8
                && text.dropFirst(2).allSatisfy { $0.contains(/^\d\d:\d\d:\d\d\.\d\d\d +\+\d+ ms\s\s[#\s]/) }, "\(text)"
        )

        let nothing = try Self.run(["inspect", "req-404", "--log", log], in: broker.directory, label: "none")
        #expect(nothing.process.terminationStatus == 1)
        #expect(nothing.stderr.contains("no events with correlation req-404"))
    }
}

/// `chorus tail --endpoint`: the same output, read through the protocol from a running broker.
@Suite struct RemoteTailTests {
    @Test func tailThroughTheProtocolMatchesTheFileAndFollows() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let p = try broker.connect()
        for i in 0..<30 {
            _ = try p.publish(topic: i % 2 == 0 ? "remote.even" : "remote.odd", payload: Array("{\"i\":\(i)}".utf8),
                              properties: Properties([("content-type", "application/json"), ("correlation", "r-\(i % 3)")]))
        }
        let local = try ChildProcess(
            ["tail", "--log", broker.directory.file("data/chorus.sqlite"), "--from", "1", "--json", "--topic", "remote.even"],
            directory: broker.directory, label: "local")
        let remote = try broker.client(["tail", "--from", "1", "--json", "--topic", "remote.even"], label: "remote")
        #expect(local.waitForExit(10) == 0 && remote.waitForExit(10) == 0, "\(remote.stderr)")
        #expect(remote.stdoutLines.count == 15)
        #expect(remote.stdoutLines == local.stdoutLines)
        // -n and --follow work remotely too: the last 2 matching, then new ones as they are committed.
        let follow = try broker.client(["tail", "-n", "2", "--follow", "--correlation", "r-1"], label: "follow")
        defer { follow.terminate() }
        #expect(waitUntil(10) { follow.stdoutLines.count == 2 })
        let seq = try p.publish(topic: "remote.new", payload: Array("late".utf8), properties: Properties([("correlation", "r-1")])).seq
        #expect(waitUntil(5) { follow.stdoutLines.count == 3 && follow.stdoutLines.last?.contains(" \(seq) ") == true }, "\(follow.stdout)")
    }
}
