/// The packed forms of the batch messages (docs/PROTOCOL.md, sections 6.5, 6.14 and 7.17): many deliveries,
/// events or leases in one frame instead of six, three or two frames each.
///
/// WHY. Every frame is a message part to libzmq, with its own send or receive call, its own bookkeeping on both
/// I/O threads and, above 33 bytes, its own allocation. At batches of 100 that per-part cost, not the bytes, was
/// most of what a delivery cost the broker and the consumer. A packed `DELIVERMANY` or `PUBLISHMANY` is one frame
/// for the whole batch; a packed `ACK` one frame for all its leases.
///
/// Numbers are unsigned big-endian (network order): 8 bytes for a sequence number or a token, 4 for an attempt
/// or a length. Text and payloads are a 4-byte length, then the bytes.
public enum Packed {
    /// Bytes of one packed lease: sequence number, then token.
    public static let leaseSize = 16
    /// The most leases one packed ACK may carry: the largest credit a member can have, so one ACK can settle
    /// everything a member may hold, and no more work than that lands in one loop iteration.
    public static let maxLeases = 100_000

    // MARK: Writing

    @inline(__always)
    static func appendUInt64(_ value: UInt64, to out: inout [UInt8]) {
        var shift = 56
        while shift >= 0 {
            out.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
            shift -= 8
        }
    }

