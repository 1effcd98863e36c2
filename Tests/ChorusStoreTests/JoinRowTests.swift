import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// A join's row from opening to closing: one row per join, updated in place when it closes, and its part rows.
@Suite("SQLiteEventStore: join rows")
final class JoinRowTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    func opened(_ correlation: String, openSeq: UInt64) -> JoinRecord {
        JoinRecord(name: "media", correlation: correlation, status: "open", openSeq: openSeq, openedAt: 1000 + Int64(openSeq), deadline: 9000)
    }

    func closed(_ join: JoinRecord, status: String, resultSeq: UInt64) -> JoinRecord {
        var j = join
        j.status = status
        j.closedAt = 5000
        j.resultSeq = resultSeq
        j.reason = "all required parts succeeded"
        j.parts = #"{"text":\#(resultSeq - 1)}"#
        return j
    }

    func part(_ correlation: String, seq: UInt64, status: String = "ok") -> JoinPartRecord {
        JoinPartRecord(name: "media", correlation: correlation, part: "text", seq: seq, status: status, producer: "p", attempt: 1, receivedAt: 2000, error: nil)
    }

    @Test func aJoinClosedInALaterCommitKeepsOneRowWithItsOpeningFieldsAndItsOutcome() throws {
        let j = opened("c1", openSeq: 1)
        try store.commit(batch(events: [event(1)]) { $0.joins = [j] })
        #expect(try store.openJoins().map(\.join) == [j])
        try store.commit(batch(events: [event(2), event(3)]) { b in
            b.joinParts = [part("c1", seq: 2)]
            b.joins = [closed(j, status: "complete", resultSeq: 3)]
        })
        #expect(try store.join(name: "media", correlation: "c1") == closed(j, status: "complete", resultSeq: 3))
        #expect(try store.openJoins().isEmpty)
        #expect(try dir.scalar("SELECT count(*) FROM joins") == 1)
        // The partial index of open joins and the index retention uses both agree with the row.
        #expect(try dir.scalar("SELECT count(*) FROM joins INDEXED BY joins_open WHERE status = 'open'") == 0)
        #expect(try dir.scalar("SELECT count(*) FROM joins INDEXED BY joins_open_seq WHERE open_seq = 1") == 1)
    }

    @Test func aJoinOpenedAndClosedInOneCommitIsWrittenClosed() throws {
        let j = opened("c2", openSeq: 4)
        try store.commit(batch(events: [event(4), event(5), event(6)]) { b in
            b.joins = [j, closed(j, status: "partial", resultSeq: 6)]
            b.joinParts = [part("c2", seq: 5)]
        })
        #expect(try store.join(name: "media", correlation: "c2") == closed(j, status: "partial", resultSeq: 6))
        #expect(try dir.scalar("SELECT count(*) FROM join_parts WHERE correlation = 'c2'") == 1)
    }

    /// A join never opens twice: an `open` record for a join with a row (closed here) leaves the row as it is,
    /// where INSERT OR REPLACE, or an unconditional update, made it open again with the old opening fields.
    @Test func anOpenRecordForAJoinThatHasARowChangesNothing() throws {
        let j = opened("c4", openSeq: 10)
        let done = closed(j, status: "complete", resultSeq: 12)
        try store.commit(batch(events: [event(10), event(11), event(12)]) { b in b.joins = [j, done] })
        try store.commit(batch(events: [event(13)]) { $0.joins = [opened("c4", openSeq: 13)] })
        #expect(try store.join(name: "media", correlation: "c4") == done)
        #expect(try store.openJoins().isEmpty)
    }

    @Test func partsOfAnOpenJoinAreRecordedInOrderAndRecoveredWithIt() throws {
        let j = opened("c3", openSeq: 7)
        try store.commit(batch(events: [event(7)]) { $0.joins = [j] })
        try store.commit(batch(events: [event(8), event(9)]) { b in
            b.joinParts = [part("c3", seq: 8, status: "failed"), part("c3", seq: 9, status: "duplicate")]
        })
        let open = try store.openJoins()
        #expect(open.count == 1)
        #expect(open.first?.parts.map(\.status) == ["failed", "duplicate"])
    }
}
