/// A message the broker sends to a client (docs/PROTOCOL.md, "Broker messages").
///
/// Frame 0 is `CHORUS1`, frame 1 the message name; replies then echo the request id in frame 2.
public enum BrokerMessage: Equatable, Sendable {
    /// Reply to HELLO: broker name, protocol version, heartbeat interval, payload limit.
    case welcome(requestID: [UInt8], properties: Properties)
    /// Reply to PUBLISH: the event is committed to the log with this sequence number. `duplicate` is true when
    /// the idempotency key had been seen within the window and `seq` is the first publish's.
    case confirm(requestID: [UInt8], seq: UInt64, duplicate: Bool)
    /// Reply to PUBLISHMANY: what became of each event, in order, once every accepted one is committed.
    case confirmMany(requestID: [UInt8], outcomes: [PublishOutcome])
    /// Reply to SUBSCRIBE.
    case subscribed(requestID: [UInt8], group: String, properties: Properties)
    /// Reply to UNSUBSCRIBE.
    case unsubscribed(requestID: [UInt8], group: String)
    /// One event for one group member, within its credit.
    case deliver(Delivery)
    /// Several deliveries of one group to one member that asked for them batched (SUBSCRIBE `batch`), in the
    /// order they were made; each means exactly what its own DELIVER would.
    case deliverMany(group: String, deliveries: [Delivery])
    /// Reply to ACK with a request id: how many leases were settled.
    case acked(requestID: [UInt8], count: UInt64)
    /// Reply to NACK with a request id.
    case nacked(requestID: [UInt8])
    /// Reply to EXTEND with a request id: the new lease expiry, milliseconds since the Unix epoch.
    case extended(requestID: [UInt8], expiresAt: UInt64)
    /// A refused command, with a code from the catalog and a message for people.
    case error(requestID: [UInt8], code: ErrorCode, message: String)
    /// The broker is alive.
    case heartbeat
    /// Reply to AWAIT: the matching event.
    case event(requestID: [UInt8], event: Event)
    /// Reply to ADMIN: a JSON document.
    case result(requestID: [UInt8], json: [UInt8])
    /// Reply to PUTBLOB (content empty) and GETBLOB (content present).
    case blob(requestID: [UInt8], hash: String, size: UInt64, mediaType: String, content: [UInt8])

    public enum Name {
        public static let welcome: [UInt8] = Array("WELCOME".utf8)
        public static let confirm: [UInt8] = Array("CONFIRM".utf8)
        public static let confirmMany: [UInt8] = Array("CONFIRMMANY".utf8)
        public static let deliverMany: [UInt8] = Array("DELIVERMANY".utf8)
        public static let subscribed: [UInt8] = Array("SUBSCRIBED".utf8)
        public static let unsubscribed: [UInt8] = Array("UNSUBSCRIBED".utf8)
        public static let deliver: [UInt8] = Array("DELIVER".utf8)
        public static let acked: [UInt8] = Array("ACKED".utf8)
        public static let nacked: [UInt8] = Array("NACKED".utf8)
        public static let extended: [UInt8] = Array("EXTENDED".utf8)
        public static let error: [UInt8] = Array("ERROR".utf8)
        public static let heartbeat: [UInt8] = Array("HEARTBEAT".utf8)
        public static let event: [UInt8] = Array("EVENT".utf8)
        public static let blob: [UInt8] = Array("BLOB".utf8)
        public static let result: [UInt8] = Array("RESULT".utf8)
    }

    public static let new: [UInt8] = Array("new".utf8)
    public static let duplicate: [UInt8] = Array("duplicate".utf8)

    /// Encodes the message as frames (without any routing envelope).
    public func encode() -> [[UInt8]] { encode(prefix: nil) }

    /// Encodes the message behind a ROUTER routing id, in one array (the broker's reply path).
    public func encode(routedTo routingID: [UInt8]) -> [[UInt8]] { encode(prefix: routingID) }