    @inline(__always)
    static func appendUInt32(_ value: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: value >> 24))
        out.append(UInt8(truncatingIfNeeded: value >> 16))
        out.append(UInt8(truncatingIfNeeded: value >> 8))
        out.append(UInt8(truncatingIfNeeded: value))
    }

    /// Appends bytes with their 4-byte length in front. Fields are far below 4 GiB (payloads are at most 64 MiB).
    @inline(__always)
    public static func appendField(_ bytes: [UInt8], to out: inout [UInt8]) {
        precondition(bytes.count <= UInt32.max, "a packed field is at most 4 GiB")
        appendUInt32(UInt32(truncatingIfNeeded: bytes.count), to: &out)
        out.append(contentsOf: bytes)
    }

    /// Appends a field that `write` appends in place, then fills in its 4-byte length in front of it.
    @inline(__always)
    public static func appendField(to out: inout [UInt8], writing write: (inout [UInt8]) -> Void) {
        let lengthAt = beginField(in: &out)
        write(&out)
        endField(at: lengthAt, in: &out)
    }

    /// Starts a field whose bytes the caller appends in place: room for its length, whose offset it returns.
    /// (For hot paths: a closure that captures an `Event` copies its eight reference-counted fields.)
    @inline(__always)
    static func beginField(in out: inout [UInt8]) -> Int {
        let lengthAt = out.count
        appendUInt32(0, to: &out)
        return lengthAt
    }

    /// Ends a field begun at `lengthAt`: fills in its length.
    @inline(__always)
    static func endField(at lengthAt: Int, in out: inout [UInt8]) {
        precondition(out.count - lengthAt - 4 <= UInt32.max, "a packed field is at most 4 GiB")
        let length = UInt32(truncatingIfNeeded: out.count - lengthAt - 4)
        out[lengthAt] = UInt8(truncatingIfNeeded: length >> 24)
        out[lengthAt + 1] = UInt8(truncatingIfNeeded: length >> 16)
        out[lengthAt + 2] = UInt8(truncatingIfNeeded: length >> 8)
        out[lengthAt + 3] = UInt8(truncatingIfNeeded: length)
    }

    /// Appends one delivery entry: seq, token, attempt, then topic, properties and payload as fields.
    public static func appendDelivery(_ delivery: Delivery, to out: inout [UInt8]) {
        appendDelivery(
            seq: delivery.lease.seq, token: delivery.lease.token, attempt: delivery.attempt, topic: Array(delivery.event.topic.utf8),
            event: delivery.event, to: &out)
    }

    /// Appends one delivery entry of `event` (its properties and payload) with its lease and attempt; `topic` is
    /// the topic's bytes, which the broker already holds.
    @inline(__always)
    public static func appendDelivery(seq: UInt64, token: UInt64, attempt: UInt32, topic: [UInt8], event: Event, to out: inout [UInt8]) {
        appendUInt64(seq, to: &out)
        appendUInt64(token, to: &out)
        appendUInt32(attempt, to: &out)
        appendField(topic, to: &out)
        let properties = beginField(in: &out)
        event.appendProperties(to: &out)
        endField(at: properties, in: &out)
        appendField(event.payload, to: &out)
    }

    /// Appends one event of a packed PUBLISHMANY: topic, properties and payload as fields.
    public static func appendPublishRequest(_ request: PublishRequest, to out: inout [UInt8]) {
        appendField(Array(request.topic.utf8), to: &out)
        appendField(request.properties.encode(), to: &out)
        appendField(request.payload, to: &out)
    }

    /// Appends one lease: seq, then token.
    @inline(__always)
    public static func appendLease(_ lease: Lease, to out: inout [UInt8]) {
        appendUInt64(lease.seq, to: &out)
        appendUInt64(lease.token, to: &out)
    }

    // MARK: Reading

    /// One delivery entry read in place: the slices share the frame's storage.
    public struct DeliveryEntry {
        public let seq: UInt64
        public let token: UInt64
        public let attempt: UInt32
        public let topic: ArraySlice<UInt8>
        public let properties: ArraySlice<UInt8>
        public let payload: ArraySlice<UInt8>
    }

    /// Calls `body` with each delivery entry of a packed frame, in order, without copying. Throws `MALFORMED`
    /// for an empty frame, an entry cut short, or a length past the end; nothing after the fault is read.
    public static func forEachDelivery(
        in frame: ArraySlice<UInt8>, _ body: (DeliveryEntry) throws(ProtocolError) -> Void
    ) throws(ProtocolError) {
        guard !frame.isEmpty else { throw ProtocolError(.malformed, "a packed DELIVERMANY holds at least one delivery") }
        var reader = Reader(frame)
        while !reader.atEnd {
            let seq = try reader.uint64("delivery seq")
            let token = try reader.uint64("delivery token")
            let attempt = try reader.uint32("delivery attempt")
            let topic = try reader.field("delivery topic")
            let properties = try reader.field("delivery properties")
            let payload = try reader.field("delivery payload")
            try body(DeliveryEntry(seq: seq, token: token, attempt: attempt, topic: topic, properties: properties, payload: payload))
        }
    }

    /// The deliveries of a packed frame, decoded as a `DELIVER` each would be.
    public static func decodeDeliveries(_ frame: ArraySlice<UInt8>, group: String) throws(ProtocolError) -> [Delivery] {
        var deliveries: [Delivery] = []
        try forEachDelivery(in: frame) { (e: DeliveryEntry) throws(ProtocolError) in
            guard e.seq >= 1 else { throw ProtocolError(.malformed, "delivery seq must be 1 or more") }
            let event = try Delivery.decodeEvent(seq: e.seq, topic: Array(e.topic), properties: Array(e.properties), payload: Array(e.payload))
            deliveries.append(Delivery(group: group, lease: Lease(seq: e.seq, token: e.token), attempt: e.attempt, event: event))
        }
        return deliveries
    }

    /// The events of a packed PUBLISHMANY, each decoded as its own `PUBLISH` frames would be: an event whose topic
    /// or properties are unreadable is carried as its error and the others still decode. The frame's structure
    /// (an entry cut short, no entry, more than `limit`) makes the whole message MALFORMED.
    public static func decodePublishRequests(_ frame: ArraySlice<UInt8>, limit: Int) throws(ProtocolError) -> [Result<PublishRequest, ProtocolError>] {
        guard !frame.isEmpty else { throw ProtocolError(.malformed, "a packed PUBLISHMANY holds at least one event") }
        var reader = Reader(frame)
        var requests: [Result<PublishRequest, ProtocolError>] = []
        // A batch is often of one topic: its text is made once, not once per event.
        var last: (bytes: ArraySlice<UInt8>, topic: String)?
        while !reader.atEnd {
            let topicBytes = try reader.field("event topic")
            let properties = try reader.field("event properties")
            let payload = try reader.field("event payload")
            guard requests.count < limit else {
                throw ProtocolError(.malformed, "PUBLISHMANY holds at most \(limit) events")
            }
            do throws(ProtocolError) {
                let topic: String
                if let last, last.bytes.elementsEqual(topicBytes) {
                    topic = last.topic
                } else {
                    topic = try FrameCoding.text(Array(topicBytes), field: "topic")
                    last = (topicBytes, topic)
                }
                requests.append(.success(PublishRequest(topic: topic, properties: try Properties.decode(Array(properties)), payload: Array(payload))))
            } catch {
                requests.append(.failure(error))
            }
        }
        return requests
    }

    /// The leases of a packed frame: 1 to `maxLeases`, 16 bytes each.
    public static func decodeLeases(_ frame: ArraySlice<UInt8>) throws(ProtocolError) -> [Lease] {
        guard !frame.isEmpty, frame.count % leaseSize == 0 else {
            throw ProtocolError(.malformed, "packed leases are 16 bytes each (8-byte seq, 8-byte token), got \(frame.count) bytes")
        }
        guard frame.count / leaseSize <= maxLeases else {
            throw ProtocolError(.malformed, "a packed ACK carries at most \(maxLeases) leases, got \(frame.count / leaseSize)")
        }
        var reader = Reader(frame)
        var leases: [Lease] = []
        leases.reserveCapacity(frame.count / leaseSize)
        while !reader.atEnd {
            let seq = try reader.uint64("lease seq")
            let token = try reader.uint64("lease token")
            guard seq >= 1 else { throw ProtocolError(.malformed, "lease seq must be 1 or more") }
            leases.append(Lease(seq: seq, token: token))
        }
        return leases
    }

    /// Reads big-endian numbers and length-prefixed fields, checking every length against what is left.
    struct Reader {
        let bytes: ArraySlice<UInt8>
        var at: Int

        init(_ bytes: ArraySlice<UInt8>) {
            self.bytes = bytes
            at = bytes.startIndex
        }

        var atEnd: Bool { at >= bytes.endIndex }

        // Field names are static strings: a message is made only when a frame is malformed, not on every read.
        mutating func uint64(_ field: StaticString) throws(ProtocolError) -> UInt64 { try integer(field) }

        mutating func uint32(_ field: StaticString, length: Bool = false) throws(ProtocolError) -> UInt32 { try integer(field, length: length) }

        /// An unsigned big-endian number of `T`'s width.
        private mutating func integer<T: FixedWidthInteger & UnsignedInteger>(_ field: StaticString, length: Bool = false) throws(ProtocolError) -> T {
            let size = T.bitWidth / 8
            guard bytes.endIndex - at >= size else { throw short(field, length: length) }
            var value: T = 0
            for i in at..<(at + size) { value = value << 8 | T(bytes[i]) }
            at += size
            return value
        }

        mutating func field(_ field: StaticString) throws(ProtocolError) -> ArraySlice<UInt8> {
            let length = Int(try uint32(field, length: true))
            guard bytes.endIndex - at >= length else { throw short(field, length: false) }
            defer { at += length }
            return bytes[at..<(at + length)]
        }

        func short(_ field: StaticString, length: Bool) -> ProtocolError {
            ProtocolError(.malformed, "packed frame ends inside \(field)\(length ? " length" : "") (byte \(at - bytes.startIndex) of \(bytes.count))")
        }
    }
}
