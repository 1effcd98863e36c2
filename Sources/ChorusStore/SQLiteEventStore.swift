import ChorusProtocol
import Foundation
import Logging
import Synchronization

/// The SQLite event store: one WAL database file holding the log, groups, pending deliveries and dead letters.
///
/// DESIGN. The broker thread owns this object and its connection. Every write goes through `commit`, one
/// transaction per broker loop iteration, so one fsync (with `durability = full`) or one WAL append (normal)
/// covers everything that arrived while the previous commit ran: group commit without a timer. Statements are
/// prepared once. The schema is in docs/STORAGE.md; keep the two together.
public final class SQLiteEventStore: EventStore {
    /// Reads made both here and through the broker's read-only connection (`LogReader`), which must agree.
    static let keyLookupSQL = "SELECT seq FROM idempotency WHERE key = ? AND time >= ?"
    static let correlationEventsSQL = "SELECT \(LogReader.columns) FROM events WHERE correlation = ? AND seq > ? ORDER BY seq LIMIT ?"

    /// The schema version this code writes (`PRAGMA user_version`).
    public static let schemaVersion: Int64 = 5

    let db: SQLiteDatabase
    let logger: Logger
    private let checkpointer: WALCheckpointer
    /// Held by every write transaction; see `CheckpointPolicy`.
    let writeGate = WriteGate()

    deinit { checkpointer.stop() }

    private let insertEvent: SQLiteStatement
    private let insertKey: SQLiteStatement
    private let insertGroup: SQLiteStatement
    private let updateCursor: SQLiteStatement
    private let updateInFlight: SQLiteStatement
    private let upsertPending: SQLiteStatement
    private let deletePending: SQLiteStatement
    private let insertDeadLetter: SQLiteStatement
    private let deleteDeadLetter: SQLiteStatement
    private let selectEvents: SQLiteStatement
    private let selectKey: SQLiteStatement
    private let upsertJoin: SQLiteStatement
    private let insertJoinPart: SQLiteStatement
    private let insertOpenJoinPart: SQLiteStatement
    private let insertBlob: SQLiteStatement
    private let insertBlobRef: SQLiteStatement
    private let selectJoin: SQLiteStatement
    private var selectByCorrelation: SQLiteStatement?
    private let begin: SQLiteStatement
    private let commitStatement: SQLiteStatement
    private let rollback: SQLiteStatement

