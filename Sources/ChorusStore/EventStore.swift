import ChorusProtocol

/// The broker's one narrow door to storage.
///
/// The broker writes only through `commit(_:)` (one transaction per loop iteration) and reads through the rest.
/// SQLite implements it today; a store on a shared PostgreSQL server, for more than one broker, would implement
/// the same protocol.
public protocol EventStore: AnyObject {
    /// The highest sequence number in the log, 0 when empty.
    func lastSequence() throws -> UInt64
    /// The lowest sequence number still in the log, nil when empty.
    func firstSequence() throws -> UInt64?
    /// Commits a batch atomically: all of it or none.
    func commit(_ batch: WriteBatch) throws
    /// Up to `limit` events with `seq >= from`, in order.
    func readEvents(from: UInt64, limit: Int) throws -> [Event]
    /// One event, if still in the log.
    func readEvent(seq: UInt64) throws -> Event?
    /// The sequence number first published with `key` at or after `since` (ms), if any.
    func lookupKey(_ key: String, since: Int64) throws -> UInt64?
    /// Forgets idempotency keys older than `before` (ms); returns how many.
    func pruneKeys(before: Int64) throws -> Int
    /// Every group.
    func loadGroups() throws -> [GroupRecord]
    /// Every pending row of a group.
    func loadPending(groupID: Int64) throws -> [PendingRecord]
    /// The next free group id.
    func nextGroupID() throws -> Int64
    /// Dead letters, newest first, optionally of one group.
    func deadLetters(group: String?, limit: Int) throws -> [DeadLetterRecord]
    /// The dead letters of `group` with these ids (those that exist), by primary key.
    func deadLetters(group: String, ids: [Int64]) throws -> [DeadLetterRecord]
    /// Every join still open, with the part results recorded for it.
    func openJoins() throws -> [(join: JoinRecord, parts: [JoinPartRecord])]
    /// One join, open or closed.
    func join(name: String, correlation: String) throws -> JoinRecord?
    /// Events with this correlation id and `seq > after`, in order.
    func events(correlation: String, after: UInt64, limit: Int) throws -> [Event]
    /// A stored blob's record.
    func blob(hash: String) throws -> BlobRecord?
    /// Removes events with `seq < floor` that are older than `olderThan` (ms) or beyond the newest `keepNewest`,
    /// at most `limit` at a time, with the join rows of closed joins they opened. Returns how many events went.
    func removeEvents(below floor: UInt64, olderThan: Int64?, keepNewest: Int?, limit: Int) throws -> Int
    /// Blob records created before `before` (ms) that no remaining event references; their rows are deleted.
    func removeUnreferencedBlobs(createdBefore before: Int64) throws -> [String]
    /// Events in the log (a count over the whole log: for `stats`, not for every metrics scrape) and the bytes of
    /// the database file with its WAL.
    func size() throws -> (events: Int, bytes: Int64)
    /// The bytes of the database file with its WAL, without counting events.
    func fileBytes() throws -> Int64
}
