import ArgumentParser

/// The one `chorus` executable: each subcommand parses its arguments, loads config, and calls a library.
@main
struct Chorus: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chorus",
        abstract: "An event broker for multi-agent generative-AI systems, on ZeroMQ with a durable SQLite log.",
        discussion: """
            Start a broker with 'chorus broker', publish with 'chorus publish', consume with 'chorus subscribe'.
            Clients find the broker with --endpoint or the CHORUS_ENDPOINT environment variable
            (default tcp://127.0.0.1:7750). Exit codes: 0 ok, 64 usage, 65 refused by the broker,
            69 broker unavailable, 74 I/O error, 75 broker storage failure, 78 configuration error.
            """,
        subcommands: [BrokerCommand.self, PublishCommand.self, SubscribeCommand.self, BenchCommand.self]
    )
}
