import ChorusProtocol
import ChorusStore
import Testing

/// A batch is one transaction: when any statement fails, nothing from the batch is visible.
@Suite("SQLiteEventStore: failed batches roll back")
final class RollbackTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore
    let pending1 = PendingRecord(groupID: 1, seq: 1, attempt: 1, token: 11, due: 100, consumer: "c", history: "")

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
        try store.commit(
            batch(events: [event(1), event(2)]) {
                $0.keys = [("k-1", 1, 1000)]
                $0.newGroups = [group(1, "workers", cursor: 1)]
                $0.pending = [.upsert(pending1)]
            })
    }

    /// Everything the later batches try to write, on top of the failure.
    func fill(_ b: inout WriteBatch) {
        b.keys = [("k-3", 3, 3000)]
        b.cursors = [1: 3]
        b.pending = [.delete(groupID: 1, seq: 1), .upsert(PendingRecord(groupID: 1, seq: 3, attempt: 1, token: 33, due: 300, consumer: "d", history: ""))]
        b.deadLetters = [DeadLetterRecord(groupName: "workers", seq: 2, reason: "r", attempts: 5, history: "", time: 1)]
    }

    func expectOnlyTheFirstBatch() throws {
        #expect(try store.lastSequence() == 2)
        #expect(try store.readEvents(from: 0, limit: 10).map(\.seq) == [1, 2])
        #expect(try store.readEvent(seq: 2)?.id == "e2")
        #expect(try store.lookupKey("k-1", since: 0) == 1)
        #expect(try store.lookupKey("k-3", since: 0) == nil)
        #expect(try store.loadGroups() == [group(1, "workers", cursor: 1)])
        #expect(try store.loadPending(groupID: 1) == [pending1])
        #expect(try store.deadLetters(group: nil, limit: 10).isEmpty)
    }

    @Test func duplicateSequenceRollsBackTheWholeBatch() throws {
        // seq 3 and 4 are inserted before seq 2 collides.
        var e2 = event(2)
        e2.id = "duplicate"
        let bad = batch(events: [event(3), event(4), e2]) { fill(&$0) }
        #expect(throws: SQLiteError.self) { try store.commit(bad) }
        try expectOnlyTheFirstBatch()
        #expect(try store.readEvent(seq: 3) == nil)
    }

    @Test func failureAfterEventsAndKeysRollsThemBack() throws {
        // The group name is taken: fails after the events and keys of this batch were written.
        let bad = batch(events: [event(3)]) {
            fill(&$0)
            $0.newGroups = [group(2, "workers")]
        }
        let error = #expect(throws: SQLiteError.self) { try store.commit(bad) }
        #expect(error?.message.contains("UNIQUE") == true)
        try expectOnlyTheFirstBatch()
    }

    @Test func storeIsUsableAfterAFailedBatch() throws {
        #expect(throws: SQLiteError.self) { try store.commit(batch(events: [event(1)])) }
        let good = batch(events: [event(3)]) { fill(&$0) }
        try store.commit(good)
        #expect(try store.lastSequence() == 3)
        #expect(try store.lookupKey("k-3", since: 0) == 3)
        #expect(try store.loadGroups().first?.cursor == 3)
        #expect(try store.loadPending(groupID: 1).map(\.seq) == [3])
        #expect(try store.deadLetters(group: "workers", limit: 10).count == 1)
    }

    @Test func failedBatchIsNotVisibleToAnotherConnection() throws {
        #expect(throws: SQLiteError.self) { try store.commit(batch(events: [event(3), event(2)])) }
        let other = try openStore(dir.path("chorus.sqlite"))
        #expect(try other.lastSequence() == 2)
    }
}
