import ChorusConfig
import ChorusProtocol
import Foundation

/// An agent's manifest (`agents/NAME.toml`): what it subscribes to, how much it takes at once, what it runs.
/// docs/AGENTS.md documents every key.
public struct AgentManifest: Sendable, Equatable {
    /// Which generator an agent runs, and its settings (`[generator]`).
    public struct Generator: Sendable, Equatable {
        public enum Kind: String, Sendable, CaseIterable {
            case builtinText = "builtin-text"
            case builtinImage = "builtin-image"
            case builtinSpeech = "builtin-speech"
            case command
            case openaiChat = "openai-chat"
            case openaiImage = "openai-image"
            case openaiSpeech = "openai-speech"
        }

        public var kind: Kind
        public var command: [String] = []
        public var contentType: String?
        public var url: String?
        public var model: String?
        public var voice: String?
        public var speed: Int?
        public var width = 512
        public var height = 512
        public var maxTokens = 256
        public var timeoutMilliseconds: Int64 = 120_000
        /// The environment variable holding the API key for a hosted OpenAI-compatible service.
        public var apiKeyEnvironment: String?
    }

    public var name: String
    public var group: String
    public var topics: [String]
    public var concurrency: Int
    public var resultTopic: String
    public var endpoint: String?
    public var start: String
    public var drainTimeoutMilliseconds: Int64
    public var maxAttempts: Int?
    public var ackTimeoutMilliseconds: Int64?
    /// Artifacts larger than this go to the broker's blob store; the result event carries the reference.
    public var inlineLimit: Int
    public var generator: Generator

    public static func load(path: String) throws(ConfigError) -> AgentManifest {
        try parse(ConfigReader(path: path))
    }

    public static func parse(text: String, file: String) throws(ConfigError) -> AgentManifest {
        try parse(ConfigReader(text: text, file: file))
    }

    static func parse(_ r: ConfigReader) throws(ConfigError) -> AgentManifest {
        func required(_ key: String) throws(ConfigError) -> String {
            guard let v = try r.string(key) else { throw ConfigError(file: r.file, key: key, message: "required") }
            return v
        }
        let kindText = try r.choice("generator.kind", Generator.Kind.allCases.map(\.rawValue))
        guard let kindText, let kind = Generator.Kind(rawValue: kindText) else {
            throw ConfigError(file: r.file, key: "generator.kind", message: "required: one of \(Generator.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var g = Generator(kind: kind)
        g.command = try r.stringArray("generator.command") ?? []
        g.contentType = try r.string("generator.content_type")
        g.url = try r.string("generator.url")
        g.model = try r.string("generator.model")
        g.voice = try r.string("generator.voice")
        g.speed = try r.int("generator.speed", range: 20...500)
        g.width = try r.int("generator.width", range: 16...4096) ?? g.width
        g.height = try r.int("generator.height", range: 16...4096) ?? g.height
        g.maxTokens = try r.int("generator.max_tokens", range: 1...32768) ?? g.maxTokens
        g.timeoutMilliseconds = try r.milliseconds("generator.timeout") ?? g.timeoutMilliseconds
        g.apiKeyEnvironment = try r.string("generator.api_key_env")
        if kind == .command && g.command.isEmpty {
            throw ConfigError(file: r.file, key: "generator.command", message: "a command generator needs the command as an array of arguments")
        }
        if [.openaiChat, .openaiImage, .openaiSpeech].contains(kind) && g.url == nil {
            throw ConfigError(file: r.file, key: "generator.url", message: "an OpenAI-compatible generator needs the server's base URL")
        }
        let manifest = AgentManifest(
            name: try required("agent.name"), group: try required("agent.group"),
            topics: try r.stringArray("agent.topics") ?? [],
            concurrency: try r.int("agent.concurrency", range: 1...1024) ?? 1,
            resultTopic: try required("agent.result_topic"), endpoint: try r.string("agent.endpoint"),
            start: try r.string("agent.start") ?? "new",
            drainTimeoutMilliseconds: try r.milliseconds("agent.drain_timeout") ?? 30_000,
            maxAttempts: try r.int("agent.max_attempts", range: 1...1000), ackTimeoutMilliseconds: try r.milliseconds("agent.ack_timeout"),
            inlineLimit: try r.int("agent.inline_limit", range: 0...(64 * 1_048_576)) ?? 65_536, generator: g)
        if (try? StartPosition(manifest.start)) == nil {
            throw ConfigError(file: r.file, key: "agent.start", message: "expected new, first or seq:N, got \"\(manifest.start)\"")
        }
        if manifest.topics.isEmpty {
            throw ConfigError(file: r.file, key: "agent.topics", message: "at least one topic pattern to subscribe to")
        }
        try r.rejectUnknownKeys()
        return manifest
    }
}
