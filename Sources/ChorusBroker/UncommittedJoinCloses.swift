/// The joins closed by writes not yet committed: those in the write batch being built and those in the commit in
/// flight.
///
/// WHY. Whether a join was ever recorded is asked of the read-only connection, which sees committed writes only,
/// and a join that closed is no longer in the broker's map of open joins. For the joins closed but not yet
/// committed this set is the only record: without it a repeat of the request would open the join a second time
/// (two merged records for one correlation id) and a late part would go unrecorded.
///
/// It replaced a set of the 10,000 joins closed last. That one cost a twentieth of the broker thread under load
/// (two inserts and a removal per join, each hashing two strings, in a table too large for the cache), and it
/// was wrong whenever one commit closed more joins than it held, which a burst of timeouts after a restart can.
/// This one holds exactly the uncommitted closes, so it is bounded by what one write batch closes. A late part of
/// a join closed earlier is found by the read-only connection: one primary-key lookup per late part. Late parts
/// are rare, except in k-of-n joins (`need`), where each part the join did not wait for arrives late.
///
/// A pure value, driven by the broker at the three points where its batches change hands.
struct UncommittedJoinCloses {
    /// Closed in the batch being built.
    private var building: Set<JoinKey> = []
    /// Closed in the batch the commit thread is committing.
    private var committing: Set<JoinKey> = []

    /// How many joins are closed and not yet committed.
    var count: Int { building.count + committing.count }

    func contains(_ key: JoinKey) -> Bool {
        (!building.isEmpty && building.contains(key)) || (!committing.isEmpty && committing.contains(key))
    }

    /// A join closed in the batch being built.
    mutating func insert(_ key: JoinKey) {
        building.insert(key)
    }

    /// The batch being built went to the commit thread; the previous commit must have finished.
    mutating func batchSubmitted() {
        precondition(committing.isEmpty, "a commit is still in flight")
        swap(&building, &committing)
    }

    /// The commit in flight finished: the read-only connection sees its joins.
    mutating func commitFinished() {
        committing.removeAll(keepingCapacity: committing.count <= Self.keptCapacity)
    }

    /// The batch being built was committed on the broker thread.
    mutating func batchCommittedInline() {
        building.removeAll(keepingCapacity: building.count <= Self.keptCapacity)
    }

    /// Storage kept for reuse up to this many keys: a burst (timeouts after a restart can close 100,000 joins in
    /// one batch) gives its memory back instead of keeping it for the life of the process.
    static let keptCapacity = 4096

    /// The storage the two sets hold now, in keys (for tests).
    var capacity: Int { building.capacity + committing.capacity }
}
