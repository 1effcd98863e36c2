@testable import ChorusBroker
import ChorusProtocol
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

/// Polls `condition` until it holds or `timeout` seconds pass; returns whether it held (the integration
/// harness's `waitUntil`, for this target).
@discardableResult
func waitUntil(_ timeout: Double, pollMilliseconds: UInt32 = 1, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(pollMilliseconds * 1000)
    }
    return try condition()
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

/// `body` with a test broker (`makeTestBroker`), whose commit thread is stopped and data removed afterwards.
/// (A closure, not an object that cleans up in `deinit`: Swift may end an object's life before a test's last line.)
func withTestBroker(_ toml: String = "", _ body: (Broker, String) throws -> Void) throws {
    let (broker, directory) = try makeTestBroker(toml)
    defer {
        broker.commits.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
    try body(broker, directory)
}

/// The messages for `client` still in the outbox (not yet sent), decoded.
func replies(_ broker: Broker, to client: [UInt8]) throws -> [BrokerMessage] {
    try broker.outbox.messages.filter { $0[0] == client }.map { try BrokerMessage.decode(Array($0.dropFirst())) }
}

/// The log's write lock, taken by another connection (BEGIN IMMEDIATE) until `release`: a commit handed to the
/// commit thread meanwhile waits on SQLite's busy handler, so it really stays in flight and nothing it writes can
/// be read from the log. Released when dropped, too, should the test end early.
final class LogWriteLock {
    private let db: SQLiteDatabase
    private var held = true

    init(_ broker: Broker) throws {
        db = try SQLiteDatabase(path: broker.config.logPath)
        try db.execute("BEGIN IMMEDIATE")
    }

    func release() throws {
        guard held else { return }
        held = false
        try db.execute("COMMIT")
    }

    deinit { try? release() }
}

extension Broker {
    /// Handles `command` as if `client` had sent it.
    func handle(from client: [UInt8], _ command: ClientCommand) {
        handle([client] + command.encode())
    }
}
