import ChorusProtocol
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
            appendDecimalFrame(seq)
            appendFrame(duplicate ? BrokerMessage.duplicate : BrokerMessage.new)
        case .acked(let requestID, let count):
            start(routingID, BrokerMessage.Name.acked)
            appendFrame(requestID)
            appendDecimalFrame(count)
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
        appendDecimalFrame(lease.seq)
        appendHexFrame(lease.token)
        appendDecimalFrame(UInt64(attempt))
        appendFrame(entry.topic)
        appendFrame(entry.properties)
        appendFrame(entry.event.payload)
        endMessage()
    }

    /// Queues a DELIVERMANY (docs/PROTOCOL.md, section 7.16) of `deliveries` for the client behind `routingID`.
    mutating func appendDeliverMany(routedTo routingID: [UInt8], group: [UInt8], _ deliveries: [StagedDelivery]) {
        start(routingID, BrokerMessage.Name.deliverMany)
        appendFrame(group)
        for d in deliveries {
            appendDecimalFrame(d.entry.seq)
            appendHexFrame(d.token)
            appendDecimalFrame(UInt64(d.attempt))
            appendFrame(d.entry.topic)
            appendFrame(d.entry.properties)
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
