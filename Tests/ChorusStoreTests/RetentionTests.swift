import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// Retention's store side: which rows go with the events it removes, which stay, and that every statement finds
/// its rows through an index, so that a pass costs what it removes and not the size of the log.
@Suite("SQLiteEventStore: retention")
final class RetentionTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    static let hashA = String(repeating: "a", count: 64)
    static let hashB = String(repeating: "b", count: 64)

    func result(_ seq: UInt64, correlation: String, blob: String? = nil) -> Event {
        var e = event(seq, topic: "gen.result.image")
        e.correlation = correlation
        if let blob { e.headers = [("status", "ok"), ("blob", blob), ("blob-size", "8"), ("blob-type", "image/png")] }
        return e
    }

    func join(_ correlation: String, openSeq: UInt64, status: String) -> JoinRecord {
        JoinRecord(name: "media", correlation: correlation, status: status, openSeq: openSeq, openedAt: 0, deadline: 1)
    }

    func part(_ correlation: String, seq: UInt64) -> JoinPartRecord {
        JoinPartRecord(name: "media", correlation: correlation, part: "image", seq: seq, status: "ok", producer: nil, attempt: 1, receivedAt: 0, error: nil)
    }

    @Test func closedJoinsAndTheirPartsGoWithTheirOpeningEventOpenOnesStay() throws {
        // Joins c1 (closed) and c2 (open) open at 1 and 2; c3 (closed) opens at 5, above what is removed.
        try store.commit(batch(events: (1...6).map { event($0) }) { b in
            b.joins = [join("c1", openSeq: 1, status: "complete"), join("c2", openSeq: 2, status: "open"), join("c3", openSeq: 5, status: "partial")]
            b.joinParts = [part("c1", seq: 3), part("c2", seq: 4), part("c3", seq: 6)]
        })
        let removed = try store.removeEvents(below: 5, olderThan: Int64.max, keepNewest: nil, limit: 100)
        #expect(removed == 4)
        #expect(try dir.scalar("SELECT count(*) FROM joins WHERE correlation = 'c1'") == 0)
        #expect(try dir.scalar("SELECT count(*) FROM join_parts WHERE correlation = 'c1'") == 0)
        #expect(try dir.scalar("SELECT count(*) FROM joins WHERE correlation IN ('c2', 'c3')") == 2)
        #expect(try dir.scalar("SELECT count(*) FROM join_parts WHERE correlation IN ('c2', 'c3')") == 2)
        #expect(try store.firstSequence() == 5)
    }

    @Test func aLatePartForAJoinRetentionAlreadyRemovedLeavesNoRowBehind() throws {
        // Join c1 opens at 1 and closes with its part at 2; c2 opens at 3 and closes with its part at 4.
        try store.commit(batch(events: (1...4).map { event($0) }) { b in
            b.joins = [join("c1", openSeq: 1, status: "complete"), join("c2", openSeq: 3, status: "complete")]
            b.joinParts = [part("c1", seq: 2), part("c2", seq: 4)]
        })
        #expect(try store.removeEvents(below: 3, olderThan: Int64.max, keepNewest: nil, limit: 100) == 2)
        #expect(try dir.scalar("SELECT count(*) FROM joins WHERE correlation = 'c1'") == 0)
        // Late results for both: the broker still remembers c1 as closed (its last 10,000 closed joins), so it
        // records one for c1 too. c2's row is kept; c1's would have no join, and retention finds part rows only
        // through their join: nothing would ever delete it.
        var late1 = part("c1", seq: 5)
        late1.status = "late"
        var late2 = part("c2", seq: 6)
        late2.status = "late"
        try store.commit(batch(events: [result(5, correlation: "c1"), result(6, correlation: "c2")]) { b in b.joinParts = [late1, late2] })
        let orphans = "SELECT count(*) FROM join_parts p WHERE NOT EXISTS (SELECT 1 FROM joins j WHERE j.name = p.name AND j.correlation = p.correlation)"
        #expect(try dir.scalar(orphans) == 0)
        #expect(try dir.scalar("SELECT count(*) FROM join_parts WHERE correlation = 'c2' AND status = 'late'") == 1)
        // Once every event is gone, so is every part row.
        #expect(try store.removeEvents(below: 7, olderThan: Int64.max, keepNewest: nil, limit: 100) == 4)
        #expect(try dir.scalar("SELECT count(*) FROM join_parts") == 0)
        #expect(try dir.scalar("SELECT count(*) FROM joins") == 0)
    }

    @Test func aBlobStaysWhileAnEventNamesItAndGoesAfter() throws {
        try store.commit(batch(events: [result(1, correlation: "c1", blob: Self.hashA), result(2, correlation: "c2", blob: Self.hashB)]) { b in
            b.blobs = [
                BlobRecord(hash: Self.hashA, size: 8, mediaType: "image/png", created: 0),
                BlobRecord(hash: Self.hashB, size: 8, mediaType: "image/png", created: 0),
            ]
        })
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100).isEmpty)
        // Event 1 goes: blob A has no event left, blob B still has event 2.
        #expect(try store.removeEvents(below: 2, olderThan: Int64.max, keepNewest: nil, limit: 100) == 1)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100) == [Self.hashA])
        #expect(try store.blob(hash: Self.hashA) == nil)
        #expect(try store.blob(hash: Self.hashB) != nil)
        #expect(try dir.scalar("SELECT count(*) FROM blob_refs") == 1)
    }

    @Test func aBlobNamedByTwoEventsStaysUntilBothAreGone() throws {
        try store.commit(batch(events: [result(1, correlation: "c1", blob: Self.hashA), result(2, correlation: "c2", blob: Self.hashA), event(3)]) { b in
            b.blobs = [BlobRecord(hash: Self.hashA, size: 8, mediaType: "image/png", created: 0)]
        })
        #expect(try store.removeEvents(below: 2, olderThan: Int64.max, keepNewest: nil, limit: 100) == 1)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100).isEmpty)
        #expect(try store.removeEvents(below: 3, olderThan: Int64.max, keepNewest: nil, limit: 100) == 1)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100) == [Self.hashA])
    }

    @Test func aNewBlobIsKeptEvenWithNoEventYet() throws {
        // Its result event may still be on the way: only blobs created before the given time are candidates.
        try store.commit(batch { b in b.blobs = [BlobRecord(hash: Self.hashA, size: 8, mediaType: "image/png", created: 500)] })
        #expect(try store.removeUnreferencedBlobs(createdBefore: 500).isEmpty)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 501) == [Self.hashA])
    }

    @Test func everyRetentionStatementSearchesAnIndexInsteadOfScanningATable() throws {
        let plans = try store.retentionPlans()
        #expect(plans.count == 6)
        for plan in plans {
            let scans = plan.filter { $0.hasPrefix("SCAN ") && !$0.hasPrefix("SCAN blobs") }
            // The blob query walks `blobs` (few rows, one per artifact) but must not scan `blob_refs` or `events`.
            #expect(scans.isEmpty, "\(plan)")
        }
        // The join-part insert, run for every part result, checks for its join by the join's key.
        #expect(plans.last?.contains { $0.hasPrefix("SEARCH joins USING PRIMARY KEY (name=? AND correlation=?)") } == true, "\(plans.last ?? [])")
    }

    @Test func upgradingAVersion2LogFillsTheBlobReferencesFromItsEvents() throws {
        let path = dir.path("v2.sqlite")
        do {
            let old = try openStore(path)
            // Event 2 is the merged record of join c1, whose image part (event 1) names blob A.
            try old.commit(batch(events: [result(1, correlation: "c1", blob: Self.hashA), event(2, topic: "gen.merged")]) { b in
                b.blobs = [BlobRecord(hash: Self.hashA, size: 8, mediaType: "image/png", created: 0)]
                var j = join("c1", openSeq: 1, status: "complete")
                j.resultSeq = 2
                b.joins = [j]
                b.joinParts = [part("c1", seq: 1)]
            })
        }
        // Make it the version-2 file an earlier Chorus wrote.
        try SQLiteDatabase(path: path).execute("DROP TABLE blob_refs; DROP INDEX joins_open_seq; ALTER TABLE groups DROP COLUMN in_flight; ALTER TABLE joins DROP COLUMN parts; PRAGMA user_version = 2")
        let upgraded = try openStore(path)
        let db = try SQLiteDatabase(path: path, readOnly: true)
        #expect(try db.scalar("PRAGMA user_version") == SQLiteEventStore.schemaVersion)
        #expect(try db.scalar("SELECT count(*) FROM blob_refs WHERE hash = '\(Self.hashA)' AND seq IN (1, 2)") == 2)
        #expect(try upgraded.removeUnreferencedBlobs(createdBefore: 100).isEmpty)
    }
}

@Suite("SQLiteEventStore: blob references listed in a batch")
final class ListedBlobReferenceTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    @Test func aBlobNamedOnlyByAMergedRecordStaysWhileTheRecordDoes() throws {
        let hash = RetentionTests.hashA
        var part = event(1, topic: "gen.result.image")
        part.headers = [("blob", hash)]
        // Event 2 is the merged record: its payload names the blob, and the broker lists the reference.
        try store.commit(batch(events: [part, event(2, topic: "gen.merged"), event(3)]) { b in
            b.blobs = [BlobRecord(hash: hash, size: 8, mediaType: "image/png", created: 0)]
            b.blobRefs = [(seq: 2, hash: hash)]
        })
        #expect(try store.removeEvents(below: 2, olderThan: Int64.max, keepNewest: nil, limit: 100) == 1)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100).isEmpty)
        #expect(try store.removeEvents(below: 3, olderThan: Int64.max, keepNewest: nil, limit: 100) == 1)
        #expect(try store.removeUnreferencedBlobs(createdBefore: 100) == [hash])
    }
}
