@testable import ChorusStore
import ChorusProtocol
import Testing

/// SQLite's memory statistics stay off: with them on, every SQLite allocation takes one process-wide mutex, and
/// the broker thread's reads and the commit thread's writes contended for it (16,000 futex calls a second at
/// 9,000 joins/s; off, joins ran x1.14 faster).
@Suite("SQLite is configured before its first use")
final class SQLiteConfigurationTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }

    @Test func memoryStatisticsAreOff() throws {
        let store = try openStore(dir.path("chorus.sqlite"), durability: .normal)
        var batch = WriteBatch()
        batch.events = (1...100).map { LogEntry(Event(seq: UInt64($0), id: "e-\($0)", topic: "a.b", payload: [UInt8](repeating: 7, count: 300))) }
        try store.commit(batch)
        #expect(try store.readEvents(from: 1, limit: 100).count == 100)
        // SQLite allocated for the connection, its cache and the statements: with statistics on this is far above 0.
        #expect(SQLiteDatabase.memoryInUse == 0)
        #expect(SQLiteDatabase.memoryStatisticsAreOff)
    }
}
