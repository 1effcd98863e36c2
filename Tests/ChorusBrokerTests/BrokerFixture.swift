@testable import ChorusBroker
import Foundation
import Logging

/// A broker for tests that drive it by hand (`handle`, `fireTimers`, `now`): ephemeral ports, a fresh data
/// directory (returned, for the test to remove), `toml` as its config, and the clock set to now.
func makeTestBroker(_ toml: String = "", ackTimeoutMilliseconds: Int64? = nil) throws -> (Broker, String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-broker-test-\(UUID().uuidString)").path
    var config = try BrokerConfig.parse(text: toml, file: "test.toml")
    config.dataDirectory = directory
    config.endpoint = "tcp://127.0.0.1:*"
    config.firehoseEndpoint = "tcp://127.0.0.1:*"
    if let ackTimeoutMilliseconds { config.ackTimeoutMilliseconds = ackTimeoutMilliseconds }
    let broker = try Broker(config: config, logger: Logger(label: "test"))
    broker.now = Int64(Date().timeIntervalSince1970 * 1000)
    return (broker, directory)
}
