/// A command a client sends to the broker's ROUTER endpoint (docs/PROTOCOL.md, "Client commands").
///
/// Every client command is: frame 0 `CHORUS1`, frame 1 the command name, frame 2 a request id (0 to 255
/// bytes, echoed in the reply; empty asks for no reply where replies are optional), then the command's frames.
public enum ClientCommand: Equatable, Sendable {
    /// Opens a session and states the client's heartbeat interval. Reply: WELCOME.
    case hello(requestID: [UInt8], properties: Properties)
    /// Publishes one event. Reply: CONFIRM once it is committed, or ERROR.
    case publish(requestID: [UInt8], request: PublishRequest)
    /// Publishes 1 to `maxBatch` events in one message, each handled as its own PUBLISH would be. An event the
    /// decoder could not read is carried as its error, so the others still go in. Reply: CONFIRMMANY once every
    /// accepted event is committed.
    case publishMany(requestID: [UInt8], requests: [Result<PublishRequest, ProtocolError>])
    /// Joins a consumer group. Reply: SUBSCRIBED or ERROR.
    case subscribe(requestID: [UInt8], group: String, patterns: [String], properties: Properties)
    /// Leaves a group; the session's in-flight deliveries of that group return to it. Reply: UNSUBSCRIBED.
    case unsubscribe(requestID: [UInt8], group: String)
    /// Settles one or more deliveries. Reply (only with a request id): ACKED, or ERROR for a stale lease.
    case ack(requestID: [UInt8], group: String, leases: [Lease])
    /// Gives one delivery back. Reply (only with a request id): NACKED or ERROR.
    case nack(requestID: [UInt8], group: String, lease: Lease, mode: NackMode, reason: String)
    /// Extends one delivery's lease by `milliseconds` from now. Reply (only with a request id): EXTENDED or ERROR.
    case extend(requestID: [UInt8], group: String, lease: Lease, milliseconds: UInt64)
    /// Keeps the session alive. No reply (the broker sends its own HEARTBEATs).
    case heartbeat(requestID: [UInt8])
    /// Ends the session now: every in-flight delivery returns to its group at once. No reply.
    case bye(requestID: [UInt8])
    /// Waits for the first event with `correlation` whose topic matches `pattern` and whose sequence number is
    /// above `afterSeq` (already in the log or still to come). Reply: EVENT, or ERROR AWAIT_TIMEOUT.
    case await(requestID: [UInt8], correlation: String, pattern: String, afterSeq: UInt64, timeoutMilliseconds: UInt64)
    /// Stores an artifact content-addressed (SHA-256). Reply: BLOB with its hash and size, once it is durable.
    case putBlob(requestID: [UInt8], mediaType: String, content: [UInt8])
    /// Fetches an artifact by its SHA-256 (64 lowercase hex digits). Reply: BLOB with the content, or NOT_FOUND.
    case getBlob(requestID: [UInt8], hash: String)
    /// An operator command with JSON arguments: `stats`, `dlq.list`, `dlq.redrive`, `dlq.purge`, `log.compact`.
    /// Reply: RESULT with a JSON document, or ERROR.
    case admin(requestID: [UInt8], operation: String, arguments: [UInt8])

    /// The AWAIT pattern that asks the broker for "the reply to the event at `afterSeq`": the merged record of
    /// the join that event opened, or else the first event whose causation is that event's id.
    public static let replyPattern = "@reply"

    /// The most events one PUBLISHMANY may carry (and the largest `batch` a SUBSCRIBE may ask for).
    public static let maxBatch = 1000

    /// A PUBLISHMANY in packed form (section 6.14): every event in one frame.
    public static func encodePackedPublishMany(requestID: [UInt8], _ requests: [PublishRequest]) -> [[UInt8]] {
        var packed: [UInt8] = []
        for r in requests { Packed.appendPublishRequest(r, to: &packed) }
        return [ProtocolVersion.signature, Name.publishMany, requestID, packed]
    }

    /// An ACK in packed form (section 6.5): the leases in one frame, 16 bytes each.
    public static func encodePackedAck(requestID: [UInt8], group: String, leases: [Lease]) -> [[UInt8]] {
        var packed: [UInt8] = []
        packed.reserveCapacity(leases.count * Packed.leaseSize)
        for lease in leases { Packed.appendLease(lease, to: &packed) }
        return [ProtocolVersion.signature, Name.ack, requestID, Array(group.utf8), packed]
    }

