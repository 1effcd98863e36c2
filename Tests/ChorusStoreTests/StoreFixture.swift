import ChorusProtocol
import ChorusStore
import Foundation
import Logging

/// A fresh directory under the system temporary directory, removed when the fixture goes away.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-store-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// The integer `sql` selects from the log here (`chorus.sqlite`), read through a connection of its own; -1
    /// when it selects nothing.
    func scalar(_ sql: String) throws -> Int64 {
        try SQLiteDatabase(path: path("chorus.sqlite"), readOnly: true).scalar(sql) ?? -1
    }
}

/// Polls `condition` until it holds or `timeout` seconds pass; returns whether it held. Never a bare sleep.
@discardableResult
func waitUntil(_ timeout: Double, pollMilliseconds: UInt32 = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        Thread.sleep(forTimeInterval: Double(pollMilliseconds) / 1000)
    }
    return try condition()
}

func openStore(_ path: String, durability: Durability = .normal) throws -> SQLiteEventStore {
    try SQLiteEventStore(path: path, durability: durability, logger: Logger(label: "chorus.tests.store"))
}

/// A minimal event with a given sequence number.
func event(_ seq: UInt64, topic: String = "jobs.text", payload: String = "p") -> Event {
    Event(seq: seq, id: "e\(seq)", topic: topic, time: 1_700_000_000_000 + Int64(seq), payload: Array(payload.utf8))
}

func batch(events: [Event] = [], _ build: (inout WriteBatch) -> Void = { _ in }) -> WriteBatch {
    var b = WriteBatch()
    b.events = events.map { LogEntry($0) }
    build(&b)
    return b
}

func group(_ id: Int64, _ name: String, cursor: UInt64 = 1) -> GroupRecord {
    GroupRecord(
        id: id, name: name, patterns: "jobs.*\naudit.>", cursor: cursor, created: 1_700_000_000_000, maxAttempts: 5,
        ackTimeoutMilliseconds: 30_000)
}
