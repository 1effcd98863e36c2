import ChorusProtocol

/// How a consumer group is stored: its patterns, position and delivery settings.
public struct GroupRecord: Equatable, Sendable {
    public var id: Int64
    public var name: String
    /// Patterns joined by newlines.
    public var patterns: String
    /// The next sequence number this group has not yet looked at.
    public var cursor: UInt64
    public var created: Int64
    public var maxAttempts: Int
    public var ackTimeoutMilliseconds: Int64
    /// First deliveries in flight when the group was last written: attempt 1, never failed, so they have no
    /// pending row (`groups.in_flight`, docs/STORAGE.md). A restarted broker releases them like in-flight rows.
    public var firstDeliveriesInFlight: [UInt64]

    public init(
        id: Int64, name: String, patterns: String, cursor: UInt64, created: Int64, maxAttempts: Int, ackTimeoutMilliseconds: Int64,
        firstDeliveriesInFlight: [UInt64] = []
    ) {
        self.firstDeliveriesInFlight = firstDeliveriesInFlight
        self.id = id
        self.name = name
        self.patterns = patterns
        self.cursor = cursor
        self.created = created
        self.maxAttempts = maxAttempts
        self.ackTimeoutMilliseconds = ackTimeoutMilliseconds
    }
}

/// One event a group has taken from the log but not yet settled: in flight to a consumer or waiting to retry.
public struct PendingRecord: Equatable, Sendable {
    public var groupID: Int64
    public var seq: UInt64
    /// Attempts made so far (the delivery in flight counts).
    public var attempt: Int
    /// The current attempt's token, 0 when none is in flight.
    public var token: UInt64
    /// When in flight: lease expiry; when waiting: earliest retry. Milliseconds since the epoch.
    public var due: Int64
    /// The consumer holding it, when in flight.
    public var consumer: String?
    /// One line per failed attempt: `attempt<TAB>time<TAB>consumer<TAB>outcome<TAB>reason`.
    public var history: String

    public init(groupID: Int64, seq: UInt64, attempt: Int, token: UInt64, due: Int64, consumer: String?, history: String) {
        self.groupID = groupID
        self.seq = seq
        self.attempt = attempt
        self.token = token
        self.due = due
        self.consumer = consumer
        self.history = history
    }
}

/// A dead-lettered event: where it came from, why, and every failed attempt.
public struct DeadLetterRecord: Equatable, Sendable {
    public var id: Int64
    public var groupName: String
    public var seq: UInt64
    public var reason: String
    public var attempts: Int
    public var history: String
    public var time: Int64

    public init(id: Int64 = 0, groupName: String, seq: UInt64, reason: String, attempts: Int, history: String, time: Int64) {
        self.id = id
        self.groupName = groupName
        self.seq = seq
        self.reason = reason
        self.attempts = attempts
        self.history = history
        self.time = time
    }
}

/// Everything one broker loop iteration writes, committed in one transaction (the group commit).
public struct WriteBatch: Sendable {
    /// New events with their sequence numbers assigned.
    public var events: [LogEntry] = []
    /// Idempotency keys of the new events.
    public var keys: [(key: String, seq: UInt64, time: Int64)] = []
    /// Groups to create.
    public var newGroups: [GroupRecord] = []
    /// Group positions that moved.
    public var cursors: [Int64: UInt64] = [:]
    /// Groups whose first deliveries in flight changed: all of them now, in any order (`groups.in_flight`). A first
    /// delivery has no pending row until it fails; this list is how the log knows it was made.
    public var firstDeliveriesInFlight: [Int64: [UInt64]] = [:]
    /// Pending rows to insert, replace or delete, applied in this order (a retry then a dead letter of the same
    /// event in one batch must end deleted).
    public var pending: [PendingChange] = []
    /// Dead letters to record.
    public var deadLetters: [DeadLetterRecord] = []
    /// Joins opened or closed (insert or replace), in order.
    public var joins: [JoinRecord] = []
    /// Join part results to record. One whose join has no row, neither in the log nor in `joins`, is not written:
    /// retention finds part rows through their join and would never remove it.
    public var joinParts: [JoinPartRecord] = []
    /// Blobs whose files are written and synced.
    public var blobs: [BlobRecord] = []
    /// Dead letters removed (redriven or purged), by id.
    public var deadLetterDeletes: [Int64] = []
    /// Blobs named by events of this batch other than in a `blob` header (a merged record names its parts'
    /// blobs in its payload); the `blob` headers of `events` are recorded without being listed here.
    public var blobRefs: [(seq: UInt64, hash: String)] = []

    public init() {}

    /// Empties the batch but keeps its arrays' storage, so the next iteration's batch does not grow its arrays
    /// (some hundreds of kilobytes under load) from nothing again.
    public mutating func removeAll() {
        events.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        newGroups.removeAll(keepingCapacity: true)
        cursors.removeAll(keepingCapacity: true)
        firstDeliveriesInFlight.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        deadLetters.removeAll(keepingCapacity: true)
        joins.removeAll(keepingCapacity: true)
        joinParts.removeAll(keepingCapacity: true)
        blobs.removeAll(keepingCapacity: true)
        deadLetterDeletes.removeAll(keepingCapacity: true)
        blobRefs.removeAll(keepingCapacity: true)
    }

    public var isEmpty: Bool {
        events.isEmpty && keys.isEmpty && newGroups.isEmpty && cursors.isEmpty && firstDeliveriesInFlight.isEmpty && pending.isEmpty && deadLetters.isEmpty
            && joins.isEmpty && joinParts.isEmpty && blobs.isEmpty && deadLetterDeletes.isEmpty && blobRefs.isEmpty
    }
}

/// One change to the pending table.
public enum PendingChange: Equatable, Sendable {
    /// Insert or replace the row of (group, seq).
    case upsert(PendingRecord)
    /// Delete the row of (group, seq): the event is settled or dead-lettered.
    case delete(groupID: Int64, seq: UInt64)
}

/// How hard a commit is made durable (SQLite `PRAGMA synchronous` in WAL mode).
public enum Durability: String, Sendable, CaseIterable {
    /// WAL synced at checkpoints only: survives a crash of the broker (kill -9), may lose the last commits on
    /// power loss or an OS crash.
    case normal
    /// WAL synced at every commit: survives power loss too.
    case full
}
