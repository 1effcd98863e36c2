import CSQLite
import ChorusProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A read-only view of a Chorus log for operators (`chorus tail`, `chorus inspect`), safe beside a running broker.
///
/// DESIGN. The file is opened with `SQLITE_OPEN_READONLY` and `PRAGMA query_only`, so this connection can never
/// write behind the broker's back (docs/STORAGE.md, section 6). In WAL mode a reader does not block the writer,
/// but while a read transaction is open a checkpoint cannot recycle the WAL past its snapshot, so every read here
/// is short: a page of at most `pageSize` rows is copied out and the statement reset *before* the caller prints
/// anything. A slow terminal or a paused pipe then holds no snapshot, and memory stays at one page however long
/// the log is.
///
/// Paging uses `seq` (the rowid) as the cursor and reads up to an upper bound the caller takes from
/// `lastSequence()`. The broker commits contiguous ranges of sequence numbers in order, and removes events only
/// from the old end (retention), so once `max(seq)` has been seen every row up to it is committed: a page that
/// ends short has scanned the whole range, and the next poll can start after the bound rather than re-read rows
/// the filters rejected. (A reader far behind may find old rows already removed; it reads on from what is left.)
public final class LogReader {
    /// Rows read per query.
    public static let pageSize = 1000

    /// The log file.
    public let path: String
    let db: SQLiteDatabase
    private var statements: [String: SQLiteStatement] = [:]
    /// The file's schema version (`PRAGMA user_version`): older logs lack some tables and columns.
    private var schemaVersion: Int64 = 0

    static let columns =
        "seq, id, topic, correlation, causation, producer, time, content_type, deadline, headers, payload"

