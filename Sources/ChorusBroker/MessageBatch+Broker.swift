import ChorusProtocol
import ChorusStore
import ZeroMQ

/// The broker's hot messages written straight into the outbox. `BrokerMessage.encode(routedTo:)` stays the
/// reference encoding: these produce the same frames (tested message by message) without an array per frame.
extension MessageBatch {
    /// Queues `message` for the client behind `routingID`.
    mutating func append(_ message: BrokerMessage, routedTo routingID: [UInt8]) {
        switch message {
        case .confirm(let requestID, let seq, let duplicate):
            start(routingID, BrokerMessage.Name.confirm)
            appendFrame(requestID)
            appendFrame { FrameCoding.appendNumber(seq, to: &$0) }
            appendFrame(duplicate ? BrokerMessage.duplicate : BrokerMessage.new)
        case .acked(let requestID, let count):
            start(routingID, BrokerMessage.Name.acked)
            appendFrame(requestID)
            appendFrame { FrameCoding.appendNumber(count, to: &$0) }
        case .heartbeat:
            start(routingID, BrokerMessage.Name.heartbeat)
        default:
            append(message.encode(routedTo: routingID))
            return
        }
        endMessage()
    }

    /// Queues a DELIVER (docs/PROTOCOL.md, section 7.5) of `entry` for the client behind `routingID`.
    mutating func appendDeliver(routedTo routingID: [UInt8], group: [UInt8], lease: Lease, attempt: Int, entry: LogEntry) {
        start(routingID, BrokerMessage.Name.deliver)
        appendFrame(group)
        appendFrame { FrameCoding.appendNumber(lease.seq, to: &$0) }
        appendFrame { Lease.appendHex(lease.token, to: &$0) }
        appendFrame { FrameCoding.appendNumber(UInt64(attempt), to: &$0) }
        appendFrame(entry.topic)
        appendFrame { entry.event.appendProperties(to: &$0) }
        appendFrame(entry.event.payload)
        endMessage()
    }

    /// Queues a DELIVERMANY (docs/PROTOCOL.md, section 7.16) of `deliveries` for the client behind `routingID`,
    /// `packed` in one frame (section 7.17) or six frames per delivery.
    mutating func appendDeliverMany(routedTo routingID: [UInt8], group: [UInt8], _ deliveries: [StagedDelivery], packed: Bool = false) {
        start(routingID, BrokerMessage.Name.deliverMany)
        appendFrame(group)
        if packed {
            appendFrame { out in
                for d in deliveries { d.entry.appendPackedDelivery(token: d.token, attempt: UInt32(clamping: d.attempt), to: &out) }
            }
            endMessage()
            return
        }
        for d in deliveries {
            appendFrame { FrameCoding.appendNumber(d.entry.seq, to: &$0) }
            appendFrame { Lease.appendHex(d.token, to: &$0) }
            appendFrame { FrameCoding.appendNumber(UInt64(d.attempt), to: &$0) }
            appendFrame(d.entry.topic)
            appendFrame { d.entry.event.appendProperties(to: &$0) }
            appendFrame(d.entry.event.payload)
        }
        endMessage()
    }

    private mutating func start(_ routingID: [UInt8], _ name: [UInt8]) {
        appendFrame(routingID)
        appendFrame(ProtocolVersion.signature)
        appendFrame(name)
    }
}