    private func encode(prefix: [UInt8]?) -> [[UInt8]] {
        if case .deliver(let d) = self {
            let frames = d.encode()
            guard let prefix else { return frames }
            return [prefix] + frames
        }
        var f: [[UInt8]] = []
        f.reserveCapacity(8)
        if let prefix { f.append(prefix) }
        f.append(ProtocolVersion.signature)
        switch self {
        case .welcome(let r, let p): f += [Name.welcome, r, p.encode()]
        case .confirm(let r, let seq, let dup):
            f.append(Name.confirm)
            f.append(r)
            f.append(FrameCoding.number(seq))
            f.append(dup ? Self.duplicate : Self.new)
        case .confirmMany(let r, let outcomes): f += [Name.confirmMany, r, PublishOutcome.encode(outcomes)]
        case .deliverMany(let group, let deliveries):
            f.reserveCapacity(f.count + 2 + 6 * deliveries.count)
            f += [Name.deliverMany, Array(group.utf8)]
            for d in deliveries {
                f += [
                    FrameCoding.number(d.lease.seq), d.lease.tokenBytes, FrameCoding.number(UInt64(d.attempt)), Array(d.event.topic.utf8),
                    d.event.encodeProperties(), d.event.payload,
                ]
            }
        case .subscribed(let r, let g, let p): f += [Name.subscribed, r, Array(g.utf8), p.encode()]
        case .unsubscribed(let r, let g): f += [Name.unsubscribed, r, Array(g.utf8)]
        case .deliver: break  // above
        case .acked(let r, let n): f += [Name.acked, r, FrameCoding.number(n)]
        case .nacked(let r): f += [Name.nacked, r]
        case .extended(let r, let at): f += [Name.extended, r, FrameCoding.number(at)]
        case .error(let r, let code, let message):
            f += [Name.error, r, FrameCoding.number(UInt64(code.number)), Array(code.name.utf8), Array(message.utf8)]
        case .heartbeat: f.append(Name.heartbeat)
        case .event(let r, let e):
            f += [Name.event, r, FrameCoding.number(e.seq), Array(e.topic.utf8), e.encodeProperties(), e.payload]
        case .blob(let r, let hash, let size, let mediaType, let content):
            f += [Name.blob, r, Array(hash.utf8), FrameCoding.number(size), Array(mediaType.utf8), content]
        case .result(let r, let json):
            f += [Name.result, r, json]
        }
        return f
    }

    /// Decodes a broker message (used by clients).
    public static func decode(_ frames: [[UInt8]]) throws(ProtocolError) -> BrokerMessage {
        guard frames.count >= 2, frames[0] == ProtocolVersion.signature else {
            throw ProtocolError(.unsupportedVersion, "the peer did not answer with protocol CHORUS1")
        }
        let f = frames
        func need(_ n: Int) throws(ProtocolError) {
            guard f.count == n else {
                throw ProtocolError(.malformed, "\(String(decoding: f[1], as: UTF8.self)) should have \(n) frames, got \(f.count)")
            }
        }
        switch f[1] {
        case Name.deliver:
            return .deliver(try Delivery.decode(f))
        case Name.confirm:
            try need(5)
            return .confirm(requestID: f[2], seq: try FrameCoding.number(f[3], field: "seq"), duplicate: f[4] == Self.duplicate)
        case Name.confirmMany:
            try need(4)
            return .confirmMany(requestID: f[2], outcomes: try PublishOutcome.decode(f[3]))
        case Name.deliverMany:
            if f.count == 4 {
                // Packed (section 7.17): every delivery in frame 3.
                let group = String(decoding: f[2], as: UTF8.self)
                return .deliverMany(group: group, deliveries: try Packed.decodeDeliveries(f[3][...], group: group))
            }
            guard f.count >= 9, (f.count - 3) % 6 == 0 else {
                throw ProtocolError(.malformed, "DELIVERMANY should have 3 + 6 frames per delivery, or 4 when packed, got \(f.count)")
            }
            let group = String(decoding: f[2], as: UTF8.self)
            var deliveries: [Delivery] = []
            deliveries.reserveCapacity((f.count - 3) / 6)
            var i = 3
            while i < f.count {
                let lease = try Lease.decode(seq: f[i], token: f[i + 1])
                let attempt = UInt32(clamping: try FrameCoding.number(f[i + 2], field: "attempt"))
                let event = try Delivery.decodeEvent(seq: lease.seq, topic: f[i + 3], properties: f[i + 4], payload: f[i + 5])
                deliveries.append(Delivery(group: group, lease: lease, attempt: attempt, event: event))
                i += 6
            }
            return .deliverMany(group: group, deliveries: deliveries)
        case Name.heartbeat: return .heartbeat
        case Name.event:
            try need(7)
            let seq = try FrameCoding.number(f[3], field: "seq")
            return .event(requestID: f[2], event: try Delivery.decodeEvent(seq: seq, topic: f[4], properties: f[5], payload: f[6]))
        case Name.result:
            try need(4)
            return .result(requestID: f[2], json: f[3])
        case Name.blob:
            try need(7)
            return .blob(
                requestID: f[2], hash: String(decoding: f[3], as: UTF8.self), size: try FrameCoding.number(f[4], field: "size"),
                mediaType: String(decoding: f[5], as: UTF8.self), content: f[6])
        case Name.welcome:
            try need(4)
            return .welcome(requestID: f[2], properties: try Properties.decode(f[3]))
        case Name.subscribed:
            try need(5)
            return .subscribed(requestID: f[2], group: String(decoding: f[3], as: UTF8.self), properties: try Properties.decode(f[4]))
        case Name.unsubscribed:
            try need(4)
            return .unsubscribed(requestID: f[2], group: String(decoding: f[3], as: UTF8.self))
        case Name.acked:
            try need(4)
            return .acked(requestID: f[2], count: try FrameCoding.number(f[3], field: "count"))
        case Name.nacked:
            try need(3)
            return .nacked(requestID: f[2])
        case Name.extended:
            try need(4)
            return .extended(requestID: f[2], expiresAt: try FrameCoding.number(f[3], field: "expiry"))
        case Name.error:
            try need(6)
            let number = Int(try FrameCoding.number(f[3], field: "error code"))
            return .error(requestID: f[2], code: ErrorCode(number, String(decoding: f[4], as: UTF8.self)), message: String(decoding: f[5], as: UTF8.self))
        default:
            throw ProtocolError(.unknownCommand, "unknown broker message '\(String(decoding: f[1].prefix(32), as: UTF8.self))'")
        }
    }
}

