import ChorusConfig
@testable import ChorusBroker
import Testing

/// Every config error names the file and the key, so an operator can find the line.
@Suite("BrokerConfig errors")
struct BrokerConfigErrorTests {
    func parseError(_ text: String, file: String = "broker.toml") -> ConfigError? {
        #expect(throws: ConfigError.self) { try BrokerConfig.parse(text: text, file: file) }
    }

    struct Case: Sendable, CustomTestStringConvertible {
        let toml: String
        let key: String
        let says: String
        var testDescription: String { toml.replacingOccurrences(of: "\n", with: " ⏎ ") }
    }

    static let wrongTypes: [Case] = [
        Case(toml: "[broker]\nname = 5", key: "broker.name", says: "expected a string"),
        Case(toml: "[broker]\nendpoint = true", key: "broker.endpoint", says: "expected a string"),
        Case(toml: "[broker]\nlog_level = 3", key: "broker.log_level", says: "expected a string"),
        Case(toml: "[storage]\ndurability = 1", key: "storage.durability", says: "expected a string"),
        Case(toml: "[storage]\nmax_payload = \"1MB\"", key: "storage.max_payload", says: "expected an integer"),
        Case(toml: "[delivery]\nmax_attempts = 2.5", key: "delivery.max_attempts", says: "expected an integer"),
        Case(toml: "[delivery]\nheartbeat_misses = \"3\"", key: "delivery.heartbeat_misses", says: "expected an integer"),
        Case(toml: "[limits]\nbatch = [1]", key: "limits.batch", says: "expected an integer"),
        Case(toml: "[groups.g]\nmax_attempts = \"x\"", key: "groups.g.max_attempts", says: "expected an integer"),
        Case(toml: "groups = 5", key: "groups", says: "expected a table"),
    ]

    @Test(arguments: wrongTypes)
    func wrongTypeNamesFileAndKey(_ c: Case) {
        let error = parseError(c.toml)
        #expect(error?.file == "broker.toml")
        #expect(error?.key == c.key)
        #expect(error?.message.contains(c.says) == true)
        #expect(error?.description.hasPrefix("broker.toml: key '\(c.key)': ") == true)
    }

    static let unknownKeys: [Case] = [
        Case(toml: "[broker]\nnmae = \"x\"", key: "broker.nmae", says: "unknown key"),
        Case(toml: "[delivery]\nmax_attempt = 3", key: "delivery.max_attempt", says: "unknown key"),
        Case(toml: "top = 1", key: "top", says: "unknown key"),
        Case(toml: "[groups.g]\nmax_attempts = 3\nretries = 2", key: "groups.g.retries", says: "unknown key"),
        Case(toml: "[limits]\nmax_groups = 5\n[limits.extra]\na = 1", key: "limits.extra", says: "unknown section"),
    ]

    @Test(arguments: unknownKeys)
    func unknownKeyIsRefused(_ c: Case) {
        let error = parseError(c.toml)
        #expect(error?.file == "broker.toml")
        #expect(error?.key == c.key)
        #expect(error?.message.contains(c.says) == true)
    }

    @Test(arguments: ["[brokr]\nname = \"x\"", "[storag]", "[groups_]\na = 1"])
    func unknownSectionIsRefused(_ toml: String) {
        let error = parseError(toml)
        #expect(error?.file == "broker.toml")
        #expect(error?.message == "unknown section")
        #expect(error?.key.isEmpty == false)
    }

    @Test func unknownSectionNamesTheSection() {
        #expect(parseError("[brokr]\nname = \"x\"")?.key == "brokr")
    }

    @Test(arguments: ["\"5 minutes\"", "\"-1s\"", "-1", "\"1.5s\"", "\"10\"", "\"s\"", "\"5S\"", "1.5", "true", "\"\""])
    func badDurationIsRefused(_ value: String) {
        let error = parseError("[delivery]\nack_timeout = \(value)")
        #expect(error?.key == "delivery.ack_timeout")
        #expect(error?.message.contains("duration") == true)
    }

    @Test func badGroupDurationNamesTheGroupKey() {
        let error = parseError("[groups.billing]\nack_timeout = \"soon\"")
        #expect(error?.key == "groups.billing.ack_timeout")
    }

