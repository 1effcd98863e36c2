import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `chorus up` as a supervisor, with real processes: a program not on PATH stops it at once (78), a killed agent
/// is restarted, a child that keeps failing is given up on while the rest runs, a broker that keeps failing
/// ends it (69), and SIGTERM leaves nothing behind.
///
/// Each test has its own folder, data and free ports, so the suite runs in parallel with the others; the
/// give-up tests wait through the real back-off (1 + 2 + 4 + 8 s), hence their time limits.
@Suite struct UpTests {
    /// A broker config on free loopback ports; `extra` is appended (a join).
    static func writeConfig(_ dir: TempDir, extra: String = "") throws -> String {
        let path = dir.file("broker.toml")
        try """
            [broker]
            endpoint = "tcp://127.0.0.1:*"
            firehose = "tcp://127.0.0.1:*"
            data_dir = "\(dir.file("data"))"
            log_level = "info"

            """.appending(extra).write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A folder of manifests, `name` -> TOML text.
    static func writeAgents(_ dir: TempDir, _ manifests: [String: String]) throws -> String {
        let folder = dir.file("agents")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (name, text) in manifests { try text.write(toFile: "\(folder)/\(name).toml", atomically: true, encoding: .utf8) }
        return folder
    }

    /// Starts `chorus up` in `dir` on a free endpoint and a data folder of its own.
    static func up(_ dir: TempDir, agents: String, config: String) throws -> LoggedProcess {
        try LoggedProcess(
            [chorusExecutable(), "up", "--config", config, "--agents", agents, "--endpoint", "tcp://127.0.0.1:*",
             "--data-dir", dir.file("data"), "--ready-file", dir.file("ready")],
            in: dir.path, log: dir.file("up"))
    }

    /// Waits for the broker's ready file; its endpoint, or nil if `up` ended or 30 s passed.
    static func brokerEndpoint(_ dir: TempDir, _ up: LoggedProcess) -> String? {
        let ready = waitUntil(30, pollMilliseconds: 50) { FileManager.default.fileExists(atPath: dir.file("ready")) || !up.isRunning }
        guard ready, up.isRunning else { return nil }
        return (try? String(contentsOfFile: dir.file("ready"), encoding: .utf8))?.split(separator: "\n").first.map(String.init)
    }

    /// The command line of a process, its arguments joined by spaces ("" once it is gone).
    static func commandLine(_ pid: Int32) -> String {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return "" }
        return String(decoding: data, as: UTF8.self).split(separator: "\0").joined(separator: " ")
    }

    /// The living descendants of `up` whose command line contains `text`.
    static func children(of up: LoggedProcess, running text: String) -> [Int32] {
        LoggedProcess.descendants(of: up.process.processIdentifier).filter { LoggedProcess.alive($0) && commandLine($0).contains(text) }.sorted()
    }

    /// Waits (up to 10 s) until `up` runs exactly one process whose command line contains `text`; its pid.
    static func onlyChild(of up: LoggedProcess, running text: String) -> Int32? {
        var found: [Int32] = []
        waitUntil(10, pollMilliseconds: 50) {
            found = children(of: up, running: text)
            return found.count == 1
        }
        return found.count == 1 ? found[0] : nil
    }

    /// Living processes anywhere whose command line mentions `text` (a test's own folder).
    static func processes(mentioning text: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(Int32.init)
            .filter { $0 != getpid() && LoggedProcess.alive($0) && commandLine($0).contains(text) }
    }

