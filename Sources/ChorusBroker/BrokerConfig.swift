import ChorusConfig
import ChorusStore

/// Everything a broker is configured with. docs/CONFIGURATION.md documents each key; brokers/reference.toml
/// shows every key, with its default where it has one.
public struct BrokerConfig: Sendable {
    /// Per-group delivery settings, from `[groups.NAME]`, overriding `[delivery]`.
    public struct GroupSettings: Sendable, Equatable {
        public var maxAttempts: Int?
        public var ackTimeoutMilliseconds: Int64?
    }

    // [broker]
    public var name = "chorus"
    public var endpoint = "tcp://127.0.0.1:7750"
    public var firehoseEndpoint = "tcp://127.0.0.1:7751"
    public var dataDirectory = "data"
    public var logLevel = "info"
    // [storage]
    public var durability: Durability = .normal
    public var maxPayloadBytes = 1_048_576
    public var idempotencyWindowMilliseconds: Int64 = 24 * 3_600_000
    // [delivery]
    public var heartbeatMilliseconds: Int64 = 1000
    public var heartbeatMisses = 3
    public var ackTimeoutMilliseconds: Int64 = 30 * 60_000
    public var maxAttempts = 5
    public var maxPendingPerGroup = 10_000
    public var defaultCredit = 1
    /// Most payload bytes in flight to one member of a group, whatever its credit (one larger event still goes).
    public var maxInFlightBytes = 64 * 1_048_576
    // [limits]
    public var maxSessions = 10_000
    public var maxSubscriptionsPerSession = 64
    public var maxGroups = 1000
    public var batchSize = 2048
    /// The largest frame the broker reads (libzmq's ZMQ_MAXMSGSIZE, per frame): above it libzmq drops the
    /// connection, so a hostile client cannot make the broker allocate gigabytes. WELCOME says it (`max-frame`),
    /// so a client can keep a packed PUBLISHMANY below it.
    public var maxFrameBytes: Int { max(maxPayloadBytes * 2, maxBlobBytes) + 1_048_576 }
    public var recentEvents = 16_384
    public var recentBytes = 64 * 1_048_576
    public var firehoseHighWaterMark = 100_000
    /// Messages libzmq may hold from one client connection for the broker to read (ZMQ_RCVHWM); past it, libzmq
    /// stops reading that connection and TCP pushes back on the client. With large events it bounds what one
    /// client can park in the broker's memory: this many of its messages.
    public var connectionQueue = 1000
    // [groups.NAME]
    public var groups: [String: GroupSettings] = [:]
    // [joins.NAME]
    public var joins: [JoinDefinition] = []
    /// Largest artifact PUTBLOB accepts, in bytes.
    public var maxBlobBytes = 64 * 1_048_576
    /// Most AWAIT requests waiting at once.
    public var maxWaiters = 10_000
    /// Bytes of `GETBLOB` replies one client may have waiting in the broker, not yet written to its connection;
    /// one reply is always allowed when none waits (`limits.max_blob_reply_bytes`).
    public var maxBlobReplyBytes = 128 * 1_048_576
    // [retention]
    public var retentionMaxAgeMilliseconds: Int64?
    public var retentionMaxEvents: Int?
    public var retentionIntervalMilliseconds: Int64 = 60_000
    var retentionConfigured: Bool { retentionMaxAgeMilliseconds != nil || retentionMaxEvents != nil }
    // [metrics]
    /// Where the Prometheus text endpoint listens (e.g. `127.0.0.1:9750`); nil: no endpoint.
    public var metricsAddress: String?

    public init() {}

    /// The log file inside the data directory.
    public var logPath: String { dataDirectory + "/chorus.sqlite" }

    /// Loads a config file, filling unset keys with defaults.
    public static func load(path: String) throws(ConfigError) -> BrokerConfig {
        try parse(ConfigReader(path: path))
    }

    /// Parses TOML text (tests, `--check`).
    public static func parse(text: String, file: String) throws(ConfigError) -> BrokerConfig {
        try parse(ConfigReader(text: text, file: file))
    }

