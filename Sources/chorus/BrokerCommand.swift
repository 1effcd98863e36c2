import ArgumentParser
import ChorusBroker
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus

struct BrokerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a broker.",
        discussion: """
            Loads the config (brokers/default.toml when present, else built-in defaults), opens the SQLite log in \
            the data directory, binds the main ROUTER endpoint and the XPUB firehose, and serves until SIGINT or \
            SIGTERM. Flags override the config so several brokers can run side by side.

            Exit codes: 0 after a clean stop, 75 if the log cannot be written, 78 for a configuration error.
            """
    )

    @Option(name: .long, help: "Config file (TOML). Default: brokers/default.toml if it exists.")
    var config: String?

    @Option(name: .long, help: "Main endpoint to bind, e.g. tcp://127.0.0.1:7750 (overrides broker.endpoint).")
    var endpoint: String?

    @Option(name: .long, help: "Firehose (XPUB) endpoint to bind (overrides broker.firehose).")
    var firehose: String?

    @Option(name: .long, help: "Data directory holding chorus.sqlite (overrides broker.data_dir).")
    var dataDir: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (overrides broker.log_level).")
    var logLevel: String?

    @Flag(name: .long, help: "Check the config file and exit: 0 when valid, 78 with the file and key when not.")
    var check = false

    @Option(name: .long, help: "Write the bound endpoints to this file once listening (for scripts and tests).")
    var readyFile: String?

    func run() throws {
        Signals.unblockTermination()
        var cfg: BrokerConfig
        let path = config ?? (FileManager.default.fileExists(atPath: "brokers/default.toml") ? "brokers/default.toml" : nil)
        do {
            cfg = try path.map { try BrokerConfig.load(path: $0) } ?? BrokerConfig()
        } catch {
            printError("chorus broker: \(error)")
            throw ChorusExit.configError
        }
        if check {
            print("\(path ?? "(defaults)"): ok")
            return
        }
        if let endpoint { cfg.endpoint = endpoint }
        if let firehose { cfg.firehoseEndpoint = firehose }
        if let dataDir { cfg.dataDirectory = dataDir }
        if let logLevel { cfg.logLevel = logLevel }
        guard let level = Logger.Level(rawValue: cfg.logLevel) else {
            printError("chorus broker: --log-level: expected trace, debug, info, notice, warning, error or critical")
            throw ChorusExit.configError
        }
        var logger = Logger(label: "chorus.broker") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level

        let broker: Broker
        do {
            // Metrics go to a Prometheus registry that the broker renders on GET /metrics (metrics.address).
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            // Sub-millisecond buckets: a broker hop is measured in microseconds, a join in seconds.
            let buckets: [Double] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
            factory.defaultDurationHistogramBuckets = buckets.map { .nanoseconds(Int64($0 * 1e9)) }
            MetricsSystem.bootstrap(factory)
            broker = try Broker(config: cfg, logger: logger) {
                var buffer: [UInt8] = []
                registry.emit(into: &buffer)
                return String(decoding: buffer, as: UTF8.self)
            }
        } catch {
            printError("chorus broker: cannot start: \(error)")
            throw ChorusExit.configError
        }
        let stop = StopSignal()
        Signals.forward([SIGINT, SIGTERM], to: stop)
        if let readyFile {
            try ReadyFile(endpoint: broker.boundEndpoint, firehose: broker.boundFirehose, metrics: broker.boundMetrics ?? "", log: cfg.logPath)
                .write(to: readyFile)
        }
        do {
            try broker.run(stop: stop)
        } catch {
            printError("chorus broker: stopped: \(error)")
            throw ChorusExit.storageFailed
        }
    }
}