    /// Opens the log at `path` read-only and checks that it is a Chorus log of the schema version this code reads.
    public init(path: String) throws(LogReaderError) {
        self.path = path
        var info = stat()
        if stat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { throw LogReaderError(.missing, path: path, "no such file") }
            throw LogReaderError(.unreadable, path: path, String(cString: strerror(errno)))
        }
        // S_ISDIR, spelled out: the macro does not come through to Swift.
        if (info.st_mode & 0o170000) == 0o040000 { throw LogReaderError(.notALog, path: path, "it is a directory") }
        do {
            db = try SQLiteDatabase(path: path, readOnly: true)
            try db.execute("PRAGMA query_only = 1")
        } catch {
            throw LogReaderError(.unreadable, path: path, error.message)
        }
        try validate()
    }

    private func validate() throws(LogReaderError) {
        let version: Int64
        let tables: Set<String>
        do {
            version = try db.scalar("PRAGMA user_version") ?? 0
            let s = try db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
            var names: Set<String> = []
            while try s.step() { names.insert(s.string(0) ?? "") }
            tables = names
        } catch {
            // SQLITE_NOTADB: some other file. Anything else (permissions, I/O) is a read failure.
            if error.code & 0xFF == SQLITE_NOTADB {
                throw LogReaderError(.notALog, path: path, "not an SQLite database")
            }
            throw LogReaderError(.unreadable, path: path, error.message)
        }
        if version > SQLiteEventStore.schemaVersion {
            throw LogReaderError(
                .notALog, path: path,
                "schema version \(version) is newer than this chorus reads (\(SQLiteEventStore.schemaVersion)); "
                    + "upgrade chorus"
            )
        }
        // Version 1 logs are read as they are: a broker migrates them to the current version when it opens them, but
        // a read-only reader cannot, and every table read here is the same in both.
        if version < 1 {
            throw LogReaderError(
                .notALog, path: path,
                tables.isEmpty ? "an empty SQLite database" : "an SQLite database of some other program")
        }
        schemaVersion = version
        let missing = ["events", "groups", "pending", "dead_letters"].filter { !tables.contains($0) }
        if !missing.isEmpty {
            throw LogReaderError(.notALog, path: path, "no \(missing.joined(separator: ", ")) table")
        }
    }

    private func statement(_ sql: String) throws -> SQLiteStatement {
        if let s = statements[sql] { return s }
        let s = try db.prepare(sql)
        statements[sql] = s
        return s
    }

    /// Whether a join with this name and correlation id is recorded (open or closed) in what is committed.
    public func hasJoin(name: String, correlation: String) throws -> Bool {
        let s = try statement("SELECT 1 FROM joins WHERE name = ? AND correlation = ?")
        defer { s.reset() }
        s.bind(1, name)
        s.bind(2, correlation)
        return try s.step()
    }

    /// The event with this sequence number, if committed and not removed.
    public func event(seq: UInt64) throws -> Event? {
        guard seq <= FrameCoding.maxSequence else { return nil }  // no such row; Int64(seq) would trap
        let s = try statement("SELECT \(Self.columns) FROM events WHERE seq = ?")
        defer { s.reset() }
        s.bind(1, Int64(seq))
        return try s.step() ? SQLiteEventStore.event(from: s) : nil
    }

    /// The sequence number first published with this idempotency key at or after `since` (ms), if committed.
    public func lookupKey(_ key: String, since: Int64) throws -> UInt64? {
        let s = try statement(SQLiteEventStore.keyLookupSQL)
        defer { s.reset() }
        s.bind(1, key)
        s.bind(2, since)
        return try s.step() ? UInt64(s.int64(0)) : nil
    }

    /// Committed events with this correlation id and a sequence number above `after`, in order, at most `limit`.
    public func events(correlation: String, after: UInt64, limit: Int) throws -> [Event] {
        let s = try statement(SQLiteEventStore.correlationEventsSQL)
        defer { s.reset() }
        s.bind(1, correlation)
        s.bind(2, Int64(clamping: after))
        s.bind(3, Int64(limit))
        return try SQLiteEventStore.events(from: s)
    }

    /// The highest sequence number committed so far, 0 when the log is empty.
    public func lastSequence() throws -> UInt64 {
        UInt64(try db.scalar("SELECT max(seq) FROM events") ?? 0)
    }

    /// Reads forward: the events with `after < seq <= through` that pass `filter`, from at most `limit` rows that
    /// pass its SQL conditions, in order. Continue from `scannedThrough`; the range is done when it reaches
    /// `through`.
    public func page(after: UInt64, through: UInt64, filter: LogFilter, limit: Int = LogReader.pageSize) throws
        -> LogPage
    {
        let lower = max(after, filter.fromSequence.map { $0 > 0 ? $0 - 1 : 0 } ?? 0)
        guard lower < through, limit > 0 else { return LogPage(events: [], scannedThrough: max(after, through)) }
        let conditions = filter.sqlConditions
        let s = try statement(
            "SELECT \(Self.columns) FROM events WHERE seq > ?1 AND seq <= ?2\(conditions.sql) "
                + "ORDER BY seq LIMIT ?\(conditions.values.count + 3)"
        )
        defer { s.reset() }
        s.bind(1, Int64(clamping: lower))
        s.bind(2, Int64(clamping: through))
        for (i, value) in conditions.values.enumerated() { value.bind(to: s, at: Int32(i + 3)) }
        s.bind(Int32(conditions.values.count + 3), Int64(limit))
        var events: [Event] = []
        var rows = 0
        var last = lower
        while try s.step() {
            rows += 1
            last = UInt64(s.int64(0))
            // Match the topic on the column's bytes before decoding the row (and copying its payload).
            if let topics = filter.topics, !topics.matches(s.blob(2)) { continue }
            events.append(SQLiteEventStore.event(from: s))
        }
        return LogPage(events: events, scannedThrough: rows < limit ? through : last)
    }

    /// The sequence number to read forward from (with `page`) to get the last `count` events up to `through`
    /// that pass `filter`: the `count`-th match counting back from `through`, or the start of the filter's range
    /// when fewer match. Scans backwards reading only `seq` and `topic`, a page at a time.
    public func startOfLast(_ count: Int, filter: LogFilter, through: UInt64) throws -> UInt64 {
        let floor = max(filter.fromSequence ?? 1, 1)
        guard count > 0 else { return through + 1 }
        guard floor <= through else { return floor }
        let conditions = filter.sqlConditions
        let s = try statement(
            "SELECT seq, topic FROM events WHERE seq >= ?1 AND seq <= ?2\(conditions.sql) "
                + "ORDER BY seq DESC LIMIT ?\(conditions.values.count + 3)"
        )
        var upper = through
        var found = 0
        while true {
            s.bind(1, Int64(clamping: floor))
            s.bind(2, Int64(clamping: upper))
            for (i, value) in conditions.values.enumerated() { value.bind(to: s, at: Int32(i + 3)) }
            s.bind(Int32(conditions.values.count + 3), Int64(Self.pageSize))
            var rows = 0
            var last = upper
            defer { s.reset() }
            while try s.step() {
                rows += 1
                last = UInt64(s.int64(0))
                if let topics = filter.topics, !topics.matches(s.blob(1)) { continue }
                found += 1
                if found == count { return last }
            }
            if rows < Self.pageSize || last <= floor { return floor }
            upper = last - 1
        }
    }

    /// Everything the log knows about one correlation id: its events in `seq` order, the dead letters and the
    /// unsettled deliveries of those events, read in one snapshot.
    public func story(correlation: String) throws -> CorrelationStory {
        // One read transaction, so the three tables agree; it ends before the caller prints anything.
        try db.execute("BEGIN")
        defer { try? db.execute("COMMIT") }
        var story = CorrelationStory(correlation: correlation)
        // Without an index on correlation this is a scan of the log (see docs/CLI-OPERATORS.md).
        let events = try statement("SELECT \(Self.columns) FROM events WHERE correlation = ?1 ORDER BY seq")
        defer { events.reset() }
        events.bind(1, correlation)
        while try events.step() { story.events.append(SQLiteEventStore.event(from: events)) }
        // CROSS JOIN keeps the (small) dead-letter and pending tables as the outer loop, each row looking its event
        // up by primary key, instead of scanning the log once per row.
        let dead = try statement(
            """
            SELECT d.id, d.group_name, d.seq, d.reason, d.attempts, d.history, d.time
            FROM dead_letters d CROSS JOIN events e ON e.seq = d.seq WHERE e.correlation = ?1 ORDER BY d.id
            """)
        defer { dead.reset() }
        dead.bind(1, correlation)
        while try dead.step() {
            story.deadLetters.append(
                DeadLetterRecord(
                    id: dead.int64(0), groupName: dead.string(1) ?? "", seq: UInt64(dead.int64(2)),
                    reason: dead.string(3) ?? "",
                    attempts: Int(dead.int64(4)), history: dead.string(5) ?? "", time: dead.int64(6)))
        }
        let pending = try statement(
            """
            SELECT g.name, p.group_id, p.seq, p.attempt, p.token, p.due, p.consumer, p.history
            FROM pending p CROSS JOIN events e ON e.seq = p.seq JOIN groups g ON g.id = p.group_id
            WHERE e.correlation = ?1 ORDER BY p.seq, g.name
            """)
        defer { pending.reset() }
        pending.bind(1, correlation)
        while try pending.step() {
            let record = PendingRecord(
                groupID: pending.int64(1), seq: UInt64(pending.int64(2)), attempt: Int(pending.int64(3)),
                token: UInt64(bitPattern: pending.int64(4)), due: pending.int64(5), consumer: pending.string(6),
                history: pending.string(7) ?? "")
            story.pending.append(GroupPending(groupName: pending.string(0) ?? "", record: record))
        }
        // First deliveries in flight have no pending row (schema version 4): they are in their group's list.
        if schemaVersion >= 4 && !story.events.isEmpty {
            let seqs = Set(story.events.map(\.seq))
            let groups = try statement("SELECT id, name, in_flight FROM groups WHERE in_flight != '' ORDER BY name")
            defer { groups.reset() }
            while try groups.step() {
                let text = groups.string(2) ?? ""
                guard let inFlight = SequenceRanges.decode(text) else {
                    // The broker refuses to start on such a row; the story must not quietly leave deliveries out.
                    throw LogReaderError(
                        .unreadable, path: path, "groups.in_flight of group '\(groups.string(1) ?? "")' is not a list of sequence ranges: \(text.prefix(80))")
                }
                for seq in inFlight where seqs.contains(seq) {
                    let record = PendingRecord(groupID: groups.int64(0), seq: seq, attempt: 1, token: 0, due: 0, consumer: nil, history: "")
                    story.pending.append(GroupPending(groupName: groups.string(1) ?? "", record: record, firstDelivery: true))
                }
            }
            story.pending.sort { ($0.record.seq, $0.groupName) < ($1.record.seq, $1.groupName) }
        }
        // Joins came with schema version 2; a version-1 log has none.
        guard try db.scalar("SELECT count(*) FROM sqlite_master WHERE name = 'joins'") == 1 else { return story }
        // Both tables are keyed by join name, then correlation: looked up name by name, each is an index search.
        // A search by correlation alone would read every join ever recorded (0.15 s at 200,000 joins, growing).
        let joins = try statement(joinLookup)
        let parts = try statement(Self.partLookup)
        var partsByID: [(Int64, JoinPartRecord)] = []
        for name in try joinNames() {
            defer { joins.reset(); parts.reset() }
            joins.bind(1, name)
            joins.bind(2, correlation)
            while try joins.step() { story.joins.append(SQLiteEventStore.joinRecord(joins)) }
            parts.bind(1, name)
            parts.bind(2, correlation)
            while try parts.step() {
                partsByID.append((
                    parts.int64(0),
                    JoinPartRecord(
                        name: name, correlation: correlation, part: parts.string(1) ?? "", seq: UInt64(parts.int64(2)),
                        status: parts.string(3) ?? "", producer: parts.string(4), attempt: parts.optionalInt64(5).map { Int($0) },
                        receivedAt: parts.int64(6), error: parts.string(7))
                ))
            }
        }
        story.joins.sort { $0.openedAt < $1.openedAt }
        // Rows in arrival order; then, since schema version 5, the parts a closed join accepted as `ok`, which
        // have no row: their events are in the story, named by the join's `parts` column.
        var joinParts = partsByID.sorted { $0.0 < $1.0 }.map(\.1)
        // A join open while its log was upgraded to version 5 has an `ok` row and the column entry for that part.
        let okRows = joinParts.filter { $0.status == "ok" }
        let accepted = try okParts(of: story.joins, events: story.events).filter { p in
            !okRows.contains { $0.name == p.name && $0.correlation == p.correlation && $0.part == p.part }
        }
        if !accepted.isEmpty {
            joinParts = (joinParts + accepted).enumerated()
                .sorted { ($0.element.receivedAt, $0.offset) < ($1.element.receivedAt, $1.offset) }.map(\.element)
        }
        story.joinParts = joinParts
        return story
    }

    /// The `ok` part records of closed joins, from their `parts` column (a JSON object of part name to result
    /// `seq`, read with SQLite's `json_each`) and the result events themselves.
    func okParts(of joins: [JoinRecord], events: [Event]) throws -> [JoinPartRecord] {
        let closed = joins.filter { $0.parts != nil }
        guard !closed.isEmpty else { return [] }
        let each = try statement("SELECT key, value FROM json_each(?1)")
        let bySeq = Dictionary(events.map { ($0.seq, $0) }, uniquingKeysWith: { a, _ in a })
        var out: [JoinPartRecord] = []
        for j in closed {
            defer { each.reset() }
            each.bind(1, j.parts)
            while try each.step() {
                let seq = UInt64(clamping: each.int64(1))
                let event = bySeq[seq]
                out.append(
                    JoinPartRecord(
                        name: j.name, correlation: j.correlation, part: each.string(0) ?? "", seq: seq, status: "ok",
                        producer: event?.producer, attempt: event?.header("attempt").flatMap { Int($0) },
                        receivedAt: event?.time ?? j.closedAt ?? j.openedAt, error: nil))
            }
        }
        return out
    }

    var joinLookup: String { "SELECT \(SQLiteEventStore.joinColumns(schemaVersion: schemaVersion)) FROM joins WHERE name = ?1 AND correlation = ?2" }
    static let partLookup =
        "SELECT id, part, seq, status, producer, attempt, received_at, error FROM join_parts WHERE name = ?1 AND correlation = ?2"
    static let nextJoinName = "SELECT name FROM joins WHERE name > ?1 ORDER BY name LIMIT 1"

    /// The query plans (`EXPLAIN QUERY PLAN` detail lines) of the join lookups of `story`, for a test that holds
    /// them to index searches.
    public func storyJoinPlans() throws -> [[String]] {
        try [joinLookup, Self.partLookup, Self.nextJoinName].map { try db.queryPlan($0) }
    }

    /// The names of the joins in the log, each found by one search of the `joins` primary key (skipping from
    /// name to name), so a log of a few join kinds and millions of joins costs a few searches.
    func joinNames() throws -> [String] {
        let next = try statement(Self.nextJoinName)
        var names: [String] = []
        var after = ""
        while names.count < 10_000 {
            defer { next.reset() }
            next.bind(1, after)
            guard try next.step(), let name = next.string(0) else { break }
            names.append(name)
            after = name
        }
        return names
    }
}

