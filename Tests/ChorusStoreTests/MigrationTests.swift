import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// Upgrading a version-2 log, written the way an earlier Chorus wrote it: the version-3 step either completes or
/// leaves the file exactly as it was, so that the next start can try again.
@Suite("SQLiteEventStore: upgrading a version-2 log")
final class MigrationTests {
    let dir: TemporaryDirectory
    let path: String

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("v2.sqlite")
    }

    static let hash = String(repeating: "c", count: 64)

    /// The version-1 and version-2 DDL of docs/STORAGE.md, section 2, written out here rather than taken from the
    /// store, so that the file is what an earlier Chorus left whatever the current code does.
    static let version2Schema = """
        BEGIN;
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT NULL, correlation TEXT, causation TEXT,
            producer TEXT, time INTEGER NOT NULL, content_type TEXT, deadline INTEGER, headers TEXT, payload BLOB NOT NULL);
        CREATE TABLE idempotency (key TEXT PRIMARY KEY, seq INTEGER NOT NULL, time INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX idempotency_time ON idempotency(time);
        CREATE TABLE groups (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, patterns TEXT NOT NULL, cursor INTEGER NOT NULL,
            created INTEGER NOT NULL, max_attempts INTEGER NOT NULL, ack_timeout_ms INTEGER NOT NULL);
        CREATE TABLE pending (
            group_id INTEGER NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, token INTEGER NOT NULL,
            due INTEGER NOT NULL, consumer TEXT, history TEXT NOT NULL, PRIMARY KEY (group_id, seq)) WITHOUT ROWID;
        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY, group_name TEXT NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL,
            attempts INTEGER NOT NULL, history TEXT NOT NULL, time INTEGER NOT NULL);
        CREATE INDEX dead_letters_group ON dead_letters(group_name, id);
        CREATE INDEX events_correlation ON events(correlation) WHERE correlation IS NOT NULL;
        CREATE TABLE joins (
            name TEXT NOT NULL, correlation TEXT NOT NULL, status TEXT NOT NULL, open_seq INTEGER NOT NULL,
            opened_at INTEGER NOT NULL, deadline INTEGER NOT NULL, closed_at INTEGER, result_seq INTEGER, reason TEXT,
            PRIMARY KEY (name, correlation)) WITHOUT ROWID;
        CREATE INDEX joins_open ON joins(status) WHERE status = 'open';
        CREATE TABLE join_parts (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, correlation TEXT NOT NULL, part TEXT NOT NULL,
            seq INTEGER NOT NULL, status TEXT NOT NULL, producer TEXT, attempt INTEGER, received_at INTEGER NOT NULL,
            error TEXT);
        CREATE INDEX join_parts_join ON join_parts(name, correlation);
        CREATE TABLE blobs (
            hash TEXT PRIMARY KEY, size INTEGER NOT NULL, media_type TEXT NOT NULL, created INTEGER NOT NULL) WITHOUT ROWID;
        PRAGMA user_version = 2;
        COMMIT;
        """

    /// A request (1), its image result naming a blob (2) and the merged record of its closed join (3), a group, a
    /// pending delivery, a dead letter and an idempotency key: a row in every table.
    func writeVersion2Log() throws {
        let db = try SQLiteDatabase(path: path)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute(Self.version2Schema)
        try db.execute(
            """
            INSERT INTO events VALUES
                (1, 'e1', 'gen.request', 'c1', NULL, 'cli', 1000, 'text/plain', NULL, NULL, x'6869'),
                (2, 'e2', 'gen.result.image', 'c1', 'e1', 'image-agent', 1001, 'image/png', NULL,
                 'status=ok' || char(10) || 'blob=\(Self.hash.uppercased())', x'00'),
                (3, 'e3', 'gen.merged', 'c1', 'e1', 'chorus.join', 1002, 'application/json', NULL, 'join=media', x'7b7d');
            INSERT INTO idempotency VALUES ('k1', 1, 1000);
            INSERT INTO groups VALUES (1, 'image', 'gen.request', 3, 900, 5, 30000);
            INSERT INTO pending VALUES (1, 1, 1, 7, 31000, 'image-agent', '');
            INSERT INTO dead_letters VALUES (1, 'image', 1, 'rejected: no', 1, '1' || char(9) || '1000' || char(9) || 'w' || char(9) || 'rejected' || char(9) || 'no', 1003);
            INSERT INTO joins VALUES ('media', 'c1', 'complete', 1, 1000, 31000, 1002, 3, 'all required parts succeeded');
            INSERT INTO join_parts VALUES (1, 'media', 'c1', 'image', 2, 'ok', 'image-agent', 1, 1001, NULL);
            INSERT INTO blobs VALUES ('\(Self.hash)', 1, 'image/png', 990);
            """)
    }

    /// Everything in the file: its version, its schema and every row of every version-2 table, as text.
    func contents() throws -> [String] {
        let db = try SQLiteDatabase(path: path, readOnly: true)
        var out = ["user_version \(try db.scalar("PRAGMA user_version") ?? -1)"]
        let queries: [(sql: String, columns: Int32)] = [
            ("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name", 4),
            ("SELECT * FROM events ORDER BY seq", 11), ("SELECT * FROM idempotency ORDER BY key", 3),
            ("SELECT * FROM groups ORDER BY id", 7), ("SELECT * FROM pending ORDER BY group_id, seq", 7),
            ("SELECT * FROM dead_letters ORDER BY id", 7), ("SELECT * FROM joins ORDER BY name, correlation", 9),
            ("SELECT * FROM join_parts ORDER BY id", 10), ("SELECT * FROM blobs ORDER BY hash", 4),
        ]
        for (sql, columns) in queries {
            let s = try db.prepare(sql)
            while try s.step() {
                out.append((0..<columns).map { s.string($0) ?? "NULL" }.joined(separator: "|"))
            }
        }
        return out
    }

    func objects(_ db: SQLiteDatabase, named names: String) throws -> Int64 {
        try db.scalar("SELECT count(*) FROM sqlite_master WHERE name IN (\(names))") ?? -1
    }

    /// Each obstacle makes one version-3 statement fail: the table `blob_refs` (the second statement, after
    /// `joins_open_seq` is built) or an index called `blob_refs_hash` (the third, after `joins_open_seq` and the
    /// `blob_refs` table are made).
    @Test(arguments: [
        (plant: "CREATE TABLE blob_refs (note TEXT)", remove: "DROP TABLE blob_refs", object: "blob_refs"),
        (plant: "CREATE INDEX blob_refs_hash ON events(topic)", remove: "DROP INDEX blob_refs_hash", object: "blob_refs_hash"),
    ])
    func aFailedUpgradeLeavesTheFileAsItWasAndTheNextOpenCompletesIt(plant: String, remove: String, object: String) throws {
        try writeVersion2Log()
        try SQLiteDatabase(path: path).execute(plant)
        let before = try contents()

        let error = #expect(throws: SQLiteError.self) { try openStore(path) }
        #expect(error?.context.contains(path) == true, "\(String(describing: error))")
        #expect(error?.context.contains("schema version 3") == true, "\(String(describing: error))")
        #expect(error?.message.contains("\(object) already exists") == true, "\(String(describing: error))")

        // Nothing of version 3 is left behind, and nothing of version 2 was touched.
        #expect(try contents() == before)
        do {
            let db = try SQLiteDatabase(path: path, readOnly: true)
            #expect(try db.scalar("PRAGMA user_version") == 2)
            #expect(try objects(db, named: "'joins_open_seq'") == 0)
            #expect(try db.scalar("SELECT count(*) FROM sqlite_master WHERE sql LIKE '%PRIMARY KEY (seq, hash)%'") == 0)
            let check = try db.prepare("PRAGMA integrity_check")
            #expect(try check.step() && check.string(0) == "ok")
        }

        // Without the obstacle the same file upgrades, with every row still there.
        try SQLiteDatabase(path: path).execute(remove)
        let store = try openStore(path)
        let db = try SQLiteDatabase(path: path, readOnly: true)
        #expect(try db.scalar("PRAGMA user_version") == SQLiteEventStore.schemaVersion)
        #expect(try objects(db, named: "'joins_open_seq', 'blob_refs', 'blob_refs_hash'") == 3)
        #expect(try db.scalar("SELECT count(*) FROM pragma_table_info('groups') WHERE name = 'in_flight'") == 1)
        // The result names the blob in a header; the merged record references it through its part.
        #expect(try db.scalar("SELECT count(*) FROM blob_refs WHERE hash = '\(Self.hash)' AND seq IN (2, 3)") == 2)
        #expect(try store.lastSequence() == 3)
        #expect(try store.readEvent(seq: 2)?.headers.last?.value == Self.hash.uppercased())
        #expect(try store.join(name: "media", correlation: "c1")?.resultSeq == 3)
        #expect(try store.loadPending(groupID: 1).map(\.seq) == [1])
        #expect(try store.deadLetters(group: "image", limit: 5).map(\.reason) == ["rejected: no"])
        #expect(try store.lookupKey("k1", since: 0) == 1)
    }
}