    /// Opens or creates the store at `path`, creating or checking the schema.
    /// `checkpoints` and `checkpointInterval` are for tests: the defaults are what the broker runs with.
    public init(
        path: String, durability: Durability, logger: Logger, checkpoints: CheckpointPolicy = CheckpointPolicy(),
        checkpointInterval: Duration = .milliseconds(200)
    ) throws {
        let db = try SQLiteDatabase(path: path)
        self.db = db
        self.logger = logger
        if !SQLiteDatabase.memoryStatisticsAreOff {
            logger.warning("SQLite started before its memory statistics could be turned off: its allocations share one mutex (docs/STORAGE.md)")
        }
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        // A bigger page cache keeps recent events hot for groups that are slightly behind.
        try db.execute("PRAGMA cache_size=-32768")
        try Self.migrate(db)
        // Checkpoints (copying the WAL back into the database, with an fsync) run on a thread of their own with
        // its own connection, not inside the broker's commits: the broker thread never waits on one, except for
        // the short gated pass that lets a long WAL start over (WALCheckpointer, CheckpointPolicy).
        try db.execute("PRAGMA wal_autocheckpoint=0")
        try db.execute("PRAGMA journal_size_limit=\(checkpoints.journalSizeLimitBytes)")
        insertEvent = try db.prepare(
            "INSERT INTO events(seq, id, topic, correlation, causation, producer, time, content_type, deadline, headers, payload) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
        )
        insertKey = try db.prepare("INSERT OR REPLACE INTO idempotency(key, seq, time) VALUES (?,?,?)")
        insertGroup = try db.prepare(
            "INSERT INTO groups(id, name, patterns, cursor, created, max_attempts, ack_timeout_ms) VALUES (?,?,?,?,?,?,?)")
        updateCursor = try db.prepare("UPDATE groups SET cursor = ? WHERE id = ?")
        updateInFlight = try db.prepare("UPDATE groups SET in_flight = ? WHERE id = ?")
        upsertPending = try db.prepare(
            "INSERT OR REPLACE INTO pending(group_id, seq, attempt, token, due, consumer, history) VALUES (?,?,?,?,?,?,?)")
        deletePending = try db.prepare("DELETE FROM pending WHERE group_id = ? AND seq = ?")
        insertDeadLetter = try db.prepare(
            "INSERT INTO dead_letters(group_name, seq, reason, attempts, history, time) VALUES (?,?,?,?,?,?)")
        deleteDeadLetter = try db.prepare("DELETE FROM dead_letters WHERE id = ?")
        selectEvents = try db.prepare("SELECT \(LogReader.columns) FROM events WHERE seq >= ? ORDER BY seq LIMIT ?")
        selectKey = try db.prepare(Self.keyLookupSQL)
        upsertJoin = try db.prepare(Self.upsertJoinSQL)
        insertJoinPart = try db.prepare(Self.insertJoinPartSQL)
        insertOpenJoinPart = try db.prepare(
            "INSERT INTO join_parts(name, correlation, part, seq, status, producer, attempt, received_at, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
        // Storing the same content again refreshes `created`, so retention's grace period starts over for it.
        insertBlob = try db.prepare(
            "INSERT INTO blobs(hash, size, media_type, created) VALUES (?,?,?,?) ON CONFLICT(hash) DO UPDATE SET created = excluded.created")
        insertBlobRef = try db.prepare("INSERT OR IGNORE INTO blob_refs(seq, hash) VALUES (?,?)")
        selectJoin = try db.prepare("SELECT \(Self.joinColumns) FROM joins WHERE name = ? AND correlation = ?")
        begin = try db.prepare("BEGIN IMMEDIATE")
        commitStatement = try db.prepare("COMMIT")
        rollback = try db.prepare("ROLLBACK")
        // Last: once its thread runs, nothing here may throw (a failed init would leave the thread running).
        checkpointer = WALCheckpointer(path: path, gate: writeGate, policy: checkpoints, interval: checkpointInterval, logger: logger)
    }

    /// Creates the schema in a new file, or checks that an existing file is a Chorus log this code can use.
    static func migrate(_ db: SQLiteDatabase) throws {
        let version = try db.scalar("PRAGMA user_version") ?? 0
        if version == schemaVersion { return }
        if (1...4).contains(version) {
            if version == 1 { try db.execute(Self.schemaV2) }
            if version < 3 { try migrateToV3(db) }
            if version < 4 { try migrateToV4(db) }
            try migrateToV5(db)
            return
        }
        if version > schemaVersion {
            throw SQLiteError(
                code: 0, message: "schema version \(version) is newer than this chorus (\(schemaVersion)); upgrade chorus",
                context: "open \(db.path)")
        }
        let tables = try db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table'") ?? 0
        if tables > 0 {
            throw SQLiteError(code: 0, message: "the file has tables but is not a Chorus log", context: "open \(db.path)")
        }
        try db.execute(Self.schema)
        try db.execute(Self.schemaV2)
        try migrateToV3(db)
        try migrateToV4(db)
        try migrateToV5(db)
    }

    /// Version 5: `joins.parts`, the result events a closed join accepted as `ok`, by part name. Each such result
    /// used to have a `join_parts` row, written when it arrived: three rows and index entries per join, the
    /// largest write a join made after its events. A part that succeeded is now its event in the log, found by
    /// correlation while the join is open and named in this column once it closes; `join_parts` keeps the rest.
    static func migrateToV5(_ db: SQLiteDatabase) throws {
        try upgrade(db, to: 5, "ALTER TABLE joins ADD COLUMN parts TEXT;")
    }

    /// Version 4: `groups.in_flight`, the first deliveries a group has in flight. They used to have a pending row
    /// each, written when the delivery went out and deleted at its ack: two B-tree writes per delivered event, a
    /// quarter of the broker's work. Now a delivery gets a row only once an attempt has failed.
    static func migrateToV4(_ db: SQLiteDatabase) throws {
        try upgrade(db, to: 4, "ALTER TABLE groups ADD COLUMN in_flight TEXT NOT NULL DEFAULT '';")
    }

    /// Runs one upgrade step and sets the version, in one transaction: it happens whole or not at all, and a
    /// failure names the file and the step.
    static func upgrade(_ db: SQLiteDatabase, to version: Int64, _ sql: String) throws {
        do {
            try db.execute("BEGIN; \(sql) PRAGMA user_version = \(version); COMMIT;")
        } catch {
            try? db.execute("ROLLBACK")
            throw SQLiteError(code: error.code, message: error.message, context: "upgrade \(db.path) to schema version \(version)")
        }
    }

    /// Version 3: what retention needs to stay cheap on a large log. `joins_open_seq` finds the joins whose opening
    /// event goes; `blob_refs` says which events name which blob, filled here from the existing log (one scan of
    /// the events that have a `blob` header, at the upgrade only).
    static func migrateToV3(_ db: SQLiteDatabase) throws {
        try db.execute("BEGIN")
        do {
            try db.execute(
                """
            CREATE INDEX joins_open_seq ON joins(open_seq);
            CREATE TABLE blob_refs (
                seq  INTEGER NOT NULL,
                hash TEXT    NOT NULL,
                PRIMARY KEY (seq, hash)
            ) WITHOUT ROWID;
            CREATE INDEX blob_refs_hash ON blob_refs(hash);
            """)
            let select = try db.prepare("SELECT seq, headers FROM events WHERE headers LIKE '%blob=%'")
            let insert = try db.prepare("INSERT OR IGNORE INTO blob_refs(seq, hash) VALUES (?,?)")
            while try select.step() {
                for hash in Event.blobHashes(in: Event.parseHeaders(select.string(1))) {
                    insert.bind(1, select.int64(0))
                    insert.bind(2, hash)
                    try insert.run()
                }
            }
            // A merged record names its parts' blobs in its payload: it references what its parts reference.
            try db.execute(
                """
                INSERT OR IGNORE INTO blob_refs(seq, hash)
                SELECT j.result_seq, r.hash FROM joins j
                JOIN join_parts p ON p.name = j.name AND p.correlation = j.correlation AND p.status IN ('ok', 'failed')
                JOIN blob_refs r ON r.seq = p.seq
                WHERE j.result_seq IS NOT NULL
                """)
            try db.execute("PRAGMA user_version = 3; COMMIT;")
        } catch {
            try? db.execute("ROLLBACK")
            // Say which file and which step: the failing statement alone does not.
            throw SQLiteError(code: error.code, message: error.message, context: "upgrade \(db.path) to schema version 3")
        }
    }


    /// The version-1 schema; docs/STORAGE.md explains every column.
    static let schema = """
        BEGIN;
        CREATE TABLE events (
            seq          INTEGER PRIMARY KEY,
            id           TEXT    NOT NULL,
            topic        TEXT    NOT NULL,
            correlation  TEXT,
            causation    TEXT,
            producer     TEXT,
            time         INTEGER NOT NULL,
            content_type TEXT,
            deadline     INTEGER,
            headers      TEXT,
            payload      BLOB    NOT NULL
        );
        CREATE TABLE idempotency (
            key  TEXT PRIMARY KEY,
            seq  INTEGER NOT NULL,
            time INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX idempotency_time ON idempotency(time);
        CREATE TABLE groups (
            id             INTEGER PRIMARY KEY,
            name           TEXT    NOT NULL UNIQUE,
            patterns       TEXT    NOT NULL,
            cursor         INTEGER NOT NULL,
            created        INTEGER NOT NULL,
            max_attempts   INTEGER NOT NULL,
            ack_timeout_ms INTEGER NOT NULL
        );
        CREATE TABLE pending (
            group_id INTEGER NOT NULL,
            seq      INTEGER NOT NULL,
            attempt  INTEGER NOT NULL,
            token    INTEGER NOT NULL,
            due      INTEGER NOT NULL,
            consumer TEXT,
            history  TEXT    NOT NULL,
            PRIMARY KEY (group_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE dead_letters (
            id         INTEGER PRIMARY KEY,
            group_name TEXT    NOT NULL,
            seq        INTEGER NOT NULL,
            reason     TEXT    NOT NULL,
            attempts   INTEGER NOT NULL,
            history    TEXT    NOT NULL,
            time       INTEGER NOT NULL
        );
        CREATE INDEX dead_letters_group ON dead_letters(group_name, id);
        PRAGMA user_version = 1;
        COMMIT;
        """

    /// Version 2: joins, their parts, blobs, and an index to find a request's events by correlation id.
    static let schemaV2 = """
        BEGIN;
        CREATE INDEX events_correlation ON events(correlation) WHERE correlation IS NOT NULL;
        CREATE TABLE joins (
            name        TEXT    NOT NULL,
            correlation TEXT    NOT NULL,
            status      TEXT    NOT NULL,
            open_seq    INTEGER NOT NULL,
            opened_at   INTEGER NOT NULL,
            deadline    INTEGER NOT NULL,
            closed_at   INTEGER,
            result_seq  INTEGER,
            reason      TEXT,
            PRIMARY KEY (name, correlation)
        ) WITHOUT ROWID;
        CREATE INDEX joins_open ON joins(status) WHERE status = 'open';
        CREATE TABLE join_parts (
            id          INTEGER PRIMARY KEY,
            name        TEXT    NOT NULL,
            correlation TEXT    NOT NULL,
            part        TEXT    NOT NULL,
            seq         INTEGER NOT NULL,
            status      TEXT    NOT NULL,
            producer    TEXT,
            attempt     INTEGER,
            received_at INTEGER NOT NULL,
            error       TEXT
        );
        CREATE INDEX join_parts_join ON join_parts(name, correlation);
        CREATE TABLE blobs (
            hash       TEXT    PRIMARY KEY,
            size       INTEGER NOT NULL,
            media_type TEXT    NOT NULL,
            created    INTEGER NOT NULL
        ) WITHOUT ROWID;
        PRAGMA user_version = 2;
        COMMIT;
        """

    public func lastSequence() throws -> UInt64 {
        UInt64(try db.scalar("SELECT max(seq) FROM events") ?? 0)
    }

    public func firstSequence() throws -> UInt64? {
        try db.scalar("SELECT min(seq) FROM events").map(UInt64.init)
    }

    public func commit(_ batch: WriteBatch) throws {
        if batch.isEmpty { return }
        try writeGate.withLock { try write(batch) }
    }

    /// Gated checkpoint passes that copied every frame, each letting the WAL start over at the next commit.
    public var walRestarts: Int { checkpointer.state.restarts.load(ordering: .relaxed) }

    private func write(_ batch: WriteBatch) throws {
        try begin.run()
        do {
            for entry in batch.events {
                let s = insertEvent
                // Fields read through the entry, not from a copy of its event (which would retain every field).
                s.bind(1, Int64(entry.event.seq))
                s.bind(4, entry.event.correlation)
                s.bind(5, entry.event.causation)
                s.bind(6, entry.event.producer)
                s.bind(7, entry.event.time)
                s.bind(8, entry.event.contentType)
                s.bind(9, entry.event.deadline)
                if !entry.event.headers.isEmpty { s.bind(10, entry.event.headersText) }
                // Id, topic and payload bound in place: the entry holds them until the row is written.
                var id = entry.event.id
                try id.withUTF8 { id in
                    try entry.topic.withUnsafeBufferPointer { topic in
                        try entry.event.payload.withUnsafeBytes { payload in
                            s.bindNoCopy(2, text: id)
                            s.bindNoCopy(3, text: topic)
                            s.bindNoCopy(11, blob: payload)
                            try s.run()
                        }
                    }
                }
                for hash in entry.event.headers.isEmpty ? [] : entry.event.blobHashes {
                    insertBlobRef.bind(1, Int64(entry.event.seq))
                    insertBlobRef.bind(2, hash)
                    try insertBlobRef.run()
                }
            }
            for r in batch.blobRefs {
                insertBlobRef.bind(1, Int64(r.seq))
                insertBlobRef.bind(2, r.hash)
                try insertBlobRef.run()
            }
            for k in batch.keys {
                insertKey.bind(1, k.key)
                insertKey.bind(2, Int64(k.seq))
                insertKey.bind(3, k.time)
                try insertKey.run()
            }
            for g in batch.newGroups {
                insertGroup.bind(1, g.id)
                insertGroup.bind(2, g.name)
                insertGroup.bind(3, g.patterns)
                insertGroup.bind(4, Int64(g.cursor))
                insertGroup.bind(5, g.created)
                insertGroup.bind(6, Int64(g.maxAttempts))
                insertGroup.bind(7, g.ackTimeoutMilliseconds)
                try insertGroup.run()
            }
            for (id, cursor) in batch.cursors {
                updateCursor.bind(1, Int64(cursor))
                updateCursor.bind(2, id)
                try updateCursor.run()
            }
            for (id, seqs) in batch.firstDeliveriesInFlight {
                updateInFlight.bind(1, SequenceRanges.encode(seqs))
                updateInFlight.bind(2, id)
                try updateInFlight.run()
            }
            for change in batch.pending {
                switch change {
                case .delete(let groupID, let seq):
                    deletePending.bind(1, groupID)
                    deletePending.bind(2, Int64(seq))
                    try deletePending.run()
                case .upsert(let p):
                    upsertPending.bind(1, p.groupID)
                    upsertPending.bind(2, Int64(p.seq))
                    upsertPending.bind(3, Int64(p.attempt))
                    upsertPending.bind(4, Int64(bitPattern: p.token))
                    upsertPending.bind(5, p.due)
                    upsertPending.bind(6, p.consumer)
                    upsertPending.bind(7, p.history)
                    try upsertPending.run()
                }
            }
            for d in batch.deadLetters {
                insertDeadLetter.bind(1, d.groupName)
                insertDeadLetter.bind(2, Int64(d.seq))
                insertDeadLetter.bind(3, d.reason)
                insertDeadLetter.bind(4, Int64(d.attempts))
                insertDeadLetter.bind(5, d.history)
                insertDeadLetter.bind(6, d.time)
                try insertDeadLetter.run()
            }
            // Before the parts: a part row is written only if its join's row exists.
            for j in batch.joins {
                let s = upsertJoin
                s.bind(1, j.name)
                s.bind(2, j.correlation)
                s.bind(3, j.status)
                s.bind(4, Int64(j.openSeq))
                s.bind(5, j.openedAt)
                s.bind(6, j.deadline)
                s.bind(7, j.closedAt)
                s.bind(8, j.resultSeq.map { Int64($0) })
                s.bind(9, j.reason)
                s.bind(10, j.parts)
                try s.run()
            }
            for p in batch.joinParts {
                // Only a late part can come for a join whose row is gone; any other part is of a join that is
                // open, so its row is in the log or in this batch, and the guard's lookup would be wasted.
                let s = p.status == "late" ? insertJoinPart : insertOpenJoinPart
                s.bind(1, p.name)
                s.bind(2, p.correlation)
                s.bind(3, p.part)
                s.bind(4, Int64(p.seq))
                s.bind(5, p.status)
                s.bind(6, p.producer)
                s.bind(7, p.attempt.map { Int64($0) })
                s.bind(8, p.receivedAt)
                s.bind(9, p.error)
                try s.run()
            }
            for id in batch.deadLetterDeletes {
                deleteDeadLetter.bind(1, id)
                try deleteDeadLetter.run()
            }
            for b in batch.blobs {
                insertBlob.bind(1, b.hash)
                insertBlob.bind(2, b.size)
                insertBlob.bind(3, b.mediaType)
                insertBlob.bind(4, b.created)
                try insertBlob.run()
            }
            try commitStatement.run()
        } catch {
            try? rollback.run()
            throw error
        }
    }

    public func readEvents(from: UInt64, limit: Int) throws -> [Event] {
        let s = selectEvents
        defer { s.reset() }
        // Clamped: a number from a client must not trap here (the decoders refuse larger ones, this is the floor).
        s.bind(1, Int64(clamping: from))
        s.bind(2, Int64(limit))
        return try Self.events(from: s)
    }

    public func readEvent(seq: UInt64) throws -> Event? {
        let events = try readEvents(from: seq, limit: 1)
        return events.first?.seq == seq ? events.first : nil
    }

    /// Every row `s` yields, decoded as `event(from:)` does; the caller resets `s`.
    static func events(from s: SQLiteStatement) throws -> [Event] {
        var out: [Event] = []
        while try s.step() { out.append(event(from: s)) }
        return out
    }

    /// Decodes a row of `SELECT seq, id, topic, correlation, causation, producer, time, content_type, deadline,
    /// headers, payload`.
    public static func event(from s: SQLiteStatement) -> Event {
        Event(
            seq: UInt64(s.int64(0)), id: s.string(1) ?? "", topic: s.string(2) ?? "", correlation: s.string(3),
            causation: s.string(4), producer: s.string(5), time: s.int64(6), contentType: s.string(7),
            deadline: s.optionalInt64(8), headers: Event.parseHeaders(s.string(9)), payload: s.blob(10))
    }

    public func lookupKey(_ key: String, since: Int64) throws -> UInt64? {
        defer { selectKey.reset() }
        selectKey.bind(1, key)
        selectKey.bind(2, since)
        return try selectKey.step() ? UInt64(selectKey.int64(0)) : nil
    }

    public func pruneKeys(before: Int64) throws -> Int {
        let s = try db.prepare("DELETE FROM idempotency WHERE time < ?")
        s.bind(1, before)
        try writeGate.withLock { try s.run() }
        return db.changes
    }

    public func loadGroups() throws -> [GroupRecord] {
        let s = try db.prepare("SELECT id, name, patterns, cursor, created, max_attempts, ack_timeout_ms, in_flight FROM groups ORDER BY id")
        var out: [GroupRecord] = []
        while try s.step() {
            let name = s.string(1) ?? ""
            let text = s.string(7) ?? ""
            guard let inFlight = SequenceRanges.decode(text) else {
                throw SQLiteError(code: 0, message: "groups.in_flight of group '\(name)' is not a list of sequence ranges: \(text.prefix(80))", context: "load groups from \(db.path)")
            }
            out.append(
                GroupRecord(
                    id: s.int64(0), name: name, patterns: s.string(2) ?? "", cursor: UInt64(s.int64(3)),
                    created: s.int64(4), maxAttempts: Int(s.int64(5)), ackTimeoutMilliseconds: s.int64(6), firstDeliveriesInFlight: inFlight))
        }
        return out
    }

    public func loadPending(groupID: Int64) throws -> [PendingRecord] {
        let s = try db.prepare("SELECT seq, attempt, token, due, consumer, history FROM pending WHERE group_id = ? ORDER BY seq")
        s.bind(1, groupID)
        var out: [PendingRecord] = []
        while try s.step() {
            out.append(
                PendingRecord(
                    groupID: groupID, seq: UInt64(s.int64(0)), attempt: Int(s.int64(1)), token: UInt64(bitPattern: s.int64(2)),
                    due: s.int64(3), consumer: s.string(4), history: s.string(5) ?? ""))
        }
        return out
    }

    public func nextGroupID() throws -> Int64 {
        (try db.scalar("SELECT max(id) FROM groups") ?? 0) + 1
    }

    static let deadLetterColumns = "id, group_name, seq, reason, attempts, history, time"

    static func deadLetterRecord(_ s: SQLiteStatement) -> DeadLetterRecord {
        DeadLetterRecord(
            id: s.int64(0), groupName: s.string(1) ?? "", seq: UInt64(s.int64(2)), reason: s.string(3) ?? "",
            attempts: Int(s.int64(4)), history: s.string(5) ?? "", time: s.int64(6))
    }

    public func deadLetters(group: String?, limit: Int) throws -> [DeadLetterRecord] {
        let s = try db.prepare(
            "SELECT \(Self.deadLetterColumns) FROM dead_letters WHERE ?1 IS NULL OR group_name = ?1 ORDER BY id DESC LIMIT ?2")
        s.bind(1, group)
        s.bind(2, Int64(limit))
        var out: [DeadLetterRecord] = []
        while try s.step() { out.append(Self.deadLetterRecord(s)) }
        return out
    }

    public func deadLetters(group: String, ids: [Int64]) throws -> [DeadLetterRecord] {
        let s = try db.prepare("SELECT \(Self.deadLetterColumns) FROM dead_letters WHERE id = ?1 AND group_name = ?2")
        var out: [DeadLetterRecord] = []
        for id in ids {
            defer { s.reset() }
            s.bind(1, id)
            s.bind(2, group)
            if try s.step() { out.append(Self.deadLetterRecord(s)) }
        }
        return out
    }

    public static let joinColumns = joinColumns(schemaVersion: schemaVersion)

    /// The columns `joinRecord` reads, in a log of `schemaVersion` (before version 5 there is no `parts`).
    static func joinColumns(schemaVersion: Int64) -> String {
        "name, correlation, status, open_seq, opened_at, deadline, closed_at, result_seq, reason, \(schemaVersion >= 5 ? "parts" : "NULL")"
    }

    public static func joinRecord(_ s: SQLiteStatement) -> JoinRecord {
        JoinRecord(
            name: s.string(0) ?? "", correlation: s.string(1) ?? "", status: s.string(2) ?? "", openSeq: UInt64(s.int64(3)),
            openedAt: s.int64(4), deadline: s.int64(5), closedAt: s.optionalInt64(6), resultSeq: s.optionalInt64(7).map { UInt64($0) },
            reason: s.string(8), parts: s.string(9))
    }

    public func openJoins() throws -> [(join: JoinRecord, parts: [JoinPartRecord])] {
        let s = try db.prepare("SELECT \(Self.joinColumns) FROM joins WHERE status = 'open'")
        var joins: [JoinRecord] = []
        while try s.step() { joins.append(Self.joinRecord(s)) }
        let p = try db.prepare(
            "SELECT part, seq, status, producer, attempt, received_at, error FROM join_parts WHERE name = ? AND correlation = ? ORDER BY id")
        return try joins.map { j in
            p.bind(1, j.name)
            p.bind(2, j.correlation)
            defer { p.reset() }
            var parts: [JoinPartRecord] = []
            while try p.step() {
                parts.append(
                    JoinPartRecord(
                        name: j.name, correlation: j.correlation, part: p.string(0) ?? "", seq: UInt64(p.int64(1)), status: p.string(2) ?? "",
                        producer: p.string(3), attempt: p.optionalInt64(4).map { Int($0) }, receivedAt: p.int64(5), error: p.string(6)))
            }
            return (j, parts)
        }
    }

    public func join(name: String, correlation: String) throws -> JoinRecord? {
        let s = selectJoin  // the broker's fallback when its read-only connection cannot answer
        defer { s.reset() }
        s.bind(1, name)
        s.bind(2, correlation)
        return try s.step() ? Self.joinRecord(s) : nil
    }

    public func events(correlation: String, after: UInt64, limit: Int) throws -> [Event] {
        // Prepared once: a restart reads the parts of every open join through it, 100,000 calls at the limit.
        let s = try selectByCorrelation ?? db.prepare(Self.correlationEventsSQL)
        selectByCorrelation = s
        defer { s.reset() }
        s.bind(1, correlation)
        s.bind(2, Int64(clamping: after))
        s.bind(3, Int64(limit))
        return try Self.events(from: s)
    }

    public func blob(hash: String) throws -> BlobRecord? {
        let s = try db.prepare("SELECT hash, size, media_type, created FROM blobs WHERE hash = ?")
        s.bind(1, hash)
        return try s.step() ? BlobRecord(hash: s.string(0) ?? "", size: s.int64(1), mediaType: s.string(2) ?? "", created: s.int64(3)) : nil
    }

    public func removeEvents(below floor: UInt64, olderThan: Int64?, keepNewest: Int?, limit: Int) throws -> Int {
        // Removable: below the floor (nothing still needs it) and past a limit (age, or count beyond the newest N).
        var limits: [String] = []
        if let olderThan { limits.append("time < \(olderThan)") }
        if let keepNewest, let last = try db.scalar("SELECT max(seq) FROM events") {
            limits.append("seq <= \(last - Int64(keepNewest))")
        }
        guard !limits.isEmpty else { return 0 }
        let condition = "seq < \(Int64(floor)) AND (\(limits.joined(separator: " OR ")))"
        return try writeGate.withLock {
            try begin.run()
            do {
                // Every statement finds its rows through an index (the plans are tested): a slice costs what it
                // removes, not the size of the log.
                for sql in Self.retentionStatements(doomed: "SELECT seq FROM events WHERE \(condition) ORDER BY seq LIMIT \(limit)") {
                    try db.execute(sql)
                }
                let removed = db.changes
                try commitStatement.run()
                return removed
            } catch {
                try? rollback.run()
                throw error
            }
        }
    }

    /// Opens a join (its first row) or closes it. Closing updates the row in place: `INSERT OR REPLACE` deleted
    /// the row and its index entries and inserted them again, three more B-tree writes per join than the update,
    /// which changes the `joins_open` entry only. The columns it leaves alone are the same in both records.
    /// An `open` record for a join that already has a row changes nothing: a join never opens twice, and an open
    /// row carrying an earlier join's opening fields would be recovered with that join's expired deadline.
    static let upsertJoinSQL = """
        INSERT INTO joins(name, correlation, status, open_seq, opened_at, deadline, closed_at, result_seq, reason, parts)
        VALUES (?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT(name, correlation) DO UPDATE SET
            status = excluded.status, closed_at = excluded.closed_at, result_seq = excluded.result_seq, reason = excluded.reason,
            parts = excluded.parts
        WHERE excluded.status != 'open'
        """

    /// A part row is written only while its join's row exists (the batch writes its joins first). Retention finds
    /// part rows through their join, so a row written after retention removed the join (a late result the broker
    /// still knew as recently closed) would stay forever.
    static let insertJoinPartSQL = """
        INSERT INTO join_parts(name, correlation, part, seq, status, producer, attempt, received_at, error)
        SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM joins WHERE name = ?1 AND correlation = ?2
        """

    /// What one retention slice runs, in order, given the query that selects the events to remove. The events go
    /// last (so the query selects the same events each time), and the slice reports that statement's count.
    static func retentionStatements(doomed: String) -> [String] {
        [
            """
            DELETE FROM join_parts WHERE (name, correlation) IN (
                SELECT name, correlation FROM joins WHERE status != 'open' AND open_seq IN (\(doomed)))
            """,
            "DELETE FROM joins WHERE status != 'open' AND open_seq IN (\(doomed))",
            "DELETE FROM blob_refs WHERE seq IN (\(doomed))",
            "DELETE FROM events WHERE seq IN (\(doomed))",
        ]
    }

    /// The query plan (`EXPLAIN QUERY PLAN` detail lines) of each retention statement, of the unreferenced-blob
    /// query and of the join-part insert (whose check for the join keeps retention complete), for tests that hold
    /// them to index searches.
    public func retentionPlans() throws -> [[String]] {
        let statements = Self.retentionStatements(doomed: "SELECT seq FROM events WHERE seq < 100 AND (time < 5) ORDER BY seq LIMIT 10")
        return try (statements + [Self.unreferencedBlobs, Self.insertJoinPartSQL]).map { try db.queryPlan($0) }
    }

    static let unreferencedBlobs =
        "SELECT hash FROM blobs WHERE created < ? AND NOT EXISTS (SELECT 1 FROM blob_refs WHERE blob_refs.hash = blobs.hash)"

    public func removeUnreferencedBlobs(createdBefore before: Int64) throws -> [String] {
        let s = try db.prepare(Self.unreferencedBlobs)
        s.bind(1, before)
        var hashes: [String] = []
        while try s.step() { if let h = s.string(0) { hashes.append(h) } }
        s.reset()
        if hashes.isEmpty { return [] }
        let d = try db.prepare("DELETE FROM blobs WHERE hash = ?")
        try writeGate.withLock {
            try begin.run()
            do {
                for h in hashes {
                    d.bind(1, h)
                    try d.run()
                }
                try commitStatement.run()
            } catch {
                try? rollback.run()
                throw error
            }
        }
        return hashes
    }

    public func size() throws -> (events: Int, bytes: Int64) {
        (Int(try db.scalar("SELECT count(*) FROM events") ?? 0), try fileBytes())
    }

    public func fileBytes() throws -> Int64 {
        let pages = try db.scalar("PRAGMA page_count") ?? 0
        let pageSize = try db.scalar("PRAGMA page_size") ?? 4096
        var wal: Int64 = 0
        if let attributes = try? FileManager.default.attributesOfItem(atPath: db.path + "-wal"), let n = attributes[.size] as? NSNumber {
            wal = n.int64Value
        }
        return pages * pageSize + wal
    }
}
