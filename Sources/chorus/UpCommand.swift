import ArgumentParser
import ChorusConfig
import Foundation

#if canImport(Glibc)
import Glibc
#endif

struct UpCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run the broker and every agent in a folder as supervised child processes.",
        discussion: """
            Starts 'chorus broker' with the config, waits until it listens, then runs 'chorus agent' for each
            *.toml in the agents folder (a manifest with a [process] section runs its own command instead, with
            CHORUS_ENDPOINT set: an agent in another language, or a model server). A child that dies is restarted with backoff (1 s doubling to 32 s; reset
            after a minute of good health). Ctrl-C (or SIGTERM) stops the agents first — they drain — then the
            broker, and exits 0. Child output goes to this terminal, each line as its process writes it.
            """
    )

    @Option(name: .long, help: "Broker config.") var config = "brokers/default.toml"
    @Option(name: .long, help: "Folder of agent manifests (*.toml).") var agents = "agents"
    @Option(name: .long, help: "Override the broker's main endpoint.") var endpoint: String?
    @Option(name: .long, help: "Override the broker's data directory.") var dataDir: String?
    @Option(name: .long, help: "Write the broker's endpoints here once up (for scripts and tests).") var readyFile: String?

    final class Child {
        let name: String
        let arguments: [String]
        /// The program to run; nil runs this executable (`chorus broker`, `chorus agent`).
        let program: String?
        var process: Process?
        var backoff: Double = 1
        var restartAt: Date?
        var startedAt = Date()

        init(name: String, arguments: [String], program: String? = nil) {
            self.name = name
            self.arguments = arguments
            self.program = program
        }
    }

    func run() throws {
        Signals.unblockTermination()
        let stop = StopFlag()
        Signals.forward([SIGINT, SIGTERM]) { stop.set() }
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let ready = readyFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("chorus-up-\(getpid())").path
        try? FileManager.default.removeItem(atPath: ready)
        var brokerArgs = ["broker", "--config", config, "--ready-file", ready]
        if let endpoint { brokerArgs += ["--endpoint", endpoint] }
        if let dataDir { brokerArgs += ["--data-dir", dataDir] }
        let broker = Child(name: "broker", arguments: brokerArgs)
        try start(broker, executable: me)
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: ready) {
            guard Date() < deadline, broker.process?.isRunning == true, !stop.isSet else {
                printError("chorus up: the broker did not start (see its messages above)")
                broker.process.map { if $0.isRunning { $0.terminate() } }
                throw ChorusExit.configError
            }
            usleep(50_000)
        }
        let brokerEndpoint = (try String(contentsOfFile: ready, encoding: .utf8)).split(separator: "\n").first.map(String.init) ?? "tcp://127.0.0.1:7750"
        let manifests = ((try? FileManager.default.contentsOfDirectory(atPath: agents)) ?? []).filter { $0.hasSuffix(".toml") }.sorted()
        var children = [broker]
        // A bad manifest or a program that cannot start stops everything already started, not just `up`.
        func abandon(_ error: any Error) -> Error {
            printError("chorus up: \(error)")
            for child in children.reversed() { child.process.map { if $0.isRunning { kill($0.processIdentifier, SIGTERM); $0.waitUntilExit() } } }
            return ChorusExit.configError
        }
        for m in manifests {
            let path = "\(agents)/\(m)"
            let child: Child
            let processCommand: [String]?
            do { processCommand = try Self.processCommand(path) } catch { throw abandon(error) }
            if let command = processCommand, let program = command.first {
                // A manifest with [process] runs its own program (an agent in another language, a model server),
                // supervised like the rest, with CHORUS_ENDPOINT set.
                child = Child(name: String(m.dropLast(5)), arguments: Array(command.dropFirst()), program: program)
            } else {
                child = Child(name: String(m.dropLast(5)), arguments: ["agent", path, "--endpoint", brokerEndpoint])
            }
            do { try start(child, executable: me, endpoint: brokerEndpoint) } catch { throw abandon(ValidationFailure("\(path): cannot start: \(error)")) }
            children.append(child)
        }
        printError("""
            chorus up: broker at \(brokerEndpoint), agents: \(manifests.map { String($0.dropLast(5)) }.joined(separator: ", "))
            chorus up: try   chorus request gen.request --data '{"prompt":"a lighthouse at dusk"}' --wait --save out
                       and   chorus tail --follow        (Ctrl-C here stops everything)
            """)
        while !stop.isSet {
            for child in children {
                guard let p = child.process else {
                    if let at = child.restartAt, Date() >= at { try start(child, executable: me, endpoint: brokerEndpoint) }
                    continue
                }
                if !p.isRunning {
                    let healthy = Date().timeIntervalSince(child.startedAt) > 60
                    if healthy { child.backoff = 1 }
                    printError("chorus up: \(child.name) exited with status \(p.terminationStatus); restarting in \(Int(child.backoff)) s")
                    child.process = nil
                    child.restartAt = Date().addingTimeInterval(child.backoff)
                    child.backoff = min(child.backoff * 2, 32)
                }
            }
            usleep(100_000)
        }
        printError("chorus up: stopping agents, then the broker")
        for child in children.dropFirst() { child.process.map { if $0.isRunning { kill($0.processIdentifier, SIGTERM) } } }
        for child in children.dropFirst() { child.process?.waitUntilExit() }
        broker.process.map { if $0.isRunning { kill($0.processIdentifier, SIGTERM) } }
        broker.process?.waitUntilExit()
        if readyFile == nil { try? FileManager.default.removeItem(atPath: ready) }
    }

    /// The `[process] command` of a manifest, if it has one.
    static func processCommand(_ path: String) throws -> [String]? {
        let reader = try ConfigReader(path: path)
        return try reader.stringArray("process.command")
    }

    func start(_ child: Child, executable: String, endpoint: String? = nil) throws {
        let p = Process()
        if let program = child.program {
            if program.contains("/") {
                p.executableURL = URL(fileURLWithPath: program.hasPrefix("/") ? program : FileManager.default.currentDirectoryPath + "/" + program)
            } else {
                // A bare name is looked up on PATH, as a shell would.
                p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                p.arguments = [program] + child.arguments
            }
        } else {
            p.executableURL = URL(fileURLWithPath: executable)
        }
        var environment = ProcessInfo.processInfo.environment
        if let endpoint { environment["CHORUS_ENDPOINT"] = endpoint }
        environment["OMP_NUM_THREADS"] = environment["OMP_NUM_THREADS"] ?? "1"
        p.environment = environment
        if p.arguments == nil { p.arguments = child.arguments }
        try p.run()
        child.process = p
        child.startedAt = Date()
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
