import ChorusProtocol
import ChorusStore
import Testing

@Suite("SQLiteEventStore: dead letters")
final class DeadLetterTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    func letter(_ group: String, _ seq: UInt64) -> DeadLetterRecord {
        DeadLetterRecord(
            groupName: group, seq: seq, reason: "max attempts (3) reached; last: timeout: no ack", attempts: 3,
            history: "1\t10\tc\ttimeout\tno ack\n2\t20\tc\ttimeout\tno ack", time: 1_700_000_000_000 + Int64(seq))
    }

    @Test func noDeadLetters() throws {
        #expect(try store.deadLetters(group: nil, limit: 10).isEmpty)
        #expect(try store.deadLetters(group: "a", limit: 10).isEmpty)
    }

    @Test func listsNewestFirstWithEveryField() throws {
        try store.commit(batch { $0.deadLetters = [letter("a", 1), letter("b", 2)] })
        try store.commit(batch { $0.deadLetters = [letter("a", 3)] })
        let all = try store.deadLetters(group: nil, limit: 10)
        #expect(all.map(\.seq) == [3, 2, 1])
        #expect(all.map(\.groupName) == ["a", "b", "a"])
        #expect(all.map(\.id) == [3, 2, 1])
        var expected = letter("a", 3)
        expected.id = 3
        #expect(all[0] == expected)
    }

    @Test func findsDeadLettersByIDWithinTheirGroupOnly() throws {
        try store.commit(batch { $0.deadLetters = [letter("a", 1), letter("b", 2), letter("a", 3)] })
        #expect(try store.deadLetters(group: "a", ids: [3, 1, 2, 99]).map(\.id) == [3, 1])
        #expect(try store.deadLetters(group: "b", ids: [2]).map(\.seq) == [2])
        #expect(try store.deadLetters(group: "b", ids: []).isEmpty)
    }

    @Test func filtersByGroup() throws {
        try store.commit(batch { $0.deadLetters = [letter("a", 1), letter("b", 2), letter("a", 3), letter("ab", 4)] })
        #expect(try store.deadLetters(group: "a", limit: 10).map(\.seq) == [3, 1])
        #expect(try store.deadLetters(group: "b", limit: 10).map(\.seq) == [2])
        #expect(try store.deadLetters(group: "ab", limit: 10).map(\.seq) == [4])
        #expect(try store.deadLetters(group: "c", limit: 10).isEmpty)
        #expect(try store.deadLetters(group: "", limit: 10).isEmpty)
    }

    @Test func respectsTheLimit() throws {
        try store.commit(batch { $0.deadLetters = (1...5).map { letter("a", UInt64($0)) } })
        #expect(try store.deadLetters(group: nil, limit: 2).map(\.seq) == [5, 4])
        #expect(try store.deadLetters(group: "a", limit: 3).map(\.seq) == [5, 4, 3])
        #expect(try store.deadLetters(group: "a", limit: 0).isEmpty)
    }
}