    static func parse(_ r: ConfigReader) throws(ConfigError) -> BrokerConfig {
        var c = BrokerConfig()
        c.name = try r.string("broker.name") ?? c.name
        c.endpoint = try r.string("broker.endpoint") ?? c.endpoint
        c.firehoseEndpoint = try r.string("broker.firehose") ?? c.firehoseEndpoint
        c.dataDirectory = try r.string("broker.data_dir") ?? c.dataDirectory
        c.logLevel = try r.choice("broker.log_level", ["trace", "debug", "info", "notice", "warning", "error", "critical"]) ?? c.logLevel
        if let d = try r.choice("storage.durability", ["normal", "full"]) { c.durability = Durability(rawValue: d)! }
        c.maxPayloadBytes = try r.int("storage.max_payload", range: 1...(64 * 1_048_576)) ?? c.maxPayloadBytes
        c.idempotencyWindowMilliseconds = try r.milliseconds("storage.idempotency_window") ?? c.idempotencyWindowMilliseconds
        c.maxBlobBytes = try r.int("storage.max_blob", range: 1...(1024 * 1_048_576)) ?? c.maxBlobBytes
        c.maxWaiters = try r.int("limits.max_waiters", range: 1...1_000_000) ?? c.maxWaiters
        c.maxBlobReplyBytes = try r.int("limits.max_blob_reply_bytes", range: 1...(16 * 1024 * 1_048_576)) ?? c.maxBlobReplyBytes
        c.retentionMaxAgeMilliseconds = try r.milliseconds("retention.max_age")
        c.retentionMaxEvents = try r.int("retention.max_events", range: 1...Int.max)
        c.retentionIntervalMilliseconds = try r.milliseconds("retention.interval") ?? c.retentionIntervalMilliseconds
        c.metricsAddress = try r.string("metrics.address")
        for name in try r.tableKeys("joins").sorted() {
            c.joins.append(try JoinDefinition.parse(r, name: name))
        }
        c.heartbeatMilliseconds = try r.milliseconds("delivery.heartbeat") ?? c.heartbeatMilliseconds
        c.heartbeatMisses = try r.int("delivery.heartbeat_misses", range: 1...100) ?? c.heartbeatMisses
        c.ackTimeoutMilliseconds = try r.milliseconds("delivery.ack_timeout") ?? c.ackTimeoutMilliseconds
        c.maxAttempts = try r.int("delivery.max_attempts", range: 1...1000) ?? c.maxAttempts
        c.maxPendingPerGroup = try r.int("delivery.max_pending", range: 1...10_000_000) ?? c.maxPendingPerGroup
        c.defaultCredit = try r.int("delivery.default_credit", range: 1...100_000) ?? c.defaultCredit
        c.maxInFlightBytes = try r.int("delivery.max_in_flight_bytes", range: 1...(64 * 1024 * 1_048_576)) ?? c.maxInFlightBytes
        c.maxSessions = try r.int("limits.max_sessions", range: 1...1_000_000) ?? c.maxSessions
        c.maxSubscriptionsPerSession = try r.int("limits.max_subscriptions_per_session", range: 1...10_000) ?? c.maxSubscriptionsPerSession
        c.maxGroups = try r.int("limits.max_groups", range: 1...100_000) ?? c.maxGroups
        c.batchSize = try r.int("limits.batch", range: 1...100_000) ?? c.batchSize
        c.recentEvents = try r.int("limits.recent_events", range: 0...10_000_000) ?? c.recentEvents
        c.recentBytes = try r.int("limits.recent_bytes", range: 0...(4096 * 1_048_576)) ?? c.recentBytes
        c.firehoseHighWaterMark = try r.int("limits.firehose_hwm", range: 1...10_000_000) ?? c.firehoseHighWaterMark
        c.connectionQueue = try r.int("limits.connection_queue", range: 1...100_000) ?? c.connectionQueue
        for name in try r.tableKeys("groups") {
            var g = GroupSettings()
            g.maxAttempts = try r.int("groups.\(name).max_attempts", range: 1...1000)
            g.ackTimeoutMilliseconds = try r.milliseconds("groups.\(name).ack_timeout")
            c.groups[name] = g
        }
        let maxLease: Int64 = 30 * 86_400_000
        if c.ackTimeoutMilliseconds < 1 || c.ackTimeoutMilliseconds > maxLease {
            throw ConfigError(file: r.file, key: "delivery.ack_timeout", message: "expected a duration from 1ms to 30d")
        }
        for (name, g) in c.groups {
            if let t = g.ackTimeoutMilliseconds, t < 1 || t > maxLease {
                throw ConfigError(file: r.file, key: "groups.\(name).ack_timeout", message: "expected a duration from 1ms to 30d")
            }
        }
        if c.heartbeatMilliseconds < 10 {
            throw ConfigError(file: r.file, key: "delivery.heartbeat", message: "expected at least 10ms")
        }
        try r.rejectUnknownKeys()
        return c
    }
}
