import ArgumentParser
import ChorusAgent
import ChorusConfig
import Foundation
import Logging
import ZeroMQ

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run one agent from its manifest (agents/NAME.toml).",
        discussion: """
            The agent joins its group with credit equal to its concurrency, runs its generator for each request, \
            publishes the result (correlation and causation set; binary artifacts above the inline limit go to \
            the broker's blob store), and acks once the result is confirmed. It heartbeats, extends leases of \
            long jobs, reconnects with backoff when the broker restarts, and on SIGTERM/SIGINT drains: it takes \
            no new work, finishes what it holds (up to agent.drain_timeout), and exits 0.

            Exit codes: 0 after a clean stop, 65 refused by the broker, 78 manifest error.
            """
    )

    @Argument(help: "The agent manifest (TOML).")
    var manifest: String

    @Option(name: .long, help: "Broker endpoint (default: agent.endpoint, then $CHORUS_ENDPOINT, then tcp://127.0.0.1:7750).")
    var endpoint: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() throws {
        Signals.unblockTermination()
        let m: AgentManifest
        do {
            m = try AgentManifest.load(path: manifest)
        } catch {
            printError("chorus agent: \(error)")
            throw ChorusExit.configError
        }
        var logger = Logger(label: "chorus.agent.\(m.name)") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let handler: AgentHandler
        do {
            handler = try GeneratorHandler.make(m.generator, logger: logger)
        } catch {
            printError("chorus agent: \(manifest): \(error)")
            throw ChorusExit.configError
        }
        let ep = endpoint ?? m.endpoint ?? ProcessInfo.processInfo.environment["CHORUS_ENDPOINT"] ?? ClientOptions.defaultEndpoint
        let stop = WakePipe()
        Signals.forward([SIGINT, SIGTERM]) { stop.wake() }
        let runtime = AgentRuntime(manifest: m, endpoint: ep, logger: logger, handler: handler)
        do {
            try runtime.run(stop: stop)
        } catch {
            throw fail(error)
        }
    }
}
