import ChorusClient
import ChorusProtocol
import Foundation
import ZeroMQ

/// The benchmark's consumer: a lean client, as one written in C would be. Each message is read into one reused
/// buffer and looked at in place, and each delivery's lease is echoed into the next ACK. The benchmark measures
/// the broker, and on 2 cores a client that allocated per frame took CPU from it.
///
/// It takes DELIVER and both forms of DELIVERMANY (a broker without the packed forms sends frames per field),
/// acks in packed form only when the broker says it takes it, and fails instead of waiting forever: on an ERROR,
/// and when no delivery has come for 30 s (heartbeats keep arriving from a broker that is stuck).
struct LeanConsumer {
    let connection: BrokerConnection
    let group: String
    /// Leases per ACK: at most half the credit, so acks go out before the credit runs dry.
    let ackEvery: Int
    let packedAcks: Bool
    private var inbox = MessageBatch()
    private var ack = MessageBatch()
    /// The unacked leases: seq and token frames (pairs form) or 16 bytes each (packed form).
    private var leaseFrames: [[UInt8]] = []
    private var packedLeases: [UInt8] = []
    private(set) var unacked = 0
    /// Deliveries counted towards the run: all of them, or those whose correlation starts with `counted`.
    private(set) var received = 0
    /// When set, only packed deliveries whose `correlation` property starts with these bytes count (the others,
    /// left on a profiled broker by an earlier run, are acked but not counted). Deliveries in the other forms
    /// (DELIVER, DELIVERMANY of frames per field) always count: the batched joins bench takes only packed ones.
    let counted: [UInt8]?

    init(connection: BrokerConnection, group: String, credit: Int, packedAcks: Bool, countingCorrelationPrefix: String? = nil) {
        self.connection = connection
        self.group = group
        ackEvery = max(1, min(256, credit / 2))
        self.packedAcks = packedAcks
        counted = countingCorrelationPrefix.map { Array("correlation=\($0)".utf8) }
    }

    /// Reads and acks until `count` deliveries have arrived; returns when the last one did (monotonic ns).
    /// `progress` is told the number received after each message that brought deliveries.
    mutating func run(until count: Int, progress: (Int) -> Void = { _ in }) throws -> UInt64 {
        var lastProgress = BenchStats.nanos()
        while received < count {
            inbox.removeAll()
            let before = received
            let unackedBefore = unacked
            if try connection.receiveRaw(into: &inbox, timeoutMilliseconds: 1000) { try take() }
            // Deliveries not counted (an earlier run's) are progress too: draining them may take a while.
            if unacked > unackedBefore { lastProgress = BenchStats.nanos() }
            if unacked >= ackEvery { try sendAcks() }
            guard received > before else {
                if BenchStats.nanos() - lastProgress > 30_000_000_000 { throw ValidationFailure("consumer of \(group) stalled at \(received)") }
                continue
            }
            lastProgress = BenchStats.nanos()
            progress(received)
        }
        let last = BenchStats.nanos()
        if unacked > 0 { try sendAcks() }
        return last
    }

    /// Takes the leases of the message in `inbox`; throws on an ERROR. Other messages (heartbeats) are skipped.
    private mutating func take() throws {
        let frames = inbox.frameCount(of: 0)
        guard frames >= 2 else { return }
        let name = inbox.frameBytes(1, of: 0)
        if frames == 4 && name.elementsEqual(BrokerMessage.Name.deliverMany) {
            let counted = counted
            try Packed.forEachDelivery(in: inbox.frameBytes(3, of: 0)) { (e: Packed.DeliveryEntry) throws(ProtocolError) in
                keep(seq: e.seq, token: e.token, counts: counted.map { Self.hasLine(startingWith: $0, in: e.properties) } ?? true)
            }
        } else if frames == 9 && name.elementsEqual(BrokerMessage.Name.deliver) {
            try keep(inbox.frameBytes(3, of: 0), inbox.frameBytes(4, of: 0))
        } else if frames >= 9 && (frames - 3) % 6 == 0 && name.elementsEqual(BrokerMessage.Name.deliverMany) {
            for i in stride(from: 3, to: frames, by: 6) { try keep(inbox.frameBytes(i, of: 0), inbox.frameBytes(i + 1, of: 0)) }
        } else if name.elementsEqual(BrokerMessage.Name.error) {
            let message = try BrokerMessage.decode((0..<frames).map { Array(inbox.frameBytes($0, of: 0)) })
            throw ValidationFailure("consumer of \(group) got \(message)")
        }
    }

    private mutating func keep(_ seq: ArraySlice<UInt8>, _ token: ArraySlice<UInt8>) throws {
        if packedAcks {
            let lease = try Lease.decode(seq: seq, token: token)
            keep(seq: lease.seq, token: lease.token)
        } else {
            leaseFrames.append(Array(seq))
            leaseFrames.append(Array(token))
            received += 1
            unacked += 1
        }
    }

    private mutating func keep(seq: UInt64, token: UInt64, counts: Bool = true) {
        if packedAcks {
            Packed.appendLease(Lease(seq: seq, token: token), to: &packedLeases)
        } else {
            var s: [UInt8] = []
            FrameCoding.appendNumber(seq, to: &s)
            var t: [UInt8] = []
            Lease.appendHex(token, to: &t)
            leaseFrames.append(s)
            leaseFrames.append(t)
        }
        if counts { received += 1 }
        unacked += 1
    }

    /// Whether a properties field (`name=value` lines) has a line starting with `prefix`, read in place.
    static func hasLine(startingWith prefix: [UInt8], in properties: ArraySlice<UInt8>) -> Bool {
        var lineStart = properties.startIndex
        while lineStart < properties.endIndex {
            let lineEnd = properties[lineStart...].firstIndex(of: 0x0A) ?? properties.endIndex
            if properties[lineStart..<lineEnd].starts(with: prefix) { return true }
            lineStart = lineEnd + 1
        }
        return false
    }

    private mutating func sendAcks() throws {
        ack.setCommand(ClientCommand.Name.ack, [[], Array(group.utf8)] + (packedAcks ? [packedLeases] : leaseFrames))
        try connection.sendRaw(0, of: ack)
        packedLeases.removeAll(keepingCapacity: true)
        leaseFrames.removeAll(keepingCapacity: true)
        unacked = 0
    }
}
