import CSQLite

/// An error from SQLite: its result code and message, plus what was being done.
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended SQLite result code (`SQLITE_FULL`, `SQLITE_BUSY`, ...).
    public let code: Int32
    public let message: String
    public let context: String

    public var description: String { "\(context): \(message) (SQLite code \(code))" }
}

/// One SQLite connection, owned by one thread.
///
/// Opened with `SQLITE_OPEN_NOMUTEX`: the connection is only used from the thread (or thread-confined object)
/// that opened it, so SQLite's own serialization would only cost time. Not `Sendable` for the same reason.
public final class SQLiteDatabase {
    let handle: OpaquePointer
    /// The file path this connection opened.
    public let path: String

    /// Set once, before the first connection opens SQLite (CSQLite/shim.h says why).
    private static let configured: Int32 = chorus_sqlite3_disable_memstatus()

    /// Whether SQLite's memory statistics are off. Not if something started SQLite before the first connection
    /// opened here (then `sqlite3_config` refuses, and allocations take the global mutex again: slower, not wrong).
    public static var memoryStatisticsAreOff: Bool { configured == SQLITE_OK }

    /// What SQLite counts as allocated, process-wide: 0 while its memory statistics are off, as they should be.
    static var memoryInUse: Int64 { sqlite3_memory_used() }

    /// Opens (or creates, unless `readOnly`) the database at `path`.
    public init(path: String, readOnly: Bool = false) throws(SQLiteError) {
        _ = Self.configured
        var db: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: message, context: "open \(path)")
        }
        sqlite3_extended_result_codes(db, 1)
        // Another connection (an operator's `sqlite3` shell, `chorus tail`) may hold a lock briefly.
        sqlite3_busy_timeout(db, 5000)
        self.handle = db
        self.path = path
    }

    deinit { sqlite3_close_v2(handle) }

    func error(_ rc: Int32, _ context: String) -> SQLiteError {
        SQLiteError(code: rc, message: String(cString: sqlite3_errmsg(handle)), context: context)
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(SQLiteError) {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if rc != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(errorMessage)
            throw SQLiteError(code: rc, message: message, context: String(sql.prefix(80)))
        }
    }

    /// Prepares a statement for repeated use.
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, "prepare \(sql.prefix(80))") }
        return SQLiteStatement(stmt, database: self)
    }

    /// Runs a passive WAL checkpoint: copies what it can into the database file without waiting for readers or
    /// the writer. Returns the frames in the WAL and how many of them are now copied, or nil when another
    /// connection was checkpointing.
    public func checkpointPassive() throws(SQLiteError) -> (walFrames: Int, checkpointed: Int)? {
        var log: Int32 = 0
        var done: Int32 = 0
        let rc = sqlite3_wal_checkpoint_v2(handle, nil, SQLITE_CHECKPOINT_PASSIVE, &log, &done)
        if rc & 0xff == SQLITE_BUSY { return nil }
        guard rc == SQLITE_OK else { throw error(rc, "wal_checkpoint(PASSIVE)") }
        return (Int(log), Int(done))
    }

    /// The value of a single-row, single-column integer query, or nil when it returns no row or NULL.
    public func scalar(_ sql: String) throws(SQLiteError) -> Int64? {
        let stmt = try prepare(sql)
        guard try stmt.step() else { return nil }
        return stmt.isNull(0) ? nil : stmt.int64(0)
    }

    /// The detail lines of `EXPLAIN QUERY PLAN` for `sql` (`SEARCH ... USING INDEX ...`, `SCAN ...`), for tests
    /// that hold a query to index searches.
    public func queryPlan(_ sql: String) throws(SQLiteError) -> [String] {
        let stmt = try prepare("EXPLAIN QUERY PLAN " + sql)
        var lines: [String] = []
        while try stmt.step() { lines.append(stmt.string(3) ?? "") }
        return lines
    }

    /// Rows changed by the last statement.
    public var changes: Int { Int(sqlite3_changes(handle)) }
}

/// A prepared statement. Bind with 1-based indexes, read columns with 0-based ones (as SQLite does).
public final class SQLiteStatement {
    let stmt: OpaquePointer
    unowned let database: SQLiteDatabase

    init(_ stmt: OpaquePointer, database: SQLiteDatabase) {
        self.stmt = stmt
        self.database = database
    }

    deinit { sqlite3_finalize(stmt) }

    // SQLITE_TRANSIENT is a macro the importer drops: it tells SQLite to copy the bytes before returning.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Resets the statement and clears its bindings.
    public func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    public func bind(_ index: Int32, _ value: Int64) { sqlite3_bind_int64(stmt, index, value) }
    public func bind(_ index: Int32, _ value: Int64?) {
        if let value { sqlite3_bind_int64(stmt, index, value) } else { sqlite3_bind_null(stmt, index) }
    }
    public func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(stmt, index)
            return
        }
        var v = value
        v.withUTF8 { buf in
            _ = sqlite3_bind_text(stmt, index, buf.baseAddress.map { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) }, Int32(buf.count), Self.transient)
        }
    }
    public func bind(_ index: Int32, blob: [UInt8]) {
        _ = blob.withUnsafeBytes { buf in
            // An empty Swift array may have no base address; SQLite needs a non-NULL pointer for a zero-length blob.
            if buf.count == 0 {
                sqlite3_bind_zeroblob(stmt, index, 0)
            } else {
                sqlite3_bind_blob(stmt, index, buf.baseAddress, Int32(buf.count), Self.transient)
            }
        }
    }

    /// Binds text SQLite does not copy: `bytes` must stay valid until `run()` (or `reset()`), which clears the
    /// binding. For the append path, where copying every event's id, topic and payload cost three allocations.
    public func bindNoCopy(_ index: Int32, text bytes: UnsafeBufferPointer<UInt8>) {
        // A non-NULL pointer even for empty text: NULL would bind SQL NULL.
        let empty: StaticString = ""
        let pointer = bytes.baseAddress.map { UnsafeRawPointer($0) } ?? UnsafeRawPointer(empty.utf8Start)
        sqlite3_bind_text(stmt, index, pointer.assumingMemoryBound(to: CChar.self), Int32(bytes.count), nil)
    }

    /// Binds a blob SQLite does not copy: `bytes` must stay valid until `run()` (or `reset()`).
    public func bindNoCopy(_ index: Int32, blob bytes: UnsafeRawBufferPointer) {
        if let base = bytes.baseAddress, bytes.count > 0 {
            sqlite3_bind_blob(stmt, index, base, Int32(bytes.count), nil)
        } else {
            sqlite3_bind_zeroblob(stmt, index, 0)
        }
    }

    /// Steps once: true when a row is available, false when done.
    @discardableResult
    public func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw database.error(rc, "step")
    }

    /// Steps to completion, then resets.
    public func run() throws(SQLiteError) {
        defer { reset() }
        while try step() {}
    }

    public func isNull(_ column: Int32) -> Bool { sqlite3_column_type(stmt, column) == SQLITE_NULL }
    public func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }
    public func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }
    public func string(_ column: Int32) -> String? {
        guard let p = sqlite3_column_text(stmt, column) else { return nil }
        let n = Int(sqlite3_column_bytes(stmt, column))
        return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
    }
    public func blob(_ column: Int32) -> [UInt8] {
        let n = Int(sqlite3_column_bytes(stmt, column))
        guard n > 0, let p = sqlite3_column_blob(stmt, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}
