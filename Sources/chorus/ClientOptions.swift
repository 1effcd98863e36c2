import ArgumentParser
import Foundation

/// Options every client subcommand shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Broker endpoint (default: $CHORUS_ENDPOINT, else tcp://127.0.0.1:7750).")
    var endpoint: String?

    @Option(name: .long, help: "Seconds to wait for the broker to answer before giving up.")
    var timeout: Double = 5

    var resolvedEndpoint: String {
        endpoint ?? ProcessInfo.processInfo.environment["CHORUS_ENDPOINT"] ?? "tcp://127.0.0.1:7750"
    }

    var timeoutMilliseconds: Int { Int(timeout * 1000) }
}