    /// A PUBLISHMANY of events that are all well formed (what a client sends).
    public static func publishMany(requestID: [UInt8], _ requests: [PublishRequest]) -> ClientCommand {
        .publishMany(requestID: requestID, requests: requests.map { .success($0) })
    }

    /// The command names, as in frame 1.
    public enum Name {
        public static let hello: [UInt8] = Array("HELLO".utf8)
        public static let publish: [UInt8] = Array("PUBLISH".utf8)
        public static let publishMany: [UInt8] = Array("PUBLISHMANY".utf8)
        public static let subscribe: [UInt8] = Array("SUBSCRIBE".utf8)
        public static let unsubscribe: [UInt8] = Array("UNSUBSCRIBE".utf8)
        public static let ack: [UInt8] = Array("ACK".utf8)
        public static let nack: [UInt8] = Array("NACK".utf8)
        public static let extend: [UInt8] = Array("EXTEND".utf8)
        public static let heartbeat: [UInt8] = Array("HEARTBEAT".utf8)
        public static let bye: [UInt8] = Array("BYE".utf8)
        public static let await: [UInt8] = Array("AWAIT".utf8)
        public static let putBlob: [UInt8] = Array("PUTBLOB".utf8)
        public static let getBlob: [UInt8] = Array("GETBLOB".utf8)
        public static let admin: [UInt8] = Array("ADMIN".utf8)
    }

    /// The request id of any command.
    public var requestID: [UInt8] {
        switch self {
        case .hello(let r, _), .publish(let r, _), .publishMany(let r, _), .subscribe(let r, _, _, _), .unsubscribe(let r, _),
            .ack(let r, _, _), .nack(let r, _, _, _, _), .extend(let r, _, _, _), .heartbeat(let r), .bye(let r),
            .await(let r, _, _, _, _), .putBlob(let r, _, _), .getBlob(let r, _), .admin(let r, _, _):
            r
        }
    }

    /// Encodes the command as frames (without any routing envelope).
    public func encode() -> [[UInt8]] {
        let sig = ProtocolVersion.signature
        switch self {
        case .hello(let r, let p):
            return [sig, Name.hello, r, p.encode()]
        case .publish(let r, let req):
            return [sig, Name.publish, r, Array(req.topic.utf8), req.properties.encode(), req.payload]
        case .publishMany(let r, let requests):
            var frames = [sig, Name.publishMany, r]
            frames.reserveCapacity(3 + 3 * requests.count)
            for request in requests {
                // Only a decoder makes failures; a client has nothing to send for one.
                guard case .success(let req) = request else { preconditionFailure("PUBLISHMANY cannot encode a refused event") }
                frames += [Array(req.topic.utf8), req.properties.encode(), req.payload]
            }
            return frames
        case .subscribe(let r, let group, let patterns, let p):
            return [sig, Name.subscribe, r, Array(group.utf8), Array(patterns.joined(separator: "\n").utf8), p.encode()]
        case .unsubscribe(let r, let group):
            return [sig, Name.unsubscribe, r, Array(group.utf8)]
        case .ack(let r, let group, let leases):
            var frames = [sig, Name.ack, r, Array(group.utf8)]
            for lease in leases {
                frames.append(FrameCoding.number(lease.seq))
                frames.append(lease.tokenBytes)
            }
            return frames
        case .nack(let r, let group, let lease, let mode, let reason):
            return [
                sig, Name.nack, r, Array(group.utf8), FrameCoding.number(lease.seq), lease.tokenBytes,
                Array(mode.description.utf8), Array(reason.utf8),
            ]
        case .extend(let r, let group, let lease, let ms):
            return [sig, Name.extend, r, Array(group.utf8), FrameCoding.number(lease.seq), lease.tokenBytes, FrameCoding.number(ms)]
        case .heartbeat(let r):
            return [sig, Name.heartbeat, r]
        case .bye(let r):
            return [sig, Name.bye, r]
        case .await(let r, let correlation, let pattern, let after, let ms):
            return [sig, Name.await, r, Array(correlation.utf8), Array(pattern.utf8), FrameCoding.number(after), FrameCoding.number(ms)]
        case .putBlob(let r, let mediaType, let content):
            return [sig, Name.putBlob, r, Array(mediaType.utf8), content]
        case .getBlob(let r, let hash):
            return [sig, Name.getBlob, r, Array(hash.utf8)]
        case .admin(let r, let operation, let arguments):
            return [sig, Name.admin, r, Array(operation.utf8), arguments]
        }
    }

