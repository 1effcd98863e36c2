import ChorusClient
import ChorusProtocol
import Foundation
import ZeroMQ

/// The batched joins bench's agent: a lean client that answers a whole packed DELIVERMANY of requests with one
/// packed PUBLISHMANY of results, and acks the requests in one packed ACK once that batch is confirmed, so a
/// result is durable before its request is settled, as with any agent (docs/PROTOCOL.md, sections 6.5, 6.14 and
/// 7.17). It reads each message in place into one reused buffer: on 2 cores a client that allocated per frame
/// would take CPU from the broker it measures.
///
/// It runs until the run is over (`stopped`) and every result batch it sent is confirmed and its requests acked,
/// so it leaves nothing for the next run of a profiled broker, even when that broker held requests of an earlier
/// run for its group (it answers those too). It fails instead of waiting forever: on an ERROR other than a stale
/// lease, on a refused result, and when its results are still unconfirmed 30 s after the run ended.
struct LeanJoinAgent {
    let connection: BrokerConnection
    let group: String
    /// `gen.result.<part>`.
    let resultTopic: [UInt8]
    /// The result's payload: the same bytes for every request.
    let payload: [UInt8]
    private var inbox = MessageBatch()
    private var outbox = MessageBatch()
    /// Leases (16 bytes each) of the requests answered by each PUBLISHMANY not yet confirmed, by request id.
    private var answering: [UInt64: [UInt8]] = [:]
    private var nextRequest: UInt64 = 1
    private var results: [UInt8] = []

    init(connection: BrokerConnection, group: String, part: String, payloadSize: Int = 256) {
        self.connection = connection
        self.group = group
        resultTopic = Array("gen.result.\(part)".utf8)
        payload = [UInt8](repeating: 0x61, count: payloadSize)
    }

    /// Answers and acks requests until the run is over and nothing it sent is unconfirmed (`agentMayLeave`).
    mutating func run(until progress: JoinBench.Progress) throws {
        var stoppedAt: UInt64?
        while try !progress.agentMayLeave(holding: answering.count, stoppedAt: &stoppedAt, agent: "agent of \(group), result batches") {
            inbox.removeAll()
            if try connection.receiveRaw(into: &inbox, timeoutMilliseconds: 200) { try take() }
        }
    }

    /// Handles the message in `inbox`.
    private mutating func take() throws {
        let frames = inbox.frameCount(of: 0)
        guard frames >= 2 else { return }
        let name = inbox.frameBytes(1, of: 0)
        if frames == 4 && name.elementsEqual(BrokerMessage.Name.deliverMany) {
            try answer(inbox.frameBytes(3, of: 0))
            return
        }
        if frames == 4 && name.elementsEqual(BrokerMessage.Name.confirmMany) {
            try settle(requestID: inbox.frameBytes(2, of: 0), outcomes: inbox.frameBytes(3, of: 0))
            return
        }
        if name.elementsEqual(BrokerMessage.Name.error) || name.elementsEqual(BrokerMessage.Name.deliver)
            || name.elementsEqual(BrokerMessage.Name.deliverMany)
        {
            // A DELIVER, or a DELIVERMANY of frames per field, means the broker ignored `packed=1`: this client
            // only speaks the packed forms, and must say so rather than stall.
            let message = try BrokerMessage.decode((0..<frames).map { Array(inbox.frameBytes($0, of: 0)) })
            // An ack of a lease that expired meanwhile (a very slow run): the request went to someone else.
            if case .error(_, let code, _) = message, code == .staleLease { return }
            throw ValidationFailure("agent of \(group) got \(message)")
        }
    }

    /// One result per request, correlated to it and caused by it, all in one packed PUBLISHMANY.
    private mutating func answer(_ deliveries: ArraySlice<UInt8>) throws {
        results.removeAll(keepingCapacity: true)
        var leases: [UInt8] = []
        let topic = resultTopic
        let payload = payload
        try Packed.forEachDelivery(in: deliveries) { (e: Packed.DeliveryEntry) throws(ProtocolError) in
            Packed.appendLease(Lease(seq: e.seq, token: e.token), to: &leases)
            let id = Self.property("id", in: e.properties)
            let correlation = Self.property("correlation", in: e.properties) ?? id
            Packed.appendField(topic, to: &results)
            Packed.appendField(to: &results) { out in
                out.append(contentsOf: "correlation=".utf8)
                if let correlation { out.append(contentsOf: correlation) }
                out.append(contentsOf: "\ncausation=".utf8)
                if let id { out.append(contentsOf: id) }
                out.append(contentsOf: "\nh.status=ok".utf8)
            }
            Packed.appendField(payload, to: &results)
        }
        let request = nextRequest
        nextRequest += 1
        answering[request] = leases
        outbox.setCommand(ClientCommand.Name.publishMany, [FrameCoding.number(request), results])
        try connection.sendRaw(0, of: outbox)
    }

    /// A batch of results is durable: ack the requests they answer, in one packed ACK.
    private mutating func settle(requestID: ArraySlice<UInt8>, outcomes: ArraySlice<UInt8>) throws {
        guard let request = try? FrameCoding.number(requestID, field: "request id"), let leases = answering.removeValue(forKey: request) else {
            throw ValidationFailure("agent of \(group) got a confirm for a batch it did not send")
        }
        for case .refused(let error) in try PublishOutcome.decode(Array(outcomes)) {
            throw ValidationFailure("agent of \(group): result refused: \(error.code.name): \(error.message)")
        }
        outbox.setCommand(ClientCommand.Name.ack, [[], Array(group.utf8), leases])
        try connection.sendRaw(0, of: outbox)
    }

    /// The value of property `name` in a properties field (`name=value` lines), read in place.
    static func property(_ name: StaticString, in properties: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        let key = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        var lineStart = properties.startIndex
        while lineStart < properties.endIndex {
            let lineEnd = properties[lineStart...].firstIndex(of: 0x0A) ?? properties.endIndex
            let line = properties[lineStart..<lineEnd]
            if line.count > key.count, line[lineStart + key.count] == 0x3D, line.prefix(key.count).elementsEqual(key) {
                return line[(lineStart + key.count + 1)...]
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}
