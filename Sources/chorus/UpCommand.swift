import ArgumentParser
import ChorusAgent
import ChorusConfig
import ChorusGenerators
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the broker and every agent in a folder as supervised child processes.",
        discussion: """
            Starts 'chorus broker' with the config, waits until it listens, then runs 'chorus agent' for each \
            *.toml in the agents folder (a manifest with a [process] section runs its own command instead, with \
            CHORUS_ENDPOINT set: an agent in another language, or a model server; a bare program name is looked \
            up on PATH first). Child output goes to this terminal, each line as its process writes it.

            A child that ends is restarted after a back-off: 1 s, doubling to 32 s, back to 1 s once a run has \
            lasted a minute. A child that ends (or cannot be launched) within 10 s of starting 5 times in a row \
            is given up on: one line says so, and the other children keep running. If that child is the broker, \
            the agents are stopped and 'chorus up' exits 69. Ctrl-C (or SIGTERM) stops the agents (they drain; \
            what is still running after 45 s is killed) first, then the broker (killed after 30 s), and exits 0; \
            a second Ctrl-C kills every child and exits at once. What a child started (a wrapper's server) is \
            killed with it when it ends: each child runs in a process group of its own.

            Exit codes: 0 after Ctrl-C or SIGTERM; 69 the broker was given up on; 78 the broker did not start, \
            or a manifest cannot be read, or its [process] program is not on PATH or cannot be started; 130 a \
            second Ctrl-C or SIGTERM.
            """
    )

    @Option(name: .long, help: "Broker config.") var config = "brokers/default.toml"
    @Option(name: .long, help: "Folder of agent manifests (*.toml).") var agents = "agents"
    @Option(name: .long, help: "Override the broker's main endpoint.") var endpoint: String?
    @Option(name: .long, help: "Override the broker's firehose (XPUB) endpoint, to run beside another broker.") var firehose: String?
    @Option(name: .long, help: "Override the broker's data directory.") var dataDir: String?
    @Option(name: .long, help: "Write the broker's endpoints here once up (for scripts and tests).") var readyFile: String?

    final class Child {
        let name: String
        var arguments: [String]
        /// The program to run (a path); nil runs this executable (`chorus broker`, `chorus agent`).
        let program: String?
        var process: Process?
        var policy = RestartPolicy()
        var startedAt = 0.0
        var restartAt: Double?
        /// Whether the restart policy gave up on it.
        var givenUp: Bool { policy.givenUp != nil }

        init(name: String, arguments: [String], program: String? = nil) {
            self.name = name
            self.arguments = arguments
            self.program = program
        }
    }

    func run() throws {
        Signals.unblockTermination()
        let stop = StopFlag()
        let groups = ChildGroups()
        // A second Ctrl-C must not leave the broker and agents running without their supervisor: kill them all,
        // as kill -9 would (the broker loses nothing it confirmed), then exit.
        Signals.forward([SIGINT, SIGTERM], again: { groups.killAll() }) { stop.set() }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let ready = readyFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("chorus-up-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ready)
        var brokerArgs = ["broker", "--config", config, "--ready-file", ready]
        if let dataDir { brokerArgs += ["--data-dir", dataDir] }
        let broker = Child(
            name: "broker", arguments: brokerArgs + (endpoint.map { ["--endpoint", $0] } ?? []) + (firehose.map { ["--firehose", $0] } ?? []))
        try start(broker, executable: me, groups: groups)
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready) {
            guard Date() < deadline, broker.process?.isRunning == true, !stop.isSet else {
                printError("chorus up: the broker did not start (see its messages above)")
                broker.process.map { if $0.isRunning { $0.terminate() } }
                throw ChorusExit.configError
            }
            usleep(50_000)
        }
        let bound = try ReadyFile.read(ready)
        let brokerEndpoint = bound.endpoint.isEmpty ? ClientOptions.defaultEndpoint : bound.endpoint
        // A restarted broker must come back where the agents already look for it, even when the config asked
        // for any free port.
        broker.arguments = brokerArgs + ["--endpoint", brokerEndpoint] + (bound.firehose.isEmpty ? [] : ["--firehose", bound.firehose])
        let manifests = ((try? FileManager.default.contentsOfDirectory(atPath: agents)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
        var children = [broker]
        // A bad manifest or a program that cannot start stops everything already started, not just `up`.
        func abandon(_ error: any Error) -> Error {
            printError("chorus up: \(error)")
            // All of them: one that has ended may have left a server behind, which waitOrKill takes.
            let started = children.compactMap(\.process)
            for p in started where p.isRunning { kill(p.processIdentifier, SIGTERM) }
            Self.waitOrKill(started, seconds: Self.agentStopSeconds, groups: groups)
            return ChorusExit.configError
        }
        for m in manifests {
            let path = "\(agents)/\(m)"
            let name = String(m.dropLast(5))
            let child: Child
            let processCommand: [String]?
            do { processCommand = try Self.processCommand(path) } catch { throw abandon(error) }
            if let command = processCommand, let program = command.first {
                // A manifest with [process] runs its own program (an agent in another language, a model server),
                // supervised like the rest, with CHORUS_ENDPOINT set. Looked up now, so that a typo stops
                // `up` with its name instead of exiting 127 at every restart.
                guard let resolved = CommandRunner.resolve(program) else {
                    let searched = ProcessInfo.processInfo.environment["PATH"] ?? CommandRunner.defaultPath
                    throw abandon(ValidationFailure(
                        program.contains("/")
                            ? "\(path): [process] command: '\(program)' is not an executable file"
                            : "\(path): [process] command: program '\(program)' not found on PATH (\(searched))"))
                }
                child = Child(name: name, arguments: Array(command.dropFirst()), program: resolved)
            } else {
                child = Child(name: name, arguments: ["agent", path, "--endpoint", brokerEndpoint])
            }
            do { try start(child, executable: me, endpoint: brokerEndpoint, groups: groups) } catch { throw abandon(ValidationFailure("\(path): cannot start: \(error)")) }
            children.append(child)
        }
        // The commands to try must reach this broker and this log, not the defaults, when up was told otherwise.
        let logPath = bound.log.isEmpty ? LogLocation.defaultPath : bound.log
        let endpointFlag = brokerEndpoint == ClientOptions.defaultEndpoint ? "" : " --endpoint \(brokerEndpoint)"
        let logFlag = logPath == LogLocation.defaultPath ? "" : " --log \(logPath)"
        printError("""
            chorus up: broker at \(brokerEndpoint), agents: \(manifests.map { String($0.dropLast(5)) }.joined(separator: ", "))
            chorus up: try   chorus request gen.request --data '{"prompt":"a lighthouse at dusk"}' --wait --save out\(endpointFlag)
                       and   chorus tail --follow\(logFlag)        (Ctrl-C here stops everything)
            """)

        func ended(_ child: Child, _ event: RestartPolicy.Event) {
            switch child.policy.record(event) {
            case .restart(let delay):
                printError("chorus up: \(child.name) \(event); restarting in \(RestartPolicy.seconds(delay))")
                child.restartAt = Self.now() + delay
            case .giveUp(let reason):
                printError("chorus up: \(child.name) \(reason); not restarting it. Fix it and run chorus up again.")
            }
        }
        while !stop.isSet && !broker.givenUp {
            for child in children where !child.givenUp {
                if let p = child.process {
                    guard ChildGroups.hasEnded(p) else { continue }
                    child.process = nil
                    // What it started may outlive it (a wrapper script's server holding a port): not into the restart.
                    groups.end(p.processIdentifier)
                    let uptime = Self.now() - child.startedAt
                    guard ChildGroups.waitForReaping(p) else {
                        ended(child, .killed(signal: SIGKILL, uptime: uptime))
                        continue
                    }
                    ended(child, p.terminationReason == .uncaughtSignal
                        ? .killed(signal: p.terminationStatus, uptime: uptime) : .exited(status: p.terminationStatus, uptime: uptime))
                } else if let at = child.restartAt, Self.now() >= at {
                    // Whatever stops a restart from launching is one more failed start, never the end of `up`.
                    do { try start(child, executable: me, endpoint: brokerEndpoint, groups: groups) } catch { ended(child, .launchFailed(reason: "\(error)")) }
                }
            }
            usleep(100_000)
        }
        if broker.givenUp {
            // Agents without a broker only retry their connections; stop them rather than leave a system that
            // looks up and does nothing.
            printError("chorus up: without the broker nothing can run; stopping the agents")
        } else {
            printError("chorus up: stopping agents, then the broker")
        }
        for child in children.dropFirst() { child.process.map { if $0.isRunning { kill($0.processIdentifier, SIGTERM) } } }
        Self.waitOrKill(children.dropFirst().compactMap(\.process), seconds: Self.agentStopSeconds, groups: groups)
        broker.process.map { if $0.isRunning { kill($0.processIdentifier, SIGTERM) } }
        Self.waitOrKill(broker.process.map { [$0] } ?? [], seconds: Self.brokerStopSeconds, groups: groups)
        if readyFile == nil { try? FileManager.default.removeItem(atPath: ready) }
        if broker.givenUp { throw ChorusExit.unavailable }
    }

    /// How long agents get to drain after SIGTERM before they are killed: an agent's default drain timeout (30 s)
    /// and room to report. One that hangs (a program of its own that ignores SIGTERM) must not keep `up` alive.
    static let agentStopSeconds: Double = 45
    /// How long the broker gets to finish its last commit and close after SIGTERM.
    static let brokerStopSeconds: Double = 30

    /// Waits for `processes` to exit, up to `seconds`; then kills what is left with SIGKILL, saying so. Either
    /// way, what each of them started and left behind is killed with it (its process group).
    static func waitOrKill(_ processes: [Process], seconds: Double, groups: ChildGroups) {
        let deadline = now() + seconds
        while true {
            // Each group goes as soon as its child has ended, not after the others: its id may be reused later.
            var running = false
            for p in processes {
                if ChildGroups.hasEnded(p) { groups.end(p.processIdentifier) } else { running = true }
            }
            guard running && now() < deadline else { break }
            usleep(50_000)
        }
        for p in processes where !ChildGroups.hasEnded(p) {
            printError("chorus up: process \(p.processIdentifier) did not stop within \(Int(seconds)) s of SIGTERM; killing it")
        }
        // Killing each group kills a child still running with all it started, and whatever an ended child left.
        for p in processes { groups.end(p.processIdentifier) }
        for p in processes { _ = ChildGroups.waitForReaping(p) }
    }

    /// The `[process] command` of a manifest, if it has one.
    static func processCommand(_ path: String) throws -> [String]? {
        let reader = try ConfigReader(path: path)
        return try reader.stringArray("process.command")
    }

    /// Monotonic seconds: uptimes must not jump with the wall clock.
    static func now() -> Double { ProcessInfo.processInfo.systemUptime }


    func start(_ child: Child, executable: String, endpoint: String? = nil, groups: ChildGroups) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: child.program ?? executable)
        p.arguments = child.arguments
        var environment = ProcessInfo.processInfo.environment
        if let endpoint { environment["CHORUS_ENDPOINT"] = endpoint }
        environment["OMP_NUM_THREADS"] = environment["OMP_NUM_THREADS"] ?? "1"
        p.environment = environment
        try p.run()
        groups.add(p.processIdentifier)
        child.process = p
        child.startedAt = Self.now()
        child.restartAt = nil
    }
}

/// Set from the signal thread, read by the supervisor loop.
final class StopFlag: @unchecked Sendable {
    // A single word written once from one thread and polled from another; NSLock keeps it well defined.
    private let lock = NSLock()
    private var value = false
    func set() { lock.lock(); value = true; lock.unlock() }
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
}
