/// What one loop iteration produced that may only leave the broker after its writes have committed.
struct CommittingBatch {
    /// Replies and deliveries, in order.
    var outbox: [[[UInt8]]] = []
    /// New events, for the firehose.
    var entries: [LogEntry] = []
    /// Event times of first deliveries, for the publish-to-deliver histogram.
    var deliveredEventTimes: [Int64] = []
    /// Events published in that iteration, for the publish-to-commit histogram.
    var published = 0
    /// When that iteration started reading (monotonic ns) and its clock (ms).
    var iterationStart: UInt64 = 0
    var now: Int64 = 0

    /// Empties it, keeping the arrays' storage for the next iteration.
    mutating func removeAll() {
        outbox.removeAll(keepingCapacity: true)
        entries.removeAll(keepingCapacity: true)
        deliveredEventTimes.removeAll(keepingCapacity: true)
        published = 0
    }

    var isEmpty: Bool { outbox.isEmpty && entries.isEmpty && deliveredEventTimes.isEmpty }
}
