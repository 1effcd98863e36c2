import ChorusStore
import ZeroMQ

/// What one loop iteration produced that may only leave the broker after its writes have committed.
struct CommittingBatch {
    /// Replies and deliveries, in order.
    var outbox = MessageBatch()
    /// New events, for the firehose.
    var entries: [LogEntry] = []
    /// First deliveries (the event's seq and time), for the publish-to-deliver histogram; only kept while the
    /// metrics endpoint is on.
    var firstDeliveries: [(seq: UInt64, time: Int64)] = []
    /// Events published in that iteration, for the publish-to-commit histogram.
    var published = 0
    /// When that iteration started reading (monotonic ns).
    var iterationStart: UInt64 = 0
    /// Idempotency keys of its events: a retry arriving while they commit is answered from here, not the log.
    var keys: [String: UInt64] = [:]
    /// The content of each `BLOB` reply in the outbox, by message index: sent as its last frame without another
    /// copy, and counted against its client until libzmq has written it (`Broker.getBlob`).
    var blobBodies: [Int: CountedFrame] = [:]

    /// Empties it, keeping the arrays' storage for the next iteration.
    mutating func removeAll() {
        outbox.removeAll()
        entries.removeAll(keepingCapacity: true)
        firstDeliveries.removeAll(keepingCapacity: true)
        keys.removeAll(keepingCapacity: true)
        blobBodies.removeAll()
        published = 0
    }

    /// Nothing to send (every first delivery has its DELIVER in the outbox).
    var isEmpty: Bool { outbox.isEmpty && entries.isEmpty }
}

/// A large message's last frame on its way out (a blob's bytes; nil: the outbox's own frame) and the count of
/// its client's unsent bytes it is part of, with how much it added there.
struct CountedFrame {
    let bytes: [UInt8]?
    let queued: QueuedBytes
    let count: Int
}
