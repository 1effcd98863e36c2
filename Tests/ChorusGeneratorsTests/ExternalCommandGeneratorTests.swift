import ChorusGenerators
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("External command generator")
struct ExternalCommandGeneratorTests {
    @Test func catEchoesStdin() throws {
        let request = bytes("a prompt with 'quotes', $VARS and ; no shell")
        #expect(try ExternalCommandGenerator(command: ["/bin/cat"]).generate(request) == request)
    }

    @Test func largeInputAndOutputDoNotDeadlock() throws {
        // Far beyond a pipe buffer in both directions.
        let request = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0) }
        #expect(try ExternalCommandGenerator(command: ["cat"], timeout: .seconds(30)).generate(request) == request)
    }

    @Test func nonZeroExitCarriesStatusAndStderrTail() {
        let generator = ExternalCommandGenerator(command: [
            "/bin/sh", "-c", "echo starting; echo 'model file missing' >&2; exit 3",
        ])
        do {
            _ = try generator.generate([])
            Issue.record("exit 3 was not reported")
        } catch let error as GeneratorError {
            #expect(error.code == .commandFailed)
            #expect(error.message == "/bin/sh exited with status 3: model file missing")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func plainExit3() {
        #expect(throws: GeneratorError(.commandFailed, "/bin/sh exited with status 3")) {
            try ExternalCommandGenerator(command: ["/bin/sh", "-c", "exit 3"]).generate([])
        }
    }

    @Test func timeoutKillsTheCommand() {
        let start = Date()
        #expect {
            try ExternalCommandGenerator(command: ["sleep", "30"], timeout: .milliseconds(300)).generate([])
        } throws: { error in
            (error as? GeneratorError)?.code == .timedOut
        }
        #expect(Date().timeIntervalSince(start) < 10)
    }

    @Test func timeoutKillsGrandchildrenToo() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let pidFile = dir.file("pid")
        let command = ["/bin/sh", "-c", "sleep 30 & echo $! > \(pidFile); wait"]
        #expect(throws: GeneratorError.self) {
            try ExternalCommandGenerator(command: command, timeout: .milliseconds(500)).generate([])
        }
        let text = try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let pid = try #require(pid_t(text))
        // SIGKILL is delivered asynchronously; poll briefly rather than sleeping a fixed time.
        let deadline = Date().addingTimeInterval(5)
        while Self.isRunning(pid), Date() < deadline { usleep(20_000) }
        #expect(!Self.isRunning(pid), "sleep \(pid) survived the timeout")
    }

    /// Whether `pid` exists and is not a zombie. An orphan's zombie lingers if the container's init does not
    /// reap, so `kill(pid, 0)` alone would say it is alive.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return kill(pid, 0) == 0
        }
        // The state letter follows the parenthesised command name.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).prefix(1)
        return state != "Z" && state != "X"
    }

    @Test func childStartsWithSIGTERMDeliverable() {
        // An agent's threads block SIGTERM (its drain handles it); the command must not inherit that (see
        // CommandRunner's DESIGN note), otherwise this shell would sleep and exit 0 instead of dying by its own
        // SIGTERM. Block it here, as the agent does, so the test fails if the mask leaks.
        var term = sigset_t()
        var previous = sigset_t()
        sigemptyset(&term)
        sigaddset(&term, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &term, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
        #expect(throws: GeneratorError(.commandFailed, "/bin/sh was killed by signal 15")) {
            try ExternalCommandGenerator(command: ["/bin/sh", "-c", "kill -TERM $$; sleep 5"], timeout: .seconds(20))
                .generate([])
        }
    }

    @Test func missingProgram() {
        #expect(throws: GeneratorError(.notInstalled, "command not found: no-such-program-xyz")) {
            try ExternalCommandGenerator(command: ["no-such-program-xyz"]).generate([])
        }
    }

    @Test func environmentIsPassed() throws {
        let generator = ExternalCommandGenerator(
            command: ["/bin/sh", "-c", "printf %s \"$CHORUS_TEST\""], environment: ["CHORUS_TEST": "yes"])
        #expect(try generator.generate([]) == bytes("yes"))
    }
}
