/// An event as stored in the log and delivered to consumers (docs/PROTOCOL.md, "The event envelope").
public struct Event: Equatable, Sendable {
    /// Broker-assigned, strictly increasing, never reused. 0 until the broker assigns it.
    public var seq: UInt64
    /// Unique id: the publisher's, or one the broker generates.
    public var id: String
    /// Dot-separated topic.
    public var topic: String
    /// The id that ties a request to its results and its join.
    public var correlation: String?
    /// The id of the event this one answers.
    public var causation: String?
    /// Who published it (agent or client name).
    public var producer: String?
    /// Commit time at the broker, milliseconds since the Unix epoch.
    public var time: Int64
    /// Media type of the payload, e.g. `application/json`.
    public var contentType: String?
    /// Milliseconds since the Unix epoch after which the event is not delivered (dead-lettered as expired).
    public var deadline: Int64?
    /// Free-form headers (`h.NAME` on the wire), in order.
    public var headers: [(name: String, value: String)]
    /// Opaque payload bytes.
    public var payload: [UInt8]

    public init(
        seq: UInt64 = 0, id: String, topic: String, correlation: String? = nil, causation: String? = nil,
        producer: String? = nil, time: Int64 = 0, contentType: String? = nil, deadline: Int64? = nil,
        headers: [(name: String, value: String)] = [], payload: [UInt8] = []
    ) {
        self.seq = seq
        self.id = id
        self.topic = topic
        self.correlation = correlation
        self.causation = causation
        self.producer = producer
        self.time = time
        self.contentType = contentType
        self.deadline = deadline
        self.headers = headers
        self.payload = payload
    }

    public static func == (a: Event, b: Event) -> Bool {
        a.seq == b.seq && a.id == b.id && a.topic == b.topic && a.correlation == b.correlation
            && a.causation == b.causation && a.producer == b.producer && a.time == b.time
            && a.contentType == b.contentType && a.deadline == b.deadline && a.payload == b.payload
            && a.headers.count == b.headers.count
            && zip(a.headers, b.headers).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The properties frame for this event as the broker sends it (DELIVER and the firehose).
    public func encodeProperties() -> [UInt8] {
        var size = 80 + id.utf8.count + (correlation?.utf8.count ?? 0) + (causation?.utf8.count ?? 0)
        size += (producer?.utf8.count ?? 0) + (contentType?.utf8.count ?? 0)
        for header in headers { size += 4 + header.name.utf8.count + header.value.utf8.count }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        appendProperties(to: &out)
        return out
    }

    /// Appends the properties frame to bytes being built (a frame written in place in an outbox). No
    /// `reserveCapacity` here: reserving exactly in a growing outbox would defeat its geometric growth.
    public func appendProperties(to out: inout [UInt8]) {
        // Written straight to bytes: building a `Properties` first cost three allocations per event delivered.
        let start = out.count
        func line(_ name: StaticString, _ value: some Sequence<UInt8>) {
            if out.count > start { out.append(0x0A) }
            out.append(contentsOf: UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(0x3D)
            out.append(contentsOf: value)
        }
        func decimal(_ value: Int64) {
            if value < 0 { out.append(0x2D) }
            FrameCoding.appendNumber(value.magnitude, to: &out)
        }
        line("id", id.utf8)
        if let correlation { line("correlation", correlation.utf8) }
        if let causation { line("causation", causation.utf8) }
        if let producer { line("producer", producer.utf8) }
        line("time", EmptyCollection())
        decimal(time)
        if let contentType { line("content-type", contentType.utf8) }
        if let deadline {
            line("deadline", EmptyCollection())
            decimal(deadline)
        }
        for header in headers {
            out.append(0x0A)
            out.append(0x68); out.append(0x2E)  // "h."
            out.append(contentsOf: header.name.utf8)
            out.append(0x3D)
            out.append(contentsOf: header.value.utf8)
        }
    }

    /// The value of the first header called `name` (without the `h.` of the wire), or nil.
    public func header(_ name: String) -> String? { headers.first { $0.name == name }?.value }

    /// The headers encoded as `name=value` lines (the log's `headers` column).
    public var headersText: String? {
        headers.isEmpty ? nil : headers.map { "\($0.name)=\($0.value)" }.joined(separator: "\n")
    }

    /// The blobs this event names: the values of its headers called `blob` (docs/PROTOCOL.md, section 10.6), in
    /// lower case as blob hashes are written.
    public var blobHashes: [String] { Self.blobHashes(in: headers) }

    /// The blobs named by these headers (see `blobHashes`).
    public static func blobHashes(in headers: [(name: String, value: String)]) -> [String] {
        headers.compactMap { $0.name == "blob" && !$0.value.isEmpty ? $0.value.lowercased() : nil }
    }

    /// Parses the log's `headers` column.
    public static func parseHeaders(_ text: String?) -> [(name: String, value: String)] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: "\n").map { line in
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
        }
    }
}

/// What a publisher sends: the event fields it may set, plus an idempotency key.
public struct PublishRequest: Equatable, Sendable {
    public var topic: String
    public var properties: Properties
    public var payload: [UInt8]

    public init(topic: String, properties: Properties = Properties(), payload: [UInt8]) {
        self.topic = topic
        self.properties = properties
        self.payload = payload
    }

    /// Builds the event (seq and time still unset) and returns the idempotency key, validating every field.
    /// `generateID` makes an id when the publisher gave none.
    public func makeEvent(generateID: () -> String) throws(ProtocolError) -> (event: Event, key: String?) {
        var event = Event(id: "", topic: topic, payload: payload)
        var key: String?
        for (name, value) in properties.pairs {
            switch name {
            case "id": event.id = value
            case "correlation": event.correlation = value
            case "causation": event.causation = value
            case "producer": event.producer = value
            case "content-type": event.contentType = value
            case "key": key = value
            case "deadline":
                guard let ms = Int64(value), ms > 0 else {
                    throw ProtocolError(.invalidProperty, "deadline must be milliseconds since the Unix epoch, got '\(value)'")
                }
                event.deadline = ms
            case "time": break  // the broker's commit time wins
            default:
                if name.hasPrefix("h.") {
                    event.headers.append((String(name.dropFirst(2)), value))
                } else {
                    throw ProtocolError(.invalidProperty, "unknown property '\(name)' (headers are written h.NAME)")
                }
            }
        }
        if event.id.isEmpty { event.id = generateID() }
        return (event, key)
    }
}
