import ChorusProtocol
import ChorusStore

/// A consumer group: its patterns, position in the log, members and unsettled deliveries.
///
/// Owned by the broker thread. Memory is bounded: `pending` never exceeds the group's `maxPending` (the group
/// stops taking new events from the log until deliveries settle), and `lookahead` holds at most one page.
final class ConsumerGroup {
    let id: Int64
    let name: String
    let nameBytes: [UInt8]
    let patterns: TopicPatternSet
    /// The next sequence number this group has not looked at.
    var cursor: UInt64
    var cursorDirty = false
    /// Deliveries in flight at their first attempt, with nothing failed yet (`PendingDelivery.isUnfailedFirstDelivery`):
    /// they have no pending row, and the log keeps this set instead (`groups.in_flight`). At most
    /// `Broker.firstDeliveriesListLimit`; past it a first delivery gets a row like any other.
    var firstDeliveriesInFlight = FirstDeliveries()
    /// Whether `firstDeliveriesInFlight` changed since the group was last written.
    var firstDeliveriesDirty = false
    var maxAttempts: Int
    var ackTimeout: Int64
    let maxPending: Int
    var members: [Subscription] = []
    private var nextMember = 0
    /// Unsettled deliveries by sequence number.
    var pending: [UInt64: PendingDelivery] = [:]
    /// Waiting deliveries that are due, oldest first (may hold stale entries; checked on use).
    private var ready: [UInt64] = []
    private var readyHead = 0
    /// Events read ahead from the store for a group that is behind the in-memory window.
    var lookahead: [LogEntry] = []
    var lookaheadHead = 0

    // Counters for stats.
    var delivered: UInt64 = 0
    var acked: UInt64 = 0
    var redelivered: UInt64 = 0
    var deadLettered: UInt64 = 0

    init(record: GroupRecord, patterns: TopicPatternSet, maxPending: Int) {
        id = record.id
        name = record.name
        nameBytes = Array(record.name.utf8)
        self.patterns = patterns
        cursor = record.cursor
        maxAttempts = record.maxAttempts
        ackTimeout = record.ackTimeoutMilliseconds
        self.maxPending = maxPending
    }

    /// Deliveries in flight now: a scan of `pending`, for stats and metrics only.
    var inFlightCount: Int { pending.values.reduce(0) { $0 + ($1.isInFlight ? 1 : 0) } }

    /// Events up to `lastSeq` this group has not looked at yet.
    func unexamined(lastSeq: UInt64) -> Int { lastSeq >= cursor ? Int(lastSeq - cursor + 1) : 0 }

    /// The next member with free credit, round robin so members share the load.
    func nextMemberWithCredit() -> Subscription? {
        let n = members.count
        guard n > 0 else { return nil }
        for i in 0..<n {
            let m = members[(nextMember + i) % n]
            if m.hasCredit {
                nextMember = (nextMember + i + 1) % n
                return m
            }
        }
        return nil
    }

    func markReady(_ seq: UInt64) { ready.append(seq) }

    func popReady() -> UInt64? {
        guard readyHead < ready.count else { return nil }
        let seq = ready[readyHead]
        readyHead += 1
        if readyHead > 1024 && readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyHead = 0
        } else if readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
        }
        return seq
    }

    var hasReady: Bool { readyHead < ready.count }

    func remove(member: Subscription) {
        members.removeAll { $0 === member }
        if nextMember >= members.count { nextMember = 0 }
    }

}