/// A page of events read forward, and how far the log was scanned to find them.
public struct LogPage: Equatable, Sendable {
    /// The matching events, in `seq` order.
    public var events: [Event]
    /// Every row up to this sequence number has been looked at; read on after it.
    public var scannedThrough: UInt64

    public init(events: [Event], scannedThrough: UInt64) {
        self.events = events
        self.scannedThrough = scannedThrough
    }
}

/// The events, dead letters and unsettled deliveries of one correlation id.
public struct CorrelationStory: Sendable {
    public var correlation: String
    /// Every event with the correlation id, dead-letter events (`$dlq.GROUP`) included, in `seq` order.
    public var events: [Event] = []
    /// Dead letters of those events, oldest first.
    public var deadLetters: [DeadLetterRecord] = []
    /// Deliveries of those events not yet settled, by `seq` then group.
    public var pending: [GroupPending] = []
    /// Joins this correlation id opened, open or closed.
    public var joins: [JoinRecord] = []
    /// Every part result those joins saw, in arrival order: ok, failed, timeout, duplicate, late.
    public var joinParts: [JoinPartRecord] = []

    public init(correlation: String) { self.correlation = correlation }
}

/// A pending row with the name of its group.
public struct GroupPending: Equatable, Sendable {
    public var groupName: String
    public var record: PendingRecord
    /// A first delivery in flight, known from the group's list (`groups.in_flight`), not from a pending row: its
    /// consumer and lease are kept only in the broker's memory, and `record` holds just the seq and attempt 1.
    public var firstDelivery: Bool

