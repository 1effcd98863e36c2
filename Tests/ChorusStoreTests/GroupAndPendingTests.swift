import Foundation
import Logging
import ChorusProtocol
import ChorusStore
import Testing

@Suite("SQLiteEventStore: groups and pending deliveries")
final class GroupAndPendingTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    @Test func noGroups() throws {
        #expect(try store.loadGroups().isEmpty)
        #expect(try store.nextGroupID() == 1)
        #expect(try store.loadPending(groupID: 1).isEmpty)
    }

    @Test func groupsRoundTripInIDOrder() throws {
        let a = group(2, "workers", cursor: 10)
        var b = group(1, "audit", cursor: 0)
        b.maxAttempts = 1
        b.ackTimeoutMilliseconds = 1
        b.patterns = "$dlq.>"
        try store.commit(batch { $0.newGroups = [a, b] })
        #expect(try store.loadGroups() == [b, a])
        #expect(try store.nextGroupID() == 3)
    }

    @Test func cursorsMove() throws {
        try store.commit(batch { $0.newGroups = [group(1, "a"), group(2, "b")] })
        try store.commit(batch { $0.cursors = [1: 42, 2: 7] })
        try store.commit(batch { $0.cursors = [1: 43] })
        let groups = try store.loadGroups()
        #expect(groups.map(\.cursor) == [43, 7])
    }

    @Test func firstDeliveriesInFlightAreKeptPerGroupAndReplacedWhole() throws {
        try store.commit(batch { $0.newGroups = [group(1, "a"), group(2, "b")] })
        try store.commit(batch { $0.firstDeliveriesInFlight = [1: [7, 5, 6, 9], 2: [3]] })
        #expect(try store.loadGroups().map(\.firstDeliveriesInFlight) == [[5, 6, 7, 9], [3]])
        try store.commit(batch { $0.firstDeliveriesInFlight = [1: []] })
        #expect(try store.loadGroups().map(\.firstDeliveriesInFlight) == [[], [3]])
    }

    @Test func aDamagedInFlightListIsAnErrorThatNamesTheGroup() throws {
        try store.commit(batch { $0.newGroups = [group(1, "workers")] })
        try SQLiteDatabase(path: dir.path("chorus.sqlite")).execute("UPDATE groups SET in_flight = '5-x' WHERE id = 1")
        #expect { try store.loadGroups() } throws: { "\($0)".contains("group 'workers'") }
    }

    @Test func cursorOfAnUnknownGroupChangesNothing() throws {
        try store.commit(batch { $0.newGroups = [group(1, "a", cursor: 5)] })
        try store.commit(batch { $0.cursors = [99: 42] })
        #expect(try store.loadGroups().map(\.cursor) == [5])
    }

    @Test func pendingUpsertInsertsThenReplaces() throws {
        try store.commit(batch { $0.newGroups = [group(1, "a")] })
        let first = PendingRecord(groupID: 1, seq: 5, attempt: 1, token: 0xABC, due: 1000, consumer: "c1", history: "")
        try store.commit(batch { $0.pending = [.upsert(first)] })
        #expect(try store.loadPending(groupID: 1) == [first])

        let second = PendingRecord(
            groupID: 1, seq: 5, attempt: 2, token: 0, due: 2000, consumer: nil, history: "1\t1000\tc1\ttimeout\tno ack")
        try store.commit(batch { $0.pending = [.upsert(second)] })
        #expect(try store.loadPending(groupID: 1) == [second])
    }

    @Test func tokensWithTheHighBitSetSurvive() throws {
        let p = PendingRecord(groupID: 1, seq: 1, attempt: 1, token: .max, due: 0, consumer: "c", history: "")
        let q = PendingRecord(groupID: 1, seq: 2, attempt: 1, token: 0x8000_0000_0000_0001, due: 0, consumer: "c", history: "")
        try store.commit(batch { $0.pending = [.upsert(p), .upsert(q)] })
        #expect(try store.loadPending(groupID: 1).map(\.token) == [.max, 0x8000_0000_0000_0001])
    }

    @Test func pendingIsPerGroupAndOrderedBySequence() throws {
        let rows = [
            PendingRecord(groupID: 1, seq: 9, attempt: 1, token: 1, due: 0, consumer: nil, history: ""),
            PendingRecord(groupID: 2, seq: 3, attempt: 1, token: 2, due: 0, consumer: nil, history: ""),
            PendingRecord(groupID: 1, seq: 4, attempt: 3, token: 3, due: 0, consumer: "x", history: "h"),
        ]
        try store.commit(batch { $0.pending = rows.map { .upsert($0) } })
        #expect(try store.loadPending(groupID: 1) == [rows[2], rows[0]])
        #expect(try store.loadPending(groupID: 2) == [rows[1]])
        #expect(try store.loadPending(groupID: 3).isEmpty)
    }

    @Test func pendingDeleteRemovesOnlyThatRow() throws {
        let rows = [
            PendingRecord(groupID: 1, seq: 1, attempt: 1, token: 1, due: 0, consumer: nil, history: ""),
            PendingRecord(groupID: 1, seq: 2, attempt: 1, token: 2, due: 0, consumer: nil, history: ""),
            PendingRecord(groupID: 2, seq: 1, attempt: 1, token: 3, due: 0, consumer: nil, history: ""),
        ]
        try store.commit(batch { $0.pending = rows.map { .upsert($0) } })
        try store.commit(batch { $0.pending = [.delete(groupID: 1, seq: 1), .delete(groupID: 7, seq: 7)] })
        #expect(try store.loadPending(groupID: 1) == [rows[1]])
        #expect(try store.loadPending(groupID: 2) == [rows[2]])
    }

    @Test func deleteThenUpsertInOneBatchKeepsTheUpsert() throws {
        let old = PendingRecord(groupID: 1, seq: 1, attempt: 1, token: 1, due: 0, consumer: nil, history: "")
        try store.commit(batch { $0.pending = [.upsert(old)] })
        var new = old
        new.attempt = 2
        try store.commit(
            batch {
                $0.pending = [.delete(groupID: 1, seq: 1), .upsert(new)]
            })
        #expect(try store.loadPending(groupID: 1) == [new])
    }
}

/// Regression: a retry row and a dead letter of the same event in one batch must leave no pending row.
@Suite struct PendingOrderTests {
    @Test func upsertThenDeleteInOneBatchEndsDeleted() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-order-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try SQLiteEventStore(path: dir + "/t.sqlite", durability: .normal, logger: Logger(label: "test"))
        let retry = PendingRecord(groupID: 1, seq: 5, attempt: 2, token: 0, due: 10, consumer: "w", history: "x")
        var b = WriteBatch()
        b.pending = [.upsert(retry), .delete(groupID: 1, seq: 5)]
        try store.commit(b)
        #expect(try store.loadPending(groupID: 1).isEmpty)
    }
}
