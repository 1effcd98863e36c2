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

    /// Sessions that hold work or asked for heartbeats must keep heartbeating; others are only forgotten.
    var isLive: Bool { greeted || !subscriptions.isEmpty }
}

/// A session's membership in one group: its credit and what it holds.
final class Subscription {
    unowned let session: Session
    let groupID: Int64
    /// Maximum unacked deliveries in flight to this member.
    var credit: Int
    /// Deliveries in flight to this member, by sequence number.
    var inFlight: Set<UInt64> = []

    init(session: Session, groupID: Int64, credit: Int) {
        self.session = session
        self.groupID = groupID
        self.credit = credit
    }

    var hasCredit: Bool { inFlight.count < credit }
}
