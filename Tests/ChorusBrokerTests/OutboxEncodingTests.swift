import ChorusStore
@testable import ChorusBroker
import ChorusProtocol
import Testing
import ZeroMQ

/// The broker writes its hot messages straight into the outbox; each must be byte for byte what the reference
/// encoder (`BrokerMessage.encode(routedTo:)`, pinned by the protocol's golden tests) produces.
@Suite("Outbox encoding matches the reference encoder")
struct OutboxEncodingTests {
    static let route: [UInt8] = [0, 0x80, 0x00, 0x41, 0xA7]

    static let messages: [BrokerMessage] = [
        .confirm(requestID: Array("17".utf8), seq: 123_456, duplicate: false),
        .confirm(requestID: [], seq: 0, duplicate: true),
        .acked(requestID: Array("a".utf8), count: 256),
        .error(requestID: Array("9".utf8), code: .staleLease, message: "stale leases: 4:00000000000000ff"),
        .heartbeat,
        .nacked(requestID: Array("n".utf8)),
    ]

    @Test(arguments: messages)
    func replyIsTheReferenceEncoding(message: BrokerMessage) {
        var batch = MessageBatch()
        batch.append(message, routedTo: Self.route)
        #expect(batch.messages == [message.encode(routedTo: Self.route)])
    }

    @Test(arguments: [1, 2, 17])
    func deliverIsTheReferenceEncoding(attempt: Int) {
        let event = Event(
            seq: 42, id: "ev-1", topic: "media.image.done", correlation: "req-1", producer: "p", time: 1_700_000_000_000,
            contentType: "image/png", headers: [("attempt", "1"), ("blob", String(repeating: "a", count: 64))],
            payload: [UInt8](repeating: 0xFE, count: 300))
        let lease = Lease(seq: 42, token: 0x00C0_FFEE_1234_5678)
        var batch = MessageBatch()
        batch.appendDeliver(routedTo: Self.route, group: Array("renderers".utf8), lease: lease, attempt: attempt, entry: LogEntry(event))
        let reference = BrokerMessage.deliver(Delivery(group: "renderers", lease: lease, attempt: UInt32(attempt), event: event))
        #expect(batch.messages == [reference.encode(routedTo: Self.route)])
    }

    @Test func deliverManyIsTheReferenceEncoding() {
        let events = (1...3).map { i in
            Event(seq: UInt64(i), id: "ev-\(i)", topic: "jobs.t\(i)", producer: "p", time: Int64(i), headers: [("n", "\(i)")], payload: [UInt8](repeating: UInt8(i), count: i * 10))
        }
        let staged = events.enumerated().map { StagedDelivery(entry: LogEntry($1), token: UInt64($0) &* 0x9E37_79B9_7F4A_7C15, attempt: $0 + 1) }
        var batch = MessageBatch()
        batch.appendDeliverMany(routedTo: Self.route, group: Array("g.1".utf8), staged)
        let reference = BrokerMessage.deliverMany(
            group: "g.1",
            deliveries: staged.map { Delivery(group: "g.1", lease: Lease(seq: $0.entry.seq, token: $0.token), attempt: UInt32($0.attempt), event: $0.entry.event) })
        #expect(batch.messages == [reference.encode(routedTo: Self.route)])
    }

    @Test func packedDeliverManyIsTheReferenceEncoding() {
        let events = (1...3).map { i in
            Event(
                seq: UInt64(i) << 33, id: "ev-\(i)", topic: "jobs.t\(i)", correlation: i == 2 ? "c" : nil, producer: "p", time: Int64(i),
                deadline: i == 3 ? 9_000_000_000_000 : nil, headers: [("n", "\(i)")], payload: [UInt8](repeating: UInt8(i), count: i == 1 ? 0 : i * 100))
        }
        let staged = events.enumerated().map { StagedDelivery(entry: LogEntry($1), token: UInt64($0 + 1) &* 0x9E37_79B9_7F4A_7C15, attempt: $0 + 1) }
        var batch = MessageBatch()
        batch.appendDeliverMany(routedTo: Self.route, group: Array("g.1".utf8), staged, packed: true)
        let deliveries = staged.map {
            Delivery(group: "g.1", lease: Lease(seq: $0.entry.seq, token: $0.token), attempt: UInt32($0.attempt), event: $0.entry.event)
        }
        #expect(batch.messages == [[Self.route] + BrokerMessage.encodePackedDeliverMany(group: "g.1", deliveries: deliveries)])
    }
}
