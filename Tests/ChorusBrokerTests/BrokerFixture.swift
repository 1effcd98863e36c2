@testable import ChorusBroker
import ChorusStore
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

/// A read-only connection on which every read fails, for the broker's fallback to the store: a file that passes
/// `LogReader`'s checks (version 1, the four tables it requires) but whose tables have none of the columns any
/// read names, so each query fails to prepare. (Overwriting a real log after opening a reader on it did not
/// fail reliably: SQLite kept answering from pages it had cached, with a log that looked empty.)
func makeFailingLogReader(in directory: String) throws -> LogReader {
    let path = directory + "/failing-\(UUID().uuidString).sqlite"
    do {
        let db = try SQLiteDatabase(path: path)
        try db.execute("CREATE TABLE events(x); CREATE TABLE groups(x); CREATE TABLE pending(x); CREATE TABLE dead_letters(x); PRAGMA user_version = 1")
    }
    return try LogReader(path: path)
}
