import ChorusProtocol
import ChorusStore
import Testing

@Suite("SQLiteEventStore: idempotency keys")
final class IdempotencyTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
        try store.commit(
            batch(events: [event(1), event(2), event(3)]) {
                $0.keys = [("k-1", 1, 1000), ("k-2", 2, 2000), ("k-3", 3, 3000)]
            })
    }

    @Test func unknownKey() throws {
        #expect(try store.lookupKey("nope", since: 0) == nil)
    }

    @Test func keyWithinTheWindowIsFound() throws {
        #expect(try store.lookupKey("k-2", since: 0) == 2)
        #expect(try store.lookupKey("k-2", since: 1999) == 2)
        #expect(try store.lookupKey("k-2", since: 2000) == 2)  // inclusive
    }

    @Test func keyOutsideTheWindowIsNotFound() throws {
        #expect(try store.lookupKey("k-2", since: 2001) == nil)
        #expect(try store.lookupKey("k-1", since: 5000) == nil)
    }

    @Test func keysAreExactAndCaseSensitive() throws {
        #expect(try store.lookupKey("K-1", since: 0) == nil)
        #expect(try store.lookupKey("k-", since: 0) == nil)
        #expect(try store.lookupKey("k-1 ", since: 0) == nil)
    }

    @Test func reusingAKeyReplacesIt() throws {
        try store.commit(batch(events: [event(4)]) { $0.keys = [("k-1", 4, 4000)] })
        #expect(try store.lookupKey("k-1", since: 0) == 4)
        #expect(try store.lookupKey("k-1", since: 3500) == 4)
    }

    @Test func pruneForgetsOlderKeysOnly() throws {
        #expect(try store.pruneKeys(before: 2000) == 1)  // k-1 only: 2000 is not before 2000
        #expect(try store.lookupKey("k-1", since: 0) == nil)
        #expect(try store.lookupKey("k-2", since: 0) == 2)
        #expect(try store.lookupKey("k-3", since: 0) == 3)
        #expect(try store.pruneKeys(before: 2000) == 0)
        #expect(try store.pruneKeys(before: .max) == 2)
        #expect(try store.lookupKey("k-3", since: 0) == nil)
        // Events are not touched by pruning keys.
        #expect(try store.lastSequence() == 3)
    }

    @Test func keysWithoutEventsCanBeCommitted() throws {
        try store.commit(batch { $0.keys = [("k-9", 3, 9000)] })
        #expect(try store.lookupKey("k-9", since: 9000) == 3)
    }
}
