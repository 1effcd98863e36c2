import ChorusConfig
@testable import ChorusBroker
import ChorusStore
import Testing

@Suite("BrokerConfig: every key")
struct BrokerConfigKeysTests {
    static let everyKey = """
        [broker]
        name = "b1"
        endpoint = "tcp://0.0.0.0:9000"
        firehose = "ipc:///tmp/firehose"
        data_dir = "/srv/chorus"
        log_level = "debug"

        [storage]
        durability = "full"
        max_payload = 2048
        idempotency_window = "2h"

        [delivery]
        heartbeat = "250ms"
        heartbeat_misses = 7
        ack_timeout = "5m"
        max_attempts = 11
        max_pending = 123
        default_credit = 4
        max_in_flight_bytes = 5000

        [limits]
        max_sessions = 50
        max_subscriptions_per_session = 6
        max_groups = 70
        batch = 80
        recent_events = 0
        recent_bytes = 1024
        firehose_hwm = 99
        connection_queue = 42

        [groups.billing]
        max_attempts = 2
        ack_timeout = "30s"

        [groups.audit]
        ack_timeout = 1500

        [groups.plain]
        """

    @Test func everyKeyIsRead() throws {
        let c = try BrokerConfig.parse(text: Self.everyKey, file: "full.toml")
        #expect(c.name == "b1")
        #expect(c.endpoint == "tcp://0.0.0.0:9000")
        #expect(c.firehoseEndpoint == "ipc:///tmp/firehose")
        #expect(c.dataDirectory == "/srv/chorus")
        #expect(c.logLevel == "debug")
        #expect(c.durability == .full)
        #expect(c.maxPayloadBytes == 2048)
        #expect(c.idempotencyWindowMilliseconds == 7_200_000)
        #expect(c.heartbeatMilliseconds == 250)
        #expect(c.heartbeatMisses == 7)
        #expect(c.ackTimeoutMilliseconds == 300_000)
        #expect(c.maxAttempts == 11)
        #expect(c.maxPendingPerGroup == 123)
        #expect(c.defaultCredit == 4)
        #expect(c.maxInFlightBytes == 5000)
        #expect(c.maxSessions == 50)
        #expect(c.maxSubscriptionsPerSession == 6)
        #expect(c.maxGroups == 70)
        #expect(c.batchSize == 80)
        #expect(c.recentEvents == 0)
        #expect(c.recentBytes == 1024)
        #expect(c.firehoseHighWaterMark == 99)
        #expect(c.connectionQueue == 42)
        #expect(c.groups.count == 3)
        #expect(c.groups["billing"] == BrokerConfig.GroupSettings(maxAttempts: 2, ackTimeoutMilliseconds: 30_000))
        #expect(c.groups["audit"] == BrokerConfig.GroupSettings(maxAttempts: nil, ackTimeoutMilliseconds: 1500))
        #expect(c.groups["plain"] == BrokerConfig.GroupSettings(maxAttempts: nil, ackTimeoutMilliseconds: nil))
    }

    @Test(arguments: [
        ("0", Int64(0)), ("1500", 1500), ("\"0ms\"", 0), ("\"750ms\"", 750), ("\"30s\"", 30_000), ("\"5m\"", 300_000),
        ("\"2h\"", 7_200_000), ("\"1d\"", 86_400_000),
    ])
    func durationsAcceptMillisecondsAndUnits(_ value: String, _ expected: Int64) throws {
        let c = try BrokerConfig.parse(text: "[storage]\nidempotency_window = \(value)\n", file: "c.toml")
        #expect(c.idempotencyWindowMilliseconds == expected)
    }

    @Test(arguments: ["0", "\"31d\""])
    func ackTimeoutOutsideOneMillisecondToThirtyDaysIsRefused(_ value: String) {
        #expect(throws: ConfigError.self) {
            try BrokerConfig.parse(text: "[delivery]\nack_timeout = \(value)\n", file: "c.toml")
        }
    }

    @Test(arguments: ["trace", "debug", "info", "notice", "warning", "error", "critical"])
    func everyLogLevel(_ level: String) throws {
        #expect(try BrokerConfig.parse(text: "[broker]\nlog_level = \"\(level)\"\n", file: "c.toml").logLevel == level)
    }

    @Test(arguments: Durability.allCases)
    func everyDurability(_ d: Durability) throws {
        #expect(try BrokerConfig.parse(text: "[storage]\ndurability = \"\(d.rawValue)\"\n", file: "c.toml").durability == d)
    }

    @Test func rangeBoundsAreInclusive() throws {
        let low = try BrokerConfig.parse(
            text: "[delivery]\nheartbeat_misses = 1\nmax_attempts = 1\nheartbeat = 10\n[limits]\nrecent_bytes = 0\n", file: "c.toml")
        #expect(low.heartbeatMisses == 1)
        #expect(low.maxAttempts == 1)
        #expect(low.heartbeatMilliseconds == 10)
        let high = try BrokerConfig.parse(text: "[delivery]\nheartbeat_misses = 100\nmax_attempts = 1000\n", file: "c.toml")
        #expect(high.heartbeatMisses == 100)
        #expect(high.maxAttempts == 1000)
    }

    @Test func inlineTableAndDottedKeysWork() throws {
        let c = try BrokerConfig.parse(text: "broker.name = \"dotted\"\ngroups = { g = { max_attempts = 3 } }\n", file: "c.toml")
        #expect(c.name == "dotted")
        #expect(c.groups["g"]?.maxAttempts == 3)
    }
}