    /// Decodes frames (routing envelope already removed). Errors carry the request id when it could be read,
    /// so the broker can still address its ERROR reply.
    public static func decode(_ frames: ArraySlice<[UInt8]>) throws(CommandDecodingError) -> ClientCommand {
        guard let first = frames.first else {
            throw CommandDecodingError(requestID: [], error: ProtocolError(.malformed, "empty message"))
        }
        guard first == ProtocolVersion.signature else {
            throw CommandDecodingError(
                requestID: [],
                error: ProtocolError(.unsupportedVersion, "frame 0 must be 'CHORUS1'; this broker speaks protocol version 1")
            )
        }
        let f = ZeroBased(frames.dropFirst())
        guard f.count >= 2 else {
            throw CommandDecodingError(
                requestID: [], error: ProtocolError(.malformed, "a command needs at least 3 frames: CHORUS1, name, request id"))
        }
        let name = f[0]
        let requestID = f[1]
        do throws(ProtocolError) {
            guard requestID.count <= 255 else { throw ProtocolError(.malformed, "request id exceeds 255 bytes") }
            let body = ZeroBased(frames.dropFirst(3))
            func expect(_ count: Int, _ what: String) throws(ProtocolError) {
                guard body.count == count else {
                    throw ProtocolError(
                        .malformed, "\(String(decoding: name, as: UTF8.self)) takes \(count + 3) frames (\(what)), got \(body.count + 3)")
                }
            }
            switch name {
            case Name.publish:
                try expect(3, "CHORUS1, PUBLISH, request id, topic, properties, payload")
                let topic = try FrameCoding.text(body[0], field: "topic")
                return .publish(
                    requestID: requestID,
                    request: PublishRequest(topic: topic, properties: try Properties.decode(body[1]), payload: body[2]))
            case Name.publishMany:
                if body.count == 1 {
                    // Packed (section 6.14): every event in one frame.
                    return .publishMany(requestID: requestID, requests: try Packed.decodePublishRequests(body[0][...], limit: maxBatch))
                }
                guard body.count >= 3, body.count % 3 == 0, body.count / 3 <= maxBatch else {
                    throw ProtocolError(
                        .malformed, "PUBLISHMANY takes CHORUS1, PUBLISHMANY, request id, then 1 to \(maxBatch) (topic, properties, payload) triples")
                }
                var requests: [Result<PublishRequest, ProtocolError>] = []
                requests.reserveCapacity(body.count / 3)
                var i = 0
                // A batch is often of one topic: its text is made once, not once per event.
                var last: (frame: [UInt8], topic: String)?
                while i < body.count {
                    do throws(ProtocolError) {
                        let topic: String
                        if let last, last.frame == body[i] {
                            topic = last.topic
                        } else {
                            topic = try FrameCoding.text(body[i], field: "topic")
                            last = (body[i], topic)
                        }
                        requests.append(.success(PublishRequest(topic: topic, properties: try Properties.decode(body[i + 1]), payload: body[i + 2])))
                    } catch {
                        requests.append(.failure(error))
                    }
                    i += 3
                }
                return .publishMany(requestID: requestID, requests: requests)
            case Name.ack:
                if body.count == 2 {
                    // Packed (section 6.5): every lease in one frame.
                    let group = try FrameCoding.name(body[0], field: "group")
                    return .ack(requestID: requestID, group: group, leases: try Packed.decodeLeases(body[1][...]))
                }
                guard body.count >= 3, (body.count - 1) % 2 == 0 else {
                    throw ProtocolError(
                        .malformed, "ACK takes CHORUS1, ACK, request id, group, then sequence and token pairs, or one frame of packed leases")
                }
                let group = try FrameCoding.name(body[0], field: "group")
                var leases: [Lease] = []
                leases.reserveCapacity((body.count - 1) / 2)
                var i = 1
                while i < body.count {
                    leases.append(try Lease.decode(seq: body[i], token: body[i + 1]))
                    i += 2
                }
                return .ack(requestID: requestID, group: group, leases: leases)
            case Name.heartbeat:
                return .heartbeat(requestID: requestID)
            case Name.hello:
                try expect(1, "CHORUS1, HELLO, request id, properties")
                return .hello(requestID: requestID, properties: try Properties.decode(body[0]))
            case Name.subscribe:
                try expect(3, "CHORUS1, SUBSCRIBE, request id, group, patterns, properties")
                let group = try FrameCoding.name(body[0], field: "group")
                let patternText = try FrameCoding.text(body[1], field: "patterns", maxLength: 4096)
                let patterns = patternText.split(separator: "\n").map(String.init)
                return .subscribe(requestID: requestID, group: group, patterns: patterns, properties: try Properties.decode(body[2]))
            case Name.unsubscribe:
                try expect(1, "CHORUS1, UNSUBSCRIBE, request id, group")
                return .unsubscribe(requestID: requestID, group: try FrameCoding.name(body[0], field: "group"))
            case Name.nack:
                try expect(5, "CHORUS1, NACK, request id, group, sequence, token, mode, reason")
                return .nack(
                    requestID: requestID, group: try FrameCoding.name(body[0], field: "group"),
                    lease: try Lease.decode(seq: body[1], token: body[2]),
                    mode: try NackMode(FrameCoding.text(body[3], field: "mode")),
                    reason: try FrameCoding.text(body[4], field: "reason", maxLength: 4096))
            case Name.extend:
                try expect(4, "CHORUS1, EXTEND, request id, group, sequence, token, milliseconds")
                return .extend(
                    requestID: requestID, group: try FrameCoding.name(body[0], field: "group"),
                    lease: try Lease.decode(seq: body[1], token: body[2]),
                    milliseconds: try FrameCoding.number(body[3], field: "milliseconds"))
            case Name.bye:
                return .bye(requestID: requestID)
            case Name.await:
                try expect(4, "CHORUS1, AWAIT, request id, correlation, pattern, after sequence, timeout milliseconds")
                let correlation = try FrameCoding.text(body[0], field: "correlation", maxLength: 4096)
                guard !correlation.isEmpty else { throw ProtocolError(.malformed, "AWAIT needs a correlation id") }
                let pattern = try FrameCoding.text(body[1], field: "pattern")
                if pattern != ClientCommand.replyPattern { _ = try TopicPattern(pattern) }
                return .await(
                    requestID: requestID, correlation: correlation, pattern: pattern,
                    afterSeq: try FrameCoding.sequence(body[2], field: "after sequence"),
                    timeoutMilliseconds: try FrameCoding.number(body[3], field: "timeout"))
            case Name.putBlob:
                try expect(2, "CHORUS1, PUTBLOB, request id, media type, content")
                return .putBlob(requestID: requestID, mediaType: try FrameCoding.text(body[0], field: "media type"), content: body[1])
            case Name.getBlob:
                try expect(1, "CHORUS1, GETBLOB, request id, hash")
                let hash = try FrameCoding.text(body[0], field: "hash")
                guard hash.utf8.count == 64, hash.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else {
                    throw ProtocolError(.malformed, "a blob hash is 64 lowercase hex digits (SHA-256)")
                }
                return .getBlob(requestID: requestID, hash: hash)
            case Name.admin:
                try expect(2, "CHORUS1, ADMIN, request id, operation, JSON arguments")
                return .admin(requestID: requestID, operation: try FrameCoding.text(body[0], field: "operation"), arguments: body[1])
            default:
                throw ProtocolError(
                    .unknownCommand,
                    "unknown command '\(String(decoding: name.prefix(32), as: UTF8.self))'; version 1 knows HELLO PUBLISH PUBLISHMANY SUBSCRIBE UNSUBSCRIBE ACK NACK EXTEND HEARTBEAT BYE AWAIT PUTBLOB GETBLOB ADMIN"
                )
            }
        } catch {
            throw CommandDecodingError(requestID: requestID.count <= 255 ? requestID : [], error: error)
        }
    }
}

/// Frames of a message indexed from 0 without copying them out of the received slice: decoding every command
/// into a fresh array cost two allocations per message.
struct ZeroBased {
    let frames: ArraySlice<[UInt8]>
    init(_ frames: ArraySlice<[UInt8]>) { self.frames = frames }
    var count: Int { frames.count }
    subscript(index: Int) -> [UInt8] { frames[frames.startIndex + index] }
}

/// A decoding failure with the request id it belongs to (empty when unknown).
public struct CommandDecodingError: Error, Equatable, Sendable {
    public let requestID: [UInt8]
    public let error: ProtocolError
}
