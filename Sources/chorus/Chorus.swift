import ArgumentParser

/// The one `chorus` executable: each subcommand parses its arguments, loads config, and calls a library.
@main
struct Chorus: ParsableCommand {
    /// `--wait 90` (an optional value, which the argument parser does not model) becomes `--wait --wait-seconds 90`.
    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        if let i = arguments.firstIndex(of: "--wait"), i + 1 < arguments.count, Double(arguments[i + 1]) != nil {
            arguments.insert("--wait-seconds", at: i + 1)
        }
        main(arguments)
    }

    static let configuration = CommandConfiguration(
        commandName: "chorus",
        abstract: "An event broker for multi-agent generative-AI systems, on ZeroMQ with a durable SQLite log.",
        discussion: """
            Bring everything up with 'chorus up'; send a request with 'chorus request'; watch with 'chorus tail'. \
            Start a broker alone with 'chorus broker', publish with 'chorus publish', consume with 'chorus subscribe'. \
            Clients find the broker with --endpoint or the CHORUS_ENDPOINT environment variable \
            (default tcp://127.0.0.1:7750).

            Exit codes: 0 ok, 64 usage, 65 refused by the broker (or not a Chorus log), 66 no log file, \
            69 broker unavailable, 70 no reply in time, 74 I/O error, 75 broker storage failure, 78 configuration error.
            """,
        subcommands: [
            BrokerCommand.self, UpCommand.self, AgentCommand.self, PublishCommand.self, SubscribeCommand.self, RequestCommand.self,
            TailCommand.self, InspectCommand.self, StatsCommand.self, DLQCommand.self, LogCommand.self, BlobCommand.self, BenchCommand.self,
        ]
    )
}
