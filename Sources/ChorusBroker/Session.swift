import ChorusStore
import ZeroMQ

/// One connected client, known by its ZeroMQ routing id.
final class Session {
    /// A small number standing for the routing id in pending deliveries and timers.
    let number: Int
    let routingID: [UInt8]
    /// The name from HELLO, if any (shown as the consumer of deliveries).
    var name: String?
    /// Last time any message arrived from this client.
    var lastSeen: Int64
    /// Whether the client said HELLO (the broker then heartbeats it).
    var greeted = false
    /// Subscriptions by group name.
    var subscriptions: [String: Subscription] = [:]

    init(number: Int, routingID: [UInt8], now: Int64) {
        self.number = number
        self.routingID = routingID
        self.lastSeen = now
    }

    /// AWAIT requests this session has waiting.
    var waiting = 0

    /// Bytes of its `GETBLOB` replies the broker holds: from the request until libzmq has written them out
    /// (`limits.max_blob_reply_bytes`). Outlives the session while libzmq still holds some.
    let blobReplyBytes = QueuedBytes()

    /// Bytes of its other large messages (deliveries, events, results of at least `Broker.countedMessageBytes`)
    /// that libzmq has not yet written out: a member whose connection holds `delivery.max_in_flight_bytes` of them
    /// gets no more deliveries, even once the leases of what it holds have expired.
    let unsentBytes = QueuedBytes()

    /// How many of its members have deliveries staged for a DELIVERMANY (`Broker+Batching.swift`).
    var membersWithStaged = 0

    /// Sessions that hold work or asked for heartbeats must keep heartbeating; others are only forgotten.
    var isLive: Bool { greeted || !subscriptions.isEmpty }
}

/// A session's membership in one group: its credit and what it holds.
final class Subscription {
    unowned let session: Session
    let groupID: Int64
    /// Maximum unacked deliveries in flight to this member.
    var credit: Int
    /// Most payload bytes in flight to this member (`delivery.max_in_flight_bytes`): credit counts deliveries, and
    /// a generous credit of large events would otherwise queue gigabytes in the broker for a member that stalls.
    let maxInFlightBytes: Int
    /// The session's `unsentBytes`, read on every credit check.
    let unsent: QueuedBytes
    /// Deliveries in flight to this member: sequence number -> payload bytes.
    private(set) var inFlight: [UInt64: Int] = [:]
    /// The payload bytes of `inFlight`.
    private(set) var inFlightBytes = 0
    /// Deliveries per DELIVERMANY this member asked for (SUBSCRIBE `batch`); 1 means a DELIVER each.
    var batch: Int
    /// Whether its DELIVERMANY messages are packed (SUBSCRIBE `packed=1`): every delivery in one frame.
    var packed: Bool
    /// Deliveries made to this member that wait to leave together in one DELIVERMANY, in the order made.
    var staged: [StagedDelivery] = []
    /// The payload bytes of `staged`.
    var stagedBytes = 0

    init(session: Session, groupID: Int64, credit: Int, maxInFlightBytes: Int, batch: Int = 1, packed: Bool = false) {
        self.session = session
        self.groupID = groupID
        self.credit = credit
        self.maxInFlightBytes = maxInFlightBytes
        unsent = session.unsentBytes
        self.batch = batch
        self.packed = packed
    }

    /// Whether it may take one more delivery: below its credit, and below its byte limit both in what it holds
    /// (leases) and in what its connection has not yet taken (unsent bytes), unless it has nothing of either (so
    /// an event larger than the limit still goes, alone). The unsent bytes matter once leases expire: a member
    /// that stopped reading would otherwise be sent its events again while the first copies still wait.
    var hasCredit: Bool {
        guard inFlight.count < credit else { return false }
        let unsentBytes = unsent.current
        if inFlight.isEmpty && unsentBytes == 0 { return true }
        return inFlightBytes < maxInFlightBytes && unsentBytes < maxInFlightBytes
    }

    /// Records a delivery of `bytes` of payload as in flight to this member.
    func hold(_ seq: UInt64, bytes: Int) {
        inFlightBytes += bytes - (inFlight.updateValue(bytes, forKey: seq) ?? 0)
    }

    /// Records that this member no longer holds `seq` (acked, released, failed).
    func drop(_ seq: UInt64) {
        if let bytes = inFlight.removeValue(forKey: seq) { inFlightBytes -= bytes }
    }

    /// Drops everything it holds.
    func dropAll() {
        inFlight.removeAll()
        inFlightBytes = 0
    }
}

/// One delivery waiting in a member's next DELIVERMANY: what its DELIVER would carry.
struct StagedDelivery {
    let entry: LogEntry
    let token: UInt64
    let attempt: Int
}