    public init(groupName: String, record: PendingRecord, firstDelivery: Bool = false) {
        self.groupName = groupName
        self.record = record
        self.firstDelivery = firstDelivery
    }
}

/// One failed delivery attempt: a line of a `history` column (docs/STORAGE.md, "History lines").
public struct DeliveryAttempt: Equatable, Sendable {
    /// The attempt number that failed.
    public var attempt: Int
    /// When it failed, ms since the epoch.
    public var time: Int64
    /// The consumer's `HELLO` name; nil when it gave none.
    public var consumer: String?
    /// `nacked`, `rejected`, `timeout` or `released`.
    public var outcome: String
    public var reason: String

    public init(attempt: Int, time: Int64, consumer: String?, outcome: String, reason: String) {
        self.attempt = attempt
        self.time = time
        self.consumer = consumer
        self.outcome = outcome
        self.reason = reason
    }

    /// Parses a `history` column: one attempt per line, five tab-separated fields. A malformed line is kept with
    /// what could be read (attempt 0, time 0) rather than dropped, so an operator still sees it.
    public static func parse(history: String) -> [DeliveryAttempt] {
        history.split(separator: "\n").map { line in
            let f = line.split(separator: "\t", maxSplits: 4, omittingEmptySubsequences: false).map(String.init)
            func field(_ i: Int) -> String { i < f.count ? f[i] : "" }
            return DeliveryAttempt(
                attempt: Int(field(0)) ?? 0, time: Int64(field(1)) ?? 0, consumer: field(2).isEmpty ? nil : field(2),
                outcome: field(3), reason: f.count == 1 ? String(line) : field(4))
        }
    }
}

/// Why a log could not be read.
public struct LogReaderError: Error, CustomStringConvertible, Sendable {
    /// What went wrong; codes may be added.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let description: String
        /// No file at the path.
        public static let missing = Code(description: "missing")
        /// A file that is not a Chorus log of a version this code reads.
        public static let notALog = Code(description: "not a Chorus log")
        /// A file that could not be opened or read (permissions, I/O).
        public static let unreadable = Code(description: "unreadable")
    }

    public let code: Code
    public let path: String
    public let message: String

    public init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    public var description: String {
        switch code {
        case .missing: "no Chorus log at \(path): start a broker or pass --log"
        case .notALog: "\(path) is not a Chorus log: \(message)"
        default: "cannot read \(path): \(message)"
        }
    }
}
