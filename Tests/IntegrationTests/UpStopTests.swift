import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `chorus up` leaves nothing behind: what a child started (a wrapper script's server) goes with the child, on a
/// clean stop, on a second Ctrl-C, and when the child dies on its own; and a child whose helper outlives it is
/// still seen to have ended, and restarted.
///
/// The child here is a shell script that starts a "server" (another script, so that its command line names this
/// test's folder) in the background: the shape of a model-server wrapper.
@Suite struct UpStopTests {
    /// Writes `server.sh` (runs until killed) and `wrapper.sh` (`body`, which starts the server), and an agents
    /// folder running the wrapper.
    static func wrapperAgents(_ dir: TempDir, body: String) throws -> String {
        try "while true; do sleep 1; done\n".write(toFile: dir.file("server.sh"), atomically: true, encoding: .utf8)
        try body.replacingOccurrences(of: "SERVER", with: "/bin/sh \(dir.file("server.sh"))")
            .write(toFile: dir.file("wrapper.sh"), atomically: true, encoding: .utf8)
        return try UpTests.writeAgents(dir, ["wrapped": "[process]\ncommand = [\"/bin/sh\", \"\(dir.file("wrapper.sh"))\"]\n"])
    }

    static func servers(_ dir: TempDir) -> [Int32] { UpTests.processes(mentioning: dir.file("server.sh")) }

    /// Starts `chorus up` with the wrapper agent and waits for the broker; with `serving`, also for one server.
    static func startUp(_ dir: TempDir, wrapper body: String, serving: Bool = true) throws -> LoggedProcess {
        let agents = try wrapperAgents(dir, body: body)
        let up = try UpTests.up(dir, agents: agents, config: try UpTests.writeConfig(dir))
        guard UpTests.brokerEndpoint(dir, up) != nil else {
            up.stop()
            throw TestFailure("the broker did not start:\n\(up.output.suffix(3000))")
        }
        if serving && !waitUntil(10, { servers(dir).count == 1 }) {
            up.stop()
            throw TestFailure("no server under the wrapper:\n\(up.output.suffix(3000))")
        }
        return up
    }

    /// Nothing that mentions the test's folder (broker, wrapper, server) is left within 10 s.
    static func expectNothingLeft(_ dir: TempDir, sourceLocation: SourceLocation = #_sourceLocation) {
        let gone = waitUntil(10) { UpTests.processes(mentioning: dir.path).isEmpty }
        #expect(gone, "left running: \(UpTests.processes(mentioning: dir.path).map(UpTests.commandLine))", sourceLocation: sourceLocation)
    }

    @Test(.timeLimit(.minutes(1)))
    func aCleanStopTakesWhatAChildStartedWithIt() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let up = try Self.startUp(dir, wrapper: "SERVER &\nwait\n")
        defer { up.stop() }
        kill(up.process.processIdentifier, SIGTERM)
        let status = up.waitForExit(60)
        #expect(status == 0, "status \(status.map(String.init) ?? "none after 60 s"):\n\(up.output.suffix(3000))")
        Self.expectNothingLeft(dir)
    }

    @Test(.timeLimit(.minutes(1)))
    func aSecondCtrlCKillsEveryChildAndWhatTheyStartedAndExits130() throws {
        let dir = TempDir()
        defer { dir.remove() }
        // A wrapper that ignores SIGTERM (and so does its server): the first Ctrl-C would wait 45 s for it.
        let up = try Self.startUp(dir, wrapper: "trap '' TERM\nSERVER &\nwhile true; do wait; done\n")
        defer { up.stop() }
        kill(up.process.processIdentifier, SIGINT)
        try #require(waitUntil(10) { up.output.contains("chorus up: stopping agents, then the broker") }, "\(up.output.suffix(3000))")
        kill(up.process.processIdentifier, SIGINT)
        let status = up.waitForExit(10)
        #expect(status == 130, "status \(status.map(String.init) ?? "none after 10 s"):\n\(up.output.suffix(3000))")
        Self.expectNothingLeft(dir)
    }

    @Test(.timeLimit(.minutes(1)))
    func aChildWhoseHelperOutlivesItIsRestartedAndTheHelperKilled() throws {
        let dir = TempDir()
        defer { dir.remove() }
        // The wrapper exits at once and leaves its server running, holding the pipe Foundation watches.
        let up = try Self.startUp(dir, wrapper: "SERVER &\nexit 3\n", serving: false)
        defer { up.stop() }
        let restarted = waitUntil(20, pollMilliseconds: 50) { up.output.contains("chorus up: wrapped exited with status 3; restarting in 2 s") }
        #expect(restarted, "the wrapper's exit was not seen twice within 20 s:\n\(up.output.suffix(3000))")
        // Each run's server went with its wrapper: never more than the latest one.
        #expect(Self.servers(dir).count <= 1, "servers left: \(Self.servers(dir))")
        UpTests.stopCleanly(up)
        Self.expectNothingLeft(dir)
    }
}