    /// SIGTERM to `up`; expects status 0 within 60 s and every process it started gone.
    static func stopCleanly(_ up: LoggedProcess, sourceLocation: SourceLocation = #_sourceLocation) {
        let family = LoggedProcess.descendants(of: up.process.processIdentifier)
        kill(up.process.processIdentifier, SIGTERM)
        let status = up.waitForExit(60)
        #expect(status == 0, "chorus up after SIGTERM: \(status.map { "status \($0)" } ?? "still running after 60 s"):\n\(up.output.suffix(3000))",
                sourceLocation: sourceLocation)
        let orphans = waitUntil(5) { family.allSatisfy { !LoggedProcess.alive($0) } } ? [] : family.filter(LoggedProcess.alive)
        #expect(orphans.isEmpty, "left running: \(orphans.map { "\($0) \(commandLine($0))" })", sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(1)))
    func aProgramNotOnPathStopsUpWith78NamingTheManifestAndTheProgram() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let agents = try Self.writeAgents(dir, ["ghost": "[process]\ncommand = [\"no-such-program-chorus-test\", \"--flag\"]\n"])
        let up = try Self.up(dir, agents: agents, config: try Self.writeConfig(dir))
        defer { up.stop() }
        let status = up.waitForExit(30)
        #expect(status == 78, "status \(status.map(String.init) ?? "none: still running after 30 s"):\n\(up.output.suffix(3000))")
        let errors = up.output
        #expect(errors.contains("ghost.toml"), "the message must name the manifest:\n\(errors.suffix(2000))")
        #expect(errors.contains("'no-such-program-chorus-test' not found on PATH"), "the message must name the program:\n\(errors.suffix(2000))")
        #expect(!errors.contains("restarting"))
        // The broker did start (it wrote its endpoints), and went with `up`.
        #expect(FileManager.default.fileExists(atPath: dir.file("ready")))
        let left = waitUntil(5) { Self.processes(mentioning: dir.path).isEmpty }
        #expect(left, "left running: \(Self.processes(mentioning: dir.path).map(Self.commandLine))")
    }

    @Test(.timeLimit(.minutes(3)))
    func upRunsTheFastTierRestartsAKilledAgentAndStopsCleanly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let config = try Self.writeConfig(dir, extra: AgentTests.joinConfig)
        let agents = AgentTests.repositoryRoot.appendingPathComponent("agents").path
        let up = try Self.up(dir, agents: agents, config: config)
        defer { up.stop(grace: 30) }
        let endpoint = try #require(Self.brokerEndpoint(dir, up), "the broker did not start:\n\(up.output.suffix(3000))")
        func subscriptions(_ agent: String) -> Int {
            up.output.split(separator: "\n").filter { $0.contains("chorus.agent.\(agent)") && $0.contains("subscribed") }.count
        }
        let joined = waitUntil(30, pollMilliseconds: 100) { ["text-agent", "image-agent", "audio-agent"].allSatisfy { subscriptions($0) == 1 } }
        try #require(joined, "the fast-tier agents did not all subscribe:\n\(up.output.suffix(3000))")
        // The commands it suggests reach this broker and this log, not the defaults.
        #expect(up.output.contains("--wait --save out --endpoint \(endpoint)"), "\(up.output.prefix(3000))")
        #expect(up.output.contains("chorus tail --follow --log \(dir.file("data"))/chorus.sqlite"), "\(up.output.prefix(3000))")

        let request = try LoggedProcess(
            [chorusExecutable(), "request", "gen.request", "--data", "{\"prompt\":\"a kite over the dunes\"}", "--correlation", "up-1",
             "--wait", "20", "--endpoint", endpoint],
            in: dir.path, log: dir.file("request"))
        defer { request.stop() }
        let requestStatus = request.waitForExit(40)
        try #require(requestStatus == 0, "chorus request: \(requestStatus.map { "status \($0)" } ?? "still running"): \(request.output.suffix(2000))")
        let json = try String(contentsOfFile: request.stdoutPath, encoding: .utf8)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "not JSON: \(json)")
        #expect(record["status"] as? String == "complete", "\(json)")
        #expect(record["correlation"] as? String == "up-1")
        for part in ["text", "image", "audio"] {
            #expect(AgentTests.part(record, part)?["status"] as? String == "ok", "part \(part): \(json)")
        }

        // kill -9 the text agent: `up` says so and starts another, which subscribes again.
        let before = try #require(Self.onlyChild(of: up, running: "/agents/text.toml"), "not one text agent under chorus up")
        kill(before, SIGKILL)
        let restarted = waitUntil(20, pollMilliseconds: 100) {
            up.output.contains("chorus up: text was killed by signal 9; restarting in 1 s")
                && Self.children(of: up, running: "/agents/text.toml").contains { $0 != before }
                && subscriptions("text-agent") == 2
        }
        #expect(restarted, "no new text agent after kill -9 of \(before):\n\(up.output.suffix(3000))")
        #expect(up.isRunning)

        Self.stopCleanly(up)
    }

    @Test(.timeLimit(.minutes(2)))
    func aChildThatKeepsFailingIsGivenUpOnAndTheRestKeepsRunning() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let agents = try Self.writeAgents(dir, [
            "crash": "[process]\ncommand = [\"/bin/sh\", \"-c\", \"exit 3\"]\n",
            // A bare name: found on PATH, run directly.
            "steady": "[process]\ncommand = [\"sleep\", \"600\"]\n",
        ])
        let up = try Self.up(dir, agents: agents, config: try Self.writeConfig(dir))
        defer { up.stop(grace: 30) }
        let endpoint = try #require(Self.brokerEndpoint(dir, up), "the broker did not start:\n\(up.output.suffix(3000))")
        let steady = try #require(Self.onlyChild(of: up, running: "sleep 600"), "no `sleep 600` under chorus up:\n\(up.output.suffix(3000))")

        let giveUp = "chorus up: crash failed 5 times in a row within 10 s of starting (last: exited with status 3); not restarting it."
        let gaveUp = waitUntil(40, pollMilliseconds: 100) { up.output.contains(giveUp) || !up.isRunning }
        let log = up.output
        try #require(gaveUp && up.isRunning, "no give-up line within 40 s (or up ended):\n\(log.suffix(3000))")
        let restarts = log.split(separator: "\n").filter { $0.hasPrefix("chorus up: crash exited with status 3; restarting in ") }
        #expect(restarts.map { $0.split(separator: " ").suffix(2).joined(separator: " ") } == ["1 s", "2 s", "4 s", "8 s"], "\(log.suffix(3000))")

        // The broker and the other child are untouched.
        #expect(Self.children(of: up, running: "sleep 600") == [steady])
        let stats = try LoggedProcess([chorusExecutable(), "stats", "--endpoint", endpoint], in: dir.path, log: dir.file("stats"))
        defer { stats.stop() }
        #expect(stats.waitForExit(20) == 0, "chorus stats against the broker: \(stats.output.suffix(2000))")
        #expect(Self.children(of: up, running: "/bin/sh -c exit 3").isEmpty)
        #expect(up.output.components(separatedBy: giveUp).count == 2, "the give-up line once")

        Self.stopCleanly(up)
    }

    @Test(.timeLimit(.minutes(2)))
    func aBrokerThatKeepsFailingStopsTheAgentsAndUpExits69() throws {
        let dir = TempDir()
        defer { dir.remove() }
        // A real agent too: with its broker gone it only retries its connection, and must still stop on SIGTERM.
        let text = try String(contentsOf: AgentTests.repositoryRoot.appendingPathComponent("agents/text.toml"), encoding: .utf8)
        let agents = try Self.writeAgents(dir, ["steady": "[process]\ncommand = [\"sleep\", \"600\"]\n", "text": text])
        let up = try Self.up(dir, agents: agents, config: try Self.writeConfig(dir))
        defer { up.stop(grace: 30) }
        _ = try #require(Self.brokerEndpoint(dir, up), "the broker did not start:\n\(up.output.suffix(3000))")
        let steady = try #require(Self.onlyChild(of: up, running: "sleep 600"), "no `sleep 600` under chorus up:\n\(up.output.suffix(3000))")
        let agent = try #require(Self.onlyChild(of: up, running: "/text.toml"), "no text agent under chorus up:\n\(up.output.suffix(3000))")

        // Kill each broker as soon as it appears: five quick failures in a row.
        var killed: Set<Int32> = []
        while killed.count < 5 {
            var next: Int32?
            let found = waitUntil(20, pollMilliseconds: 20) {
                next = Self.children(of: up, running: " broker --config").first { !killed.contains($0) }
                return next != nil || !up.isRunning
            }
            guard found, let pid = next else {
                Issue.record("broker number \(killed.count + 1) never came:\n\(up.output.suffix(3000))")
                return
            }
            kill(pid, SIGKILL)
            killed.insert(pid)
        }
        let status = up.waitForExit(30)
        #expect(status == 69, "status \(status.map(String.init) ?? "none: still running"):\n\(up.output.suffix(3000))")
        #expect(up.output.contains("chorus up: broker failed 5 times in a row within 10 s of starting (last: was killed by signal 9); not restarting it."))
        #expect(up.output.contains("stopping the agents"))
        #expect(waitUntil(5) { !LoggedProcess.alive(steady) }, "the agent outlived chorus up")
        #expect(waitUntil(5) { !LoggedProcess.alive(agent) }, "the text agent outlived chorus up")
        #expect(!up.output.contains("did not stop within"), "an agent had to be killed:\n\(up.output.suffix(3000))")
    }
}