extension BrokerMessage {
    /// The packed form of a `DELIVERMANY` (section 7.17): the reference the broker's own writer is tested against.
    public static func encodePackedDeliverMany(group: String, deliveries: [Delivery]) -> [[UInt8]] {
        var entries: [UInt8] = []
        for d in deliveries { Packed.appendDelivery(d, to: &entries) }
        return [ProtocolVersion.signature, Name.deliverMany, Array(group.utf8), entries]
    }
}

/// A DELIVER message: one attempt at one event for one group.
public struct Delivery: Equatable, Sendable {
    public var group: String
    public var lease: Lease
    /// 1 for the first delivery; counts every attempt, across broker restarts.
    public var attempt: UInt32
    public var event: Event

    public init(group: String, lease: Lease, attempt: UInt32, event: Event) {
        self.group = group
        self.lease = lease
        self.attempt = attempt
        self.event = event
    }

    /// `CHORUS1, DELIVER, group, seq, token, attempt, topic, properties, payload`.
    public func encode() -> [[UInt8]] {
        [
            ProtocolVersion.signature, BrokerMessage.Name.deliver, Array(group.utf8), FrameCoding.number(lease.seq), lease.tokenBytes,
            FrameCoding.number(UInt64(attempt)), Array(event.topic.utf8), event.encodeProperties(), event.payload,
        ]
    }

    /// Decodes the 9 frames of DELIVER.
    public static func decode(_ f: [[UInt8]]) throws(ProtocolError) -> Delivery {
        guard f.count == 9 else { throw ProtocolError(.malformed, "DELIVER should have 9 frames, got \(f.count)") }
        let lease = try Lease.decode(seq: f[3], token: f[4])
        let attempt = UInt32(clamping: try FrameCoding.number(f[5], field: "attempt"))
        let event = try decodeEvent(seq: lease.seq, topic: f[6], properties: f[7], payload: f[8])
        return Delivery(group: String(decoding: f[2], as: UTF8.self), lease: lease, attempt: attempt, event: event)
    }

    /// Decodes an event from its topic, properties and payload frames (DELIVER and the firehose).
    public static func decodeEvent(seq: UInt64, topic: [UInt8], properties: [UInt8], payload: [UInt8]) throws(ProtocolError) -> Event {
        let p = try Properties.decode(properties)
        var event = Event(seq: seq, id: "", topic: String(decoding: topic, as: UTF8.self), payload: payload)
        for (name, value) in p.pairs {
            switch name {
            case "id": event.id = value
            case "correlation": event.correlation = value
            case "causation": event.causation = value
            case "producer": event.producer = value
            case "time": event.time = Int64(value) ?? 0
            case "content-type": event.contentType = value
            case "deadline": event.deadline = Int64(value)
            default:
                if name.hasPrefix("h.") { event.headers.append((String(name.dropFirst(2)), value)) }
            }
        }
        return event
    }
}
