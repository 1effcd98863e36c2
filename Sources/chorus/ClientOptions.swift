import ArgumentParser
import ChorusClient
import Foundation

/// Options every client subcommand shares.
struct ClientOptions: ParsableArguments {
    @Option(name: .long, help: "Broker endpoint (default: $CHORUS_ENDPOINT, else tcp://127.0.0.1:7750).")
    var endpoint: String?

    @Option(name: .long, help: "Seconds to wait for the broker to answer before giving up.")
    var timeout: Double = 5

    var resolvedEndpoint: String {
        endpoint ?? ProcessInfo.processInfo.environment["CHORUS_ENDPOINT"] ?? Self.defaultEndpoint
    }

    /// Where a broker listens when its config does not say (brokers/default.toml).
    static let defaultEndpoint = "tcp://127.0.0.1:7750"

    var timeoutMilliseconds: Int { Int(timeout * 1000) }

    func validate() throws { try Self.validate(timeout: timeout) }

    /// The rule for every `--timeout`: Int(timeout * 1000) traps on infinity and NaN; zero or less would give up
    /// before asking.
    static func validate(timeout: Double) throws {
        if !(timeout > 0 && timeout <= 86_400) { throw ValidationError("--timeout must be more than 0 and at most 86400 seconds") }
    }
}

extension ClientOptions {
    /// Connects to the broker, runs `body` and closes the connection. A client error is printed the way people
    /// should read it and becomes its exit status (`fail`); an `ExitCode` that `body` throws passes through.
    func withConnection<T>(_ body: (BrokerConnection) throws -> T) throws -> T {
        do {
            let connection = try BrokerConnection(endpoint: resolvedEndpoint)
            defer { connection.close() }
            return try body(connection)
        } catch let e as ExitCode {
            throw e
        } catch {
            throw fail(error)
        }
    }
}