    static let outOfRange: [Case] = [
        Case(toml: "[storage]\nmax_payload = 0", key: "storage.max_payload", says: "from 1 to 67108864, got 0"),
        Case(toml: "[storage]\nmax_payload = 67108865", key: "storage.max_payload", says: "got 67108865"),
        Case(toml: "[delivery]\nheartbeat_misses = 0", key: "delivery.heartbeat_misses", says: "from 1 to 100, got 0"),
        Case(toml: "[delivery]\nheartbeat_misses = 101", key: "delivery.heartbeat_misses", says: "from 1 to 100, got 101"),
        Case(toml: "[delivery]\nmax_attempts = 0", key: "delivery.max_attempts", says: "from 1 to 1000"),
        Case(toml: "[delivery]\nmax_attempts = 1001", key: "delivery.max_attempts", says: "from 1 to 1000"),
        Case(toml: "[delivery]\nmax_pending = 0", key: "delivery.max_pending", says: "from 1"),
        Case(toml: "[delivery]\ndefault_credit = -1", key: "delivery.default_credit", says: "got -1"),
        Case(toml: "[limits]\nmax_sessions = 0", key: "limits.max_sessions", says: "from 1"),
        Case(toml: "[limits]\nmax_subscriptions_per_session = 10001", key: "limits.max_subscriptions_per_session", says: "to 10000"),
        Case(toml: "[limits]\nmax_groups = 0", key: "limits.max_groups", says: "from 1"),
        Case(toml: "[limits]\nbatch = 100001", key: "limits.batch", says: "to 100000"),
        Case(toml: "[limits]\nrecent_events = -1", key: "limits.recent_events", says: "from 0"),
        Case(toml: "[limits]\nrecent_bytes = -1", key: "limits.recent_bytes", says: "from 0"),
        Case(toml: "[limits]\nfirehose_hwm = 0", key: "limits.firehose_hwm", says: "from 1"),
        Case(toml: "[limits]\nconnection_queue = 0", key: "limits.connection_queue", says: "from 1 to 100000"),
        Case(toml: "[delivery]\nmax_in_flight_bytes = 0", key: "delivery.max_in_flight_bytes", says: "from 1"),
        Case(toml: "[groups.g]\nmax_attempts = 0", key: "groups.g.max_attempts", says: "from 1 to 1000"),
    ]

    @Test(arguments: outOfRange)
    func outOfRangeIntegerIsRefused(_ c: Case) {
        let error = parseError(c.toml)
        #expect(error?.file == "broker.toml")
        #expect(error?.key == c.key)
        #expect(error?.message.contains(c.says) == true)
    }

    @Test func heartbeatBelowTenMillisecondsIsRefused() {
        let error = parseError("[delivery]\nheartbeat = \"9ms\"")
        #expect(error?.key == "delivery.heartbeat")
        #expect(error?.message.contains("at least 10ms") == true)
    }

    @Test(arguments: [
        ("[broker]\nlog_level = \"loud\"", "broker.log_level"), ("[storage]\ndurability = \"paranoid\"", "storage.durability"),
    ])
    func unknownChoiceListsTheChoices(_ toml: String, _ key: String) {
        let error = parseError(toml)
        #expect(error?.key == key)
        #expect(error?.message.contains("expected one of") == true)
    }

    @Test(arguments: ["[broker", "name = ", "[broker]\nname = \"unterminated", "a = 1\na = 2", "[broker]\n[broker]"])
    func invalidTOMLNamesTheFile(_ toml: String) {
        let error = parseError(toml, file: "/etc/chorus/broker.toml")
        #expect(error?.file == "/etc/chorus/broker.toml")
        #expect(error?.key == "")
        #expect(error?.message.contains("not valid TOML") == true)
        #expect(error?.description.hasPrefix("/etc/chorus/broker.toml: not valid TOML") == true)
    }

    @Test func invalidTOMLGivesTheLine() {
        let error = parseError("[broker]\nname = \"ok\"\nendpoint = = 3\n")
        #expect(error?.message.contains("line 3") == true)
    }

    /// A duration too large for Int64 milliseconds must be a config error, not a crash.
    @Test func hugeDurationIsAnErrorNotACrash() async {
        await #expect(processExitsWith: .success) {
            do {
                _ = try BrokerConfig.parse(text: "[delivery]\nack_timeout = \"999999999999999d\"\n", file: "c.toml")
                preconditionFailure("expected a ConfigError")
            } catch let error as ConfigError {
                precondition(error.key == "delivery.ack_timeout", "wrong key \(error.key)")
            } catch {
                preconditionFailure("unexpected \(error)")
            }
        }
    }
}
