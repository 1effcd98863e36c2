import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// Schema version 5: a part that succeeded has no `join_parts` row; a closed join names it in `joins.parts`.
/// A version-4 log, written when every success had a row, upgrades in place and reads the same.
@Suite("SQLiteEventStore: joins.parts and version-4 logs")
final class JoinPartsColumnTests {
    let dir: TemporaryDirectory
    var path: String { dir.path("chorus.sqlite") }

    init() throws {
        dir = try TemporaryDirectory()
    }

    func request(_ seq: UInt64, _ correlation: String) -> Event {
        var e = event(seq, topic: "gen.request")
        e.correlation = correlation
        return e
    }

    func result(_ seq: UInt64, _ correlation: String, producer: String, attempt: Int) -> Event {
        var e = event(seq, topic: "gen.result.text")
        e.correlation = correlation
        e.producer = producer
        e.headers = [("attempt", String(attempt))]
        return e
    }

    /// A version-4 file as the previous Chorus left it: a closed join whose success is a row, and an open one.
    func writeVersion4Log() throws {
        do {
            let store = try openStore(path)
            try store.commit(batch(events: [request(1, "old"), result(2, "old", producer: "t", attempt: 1), request(3, "open")]) { b in
                b.joins = [
                    JoinRecord(name: "media", correlation: "old", status: "complete", openSeq: 1, openedAt: 1000, deadline: 9000, closedAt: 2000, reason: "done"),
                    JoinRecord(name: "media", correlation: "open", status: "open", openSeq: 3, openedAt: 3000, deadline: 9000),
                ]
                b.joinParts = [
                    JoinPartRecord(name: "media", correlation: "old", part: "text", seq: 2, status: "ok", producer: "t", attempt: 1, receivedAt: 1500, error: nil)
                ]
            })
        }
        try SQLiteDatabase(path: path).execute("ALTER TABLE joins DROP COLUMN parts; PRAGMA user_version = 4")
    }

    @Test func aVersion4LogReadsTheSameBeforeAndAfterItsUpgrade() throws {
        try writeVersion4Log()
        // The reader opens a version-4 file as it is (it never writes), without the column.
        let before = try LogReader(path: path).story(correlation: "old")
        #expect(before.joins.map(\.status) == ["complete"])
        #expect(before.joins.first?.parts == nil)
        #expect(before.joinParts.map { "\($0.part):\($0.status):\($0.seq)" } == ["text:ok:2"])

        let store = try openStore(path)
        #expect(try dir.scalar("PRAGMA user_version") == 5)
        #expect(try dir.scalar("SELECT count(*) FROM pragma_table_info('joins') WHERE name = 'parts'") == 1)
        #expect(try store.openJoins().map(\.join.correlation) == ["open"])
        let after = try LogReader(path: path).story(correlation: "old")
        #expect(after.joinParts.map { "\($0.part):\($0.status):\($0.seq)" } == ["text:ok:2"])
    }

    @Test func aClosedJoinsSuccessesComeFromItsColumnWithTheirEventsDetails() throws {
        let store = try openStore(path)
        let timeout = JoinPartRecord(
            name: "media", correlation: "c", part: "audio", seq: 0, status: "timeout", producer: nil, attempt: nil,
            receivedAt: 1_700_000_000_003, error: "no result within 1 ms")
        try store.commit(batch(events: [request(1, "c"), result(2, "c", producer: "text-agent", attempt: 3), event(4, topic: "gen.merged")]) { b in
            b.joins = [
                JoinRecord(
                    name: "media", correlation: "c", status: "partial", openSeq: 1, openedAt: 1_700_000_000_001, deadline: 9000,
                    closedAt: 1_700_000_000_004, resultSeq: 4, reason: "timeout", parts: #"{"text":2}"#)
            ]
            b.joinParts = [timeout]
        })
        #expect(try dir.scalar("SELECT count(*) FROM join_parts WHERE status = 'ok'") == 0)
        let story = try LogReader(path: path).story(correlation: "c")
        let text = JoinPartRecord(
            name: "media", correlation: "c", part: "text", seq: 2, status: "ok", producer: "text-agent", attempt: 3,
            receivedAt: 1_700_000_000_002, error: nil)
        // In the order they came: the success (at its event's time) before the timeout.
        #expect(story.joinParts == [text, timeout])
    }
}
