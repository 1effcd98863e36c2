import Foundation
import Testing

/// The `chorus` command line: exit codes, messages, publish and subscribe end to end.
@Suite struct CommandLineTests {
    @Test func aClientWithNoBrokerFailsClearlyWithinSeconds() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let start = nowMs()
        let p = try ChildProcess(["publish", "x.y", "--data", "1", "--endpoint", "tcp://127.0.0.1:9", "--timeout", "1"], directory: dir, label: "p")
        let status = p.waitForExit(10)
        #expect(status == 69)
        #expect(p.stderr.contains("no answer from the broker"))
        #expect(nowMs() - start < 5000)
    }

    @Test(arguments: ["0", "inf", "nan", "100000"])
    func aTimeoutOutOfRangeIsAUsageErrorNotACrash(_ value: String) throws {
        let dir = TempDir()
        defer { dir.remove() }
        for command in [["publish", "x.y", "--data", "1"], ["stats"], ["tail", "--endpoint", "tcp://127.0.0.1:9"]] {
            let p = try ChildProcess(command + ["--timeout", value], directory: dir, label: "t")
            #expect(p.waitForExit(10) == 64, "\(command[0]) --timeout \(value)")
            #expect(p.stderr.contains("--timeout must be more than 0"), "\(command[0]) --timeout \(value): \(p.stderr)")
        }
    }

    @Test func tailFromABrokerThatIsNotThereGivesUpAfterItsTimeout() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let start = nowMs()
        let p = try ChildProcess(["tail", "--endpoint", "tcp://127.0.0.1:9", "--timeout", "0.5"], directory: dir, label: "tail")
        #expect(p.waitForExit(10) == 69)
        #expect(p.stderr.contains("within 0.5 s"))
        #expect(nowMs() - start < 5000)
    }

    @Test func configErrorsNameTheFileAndTheKey() throws {
        let dir = TempDir()
        defer { dir.remove() }
        try "[delivery]\nmax_attempts = \"five\"\n".write(toFile: dir.file("bad.toml"), atomically: true, encoding: .utf8)
        let p = try ChildProcess(["broker", "--config", "bad.toml", "--check"], directory: dir, label: "check")
        #expect(p.waitForExit(10) == 78)
        #expect(p.stderr.contains("bad.toml"))
        #expect(p.stderr.contains("delivery.max_attempts"))
        try "[delivery]\nmax_attempt = 5\n".write(toFile: dir.file("typo.toml"), atomically: true, encoding: .utf8)
        let q = try ChildProcess(["broker", "--config", "typo.toml", "--check"], directory: dir, label: "typo")
        #expect(q.waitForExit(10) == 78)
        #expect(q.stderr.contains("delivery.max_attempt"))
    }

    @Test func theShippedConfigsAreValid() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let dir = TempDir()
        defer { dir.remove() }
        for name in ["default.toml", "reference.toml"] {
            let path = root.appendingPathComponent("brokers/\(name)").path
            let p = try ChildProcess(["broker", "--config", path, "--check"], directory: dir, label: name)
            #expect(p.waitForExit(10) == 0, "\(name): \(p.stderr)")
        }
    }

    /// Every leaf command's --help says what it does in whole paragraphs (argument-parser wraps them to the
    /// terminal; a hard line break in the source would leave a ragged half line) and lists its exit codes.
    @Test(arguments: [
        ["broker"], ["up"], ["agent"], ["publish"], ["subscribe"], ["request"], ["tail"], ["inspect"], ["stats"],
        ["dlq", "list"], ["dlq", "redrive"], ["dlq", "purge"], ["log", "compact"], ["blob", "get"], ["blob", "put"],
    ])
    func helpIsWholeParagraphsWithExitCodes(_ command: [String]) throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = try ChildProcess(command + ["--help"], directory: dir, label: "help", environment: ["COLUMNS": "80"])
        #expect(p.waitForExit(10) == 0)
        let text = p.stdout
        let description = text.components(separatedBy: "USAGE:").first ?? ""
        #expect(description.contains("Exit codes:"), "\(command.joined(separator: " ")) --help names no exit codes")
        let lines = description.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (line, next) in zip(lines, lines.dropFirst()) where !line.isEmpty && line.count < 45 {
            // A short line whose sentence goes on in the next line is a paragraph cut in two.
            let continues = next.first.map { $0.isLowercase || $0 == "(" } ?? false
            #expect(!continues, "\(command.joined(separator: " ")) --help breaks a paragraph after: \(line)")
        }
    }

    @Test func publishLinesAndSubscribeCountEndToEnd() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let sub = try broker.client(["subscribe", "cli.>", "--group", "cli", "--count", "3", "--json", "--start", "first"], label: "sub")
        let text = "one\ntwo\nthree\n"
        let pub = try broker.publishLines(text, topic: "cli.lines", extra: ["--key", "batch"], label: "pub")
        #expect(pub.waitForExit(20) == 0)
        #expect(pub.stdoutLines.count == 3)
        #expect(pub.stdoutLines.allSatisfy { UInt64($0) != nil })
        #expect(sub.waitForExit(20) == 0)
        let payloads = sub.stdoutLines.compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["payload"] as? String
        }
        #expect(payloads == ["one", "two", "three"])
        // The same lines again are duplicates (same keys), confirmed with the first sequence numbers.
        let again = try broker.publishLines(text, topic: "cli.lines", extra: ["--key", "batch"], label: "again")
        #expect(again.waitForExit(20) == 0)
        #expect(again.stdoutLines == pub.stdoutLines.map { "\($0) duplicate" })
        // A refused publish exits 65 with the broker's reason.
        let bad = try broker.client(["publish", "bad..topic", "--data", "{}"], label: "bad")
        #expect(bad.waitForExit(10) == 65)
        #expect(bad.stderr.contains("INVALID_TOPIC"))
    }

    /// `subscribe --count N` takes exactly N events: one taken beyond the count would go back to the group at exit
    /// as a failed attempt (and at max-attempts to the dead letters). Two runs in a row see every event once, each
    /// on its first attempt.
    @Test func subscribeCountTakesNoMoreThanItPrints() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let pub = try broker.publishLines((1...6).map(String.init).joined(separator: "\n") + "\n", topic: "few.e", label: "pub")
        #expect(pub.waitForExit(20) == 0)
        var seen: [(seq: Int, attempt: Int)] = []
        for (count, start) in [(2, ["--start", "first"]), (4, [])] {
            let sub = try broker.client(["subscribe", "few.>", "--group", "few", "--count", String(count), "--json"] + start, label: "sub\(count)")
            #expect(sub.waitForExit(20) == 0)
            for line in sub.stdoutLines {
                guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                    let seq = o["seq"] as? Int, let attempt = o["attempt"] as? Int
                else { continue }
                seen.append((seq, attempt))
            }
        }
        #expect(seen.map(\.seq) == [1, 2, 3, 4, 5, 6], "every event once, in order")
        #expect(seen.allSatisfy { $0.attempt == 1 }, "no event was taken and handed back: \(seen)")
    }

    /// Lines go in PUBLISHMANY batches: a refused line is named by its number, the others are still confirmed in
    /// order, and the exit status says something was refused.
    @Test func publishLinesReportsARefusedLineAndConfirmsTheRest() throws {
        let broker = try BrokerProcess(config: "[storage]\nmax_payload = 64\n")
        defer { broker.stop() }
        let lines = (1...3000).map { $0 == 1500 ? String(repeating: "x", count: 100) : "event \($0)" }
        let pub = try broker.publishLines(lines.joined(separator: "\n") + "\n", topic: "cli.many", extra: ["--window", "700"], label: "pub")
        #expect(pub.waitForExit(30) == 65)
        let seqs = pub.stdoutLines.compactMap { UInt64($0) }
        #expect(seqs.count == 2999 && seqs == seqs.sorted(), "every other line confirmed, in order")
        #expect(pub.stderr.contains("line 1500:") && pub.stderr.contains("PAYLOAD_TOO_LARGE"))
    }

    @Test func publishLinesTakesCRLFAndALastLineWithoutNewline() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let sub = try broker.client(["subscribe", "crlf.>", "--group", "crlf", "--count", "4", "--json", "--start", "first"], label: "sub")
        let pub = try broker.publishLines("one\r\ntwo\r\n\r\nlast", topic: "crlf.lines", label: "pub")
        #expect(pub.waitForExit(20) == 0)
        #expect(sub.waitForExit(20) == 0)
        let payloads = sub.stdoutLines.compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["payload"] as? String
        }
        #expect(payloads == ["one", "two", "", "last"])
    }
}
