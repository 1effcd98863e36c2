import ChorusProtocol
import Foundation
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A blocking connection to a broker: one DEALER socket, owned by the thread that created it.
///
/// Used by the command-line tools and by tests; it is the protocol (docs/PROTOCOL.md) spoken plainly.
/// Messages that arrive while waiting for a particular reply (deliveries, heartbeats) are kept in order and
/// returned by `receive` later, so nothing is lost between calls. Not `Sendable`: keep it on one thread.
public final class BrokerConnection {
    public let endpoint: String
    private let socket: ZMQSocket
    private var backlog: [BrokerMessage] = []
    private var backlogHead = 0
    private var nextRequest: UInt64 = 1
    /// Milliseconds between heartbeats this client sends (the broker's interval after `hello`).
    public private(set) var heartbeatMilliseconds: Int64 = 1000
    private var lastSent: Int64 = 0
    /// Last time anything arrived from the broker.
    public private(set) var lastHeard: Int64 = 0

    /// Connects (in the background, as ZeroMQ does); calls fail with `noAnswer` if the broker never answers.
    public init(endpoint: String) throws {
        self.endpoint = endpoint
        do {
            socket = try ZMQSocket(.dealer)
            try socket.setOption(ZMQOption.sendHighWaterMark, 100_000)
            try socket.setOption(ZMQOption.receiveHighWaterMark, 100_000)
            try socket.setOption(ZMQOption.reconnectInterval, 100)
            try socket.setOption(ZMQOption.reconnectIntervalMax, 2000)
            try socket.connect(endpoint)
        } catch {
            throw ChorusClientError.transport("\(error)")
        }
        lastHeard = Self.now()
    }

    deinit { socket.close() }

    /// Wall-clock milliseconds since the Unix epoch (the unit of event times, deadlines and leases).
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// A fresh request id.
    public func makeRequestID() -> [UInt8] {
        defer { nextRequest += 1 }
        return FrameCoding.number(nextRequest)
    }

    /// Sends a command without waiting.
    public func send(_ command: ClientCommand) throws {
        try sendRaw(command.encode())
    }

    /// Sends raw frames (tests of malformed input use this, and clients that encode their own messages).
    public func sendRaw(_ frames: Frames) throws {
        do { try socket.send(frames) } catch { throw ChorusClientError.transport("\(error)") }
        lastSent = Self.now()
    }

    /// The next message from the broker, waiting up to `timeoutMilliseconds` (-1: forever). Sends a heartbeat
    /// when one is due, so a caller that loops on `receive` keeps its session alive.
    public func receive(timeoutMilliseconds: Int) throws -> BrokerMessage? {
        try receive(timeoutMilliseconds: timeoutMilliseconds, wakeFD: nil)
    }

    /// Like `receive(timeoutMilliseconds:)`, but also returns nil as soon as `wakeFD` becomes readable, so a
    /// loop that owns this connection can be woken by other threads (a pipe) without touching the socket.
    public func receive(timeoutMilliseconds: Int, wakeFD: Int32?) throws -> BrokerMessage? {
        if backlogHead < backlog.count { return nextFromBacklog() }
        guard let frames = try receiveFrames(timeoutMilliseconds: timeoutMilliseconds, wakeFD: wakeFD) else { return nil }
        do {
            return try BrokerMessage.decode(frames)
        } catch {
            throw ChorusClientError.unexpected("\(error)")
        }
    }

    /// The next message as raw frames (`CHORUS1`, name, ...), not decoded: for clients that read only a few
    /// frames of each message (a benchmark's consumer reads a DELIVER's seq and token). Heartbeats as `receive`.
    public func receiveRaw(timeoutMilliseconds: Int) throws -> Frames? {
        if backlogHead < backlog.count { return nextFromBacklog().encode() }
        return try receiveFrames(timeoutMilliseconds: timeoutMilliseconds, wakeFD: nil)
    }

    private func nextFromBacklog() -> BrokerMessage {
        let m = backlog[backlogHead]
        backlogHead += 1
        if backlogHead == backlog.count {
            backlog.removeAll(keepingCapacity: true)
            backlogHead = 0
        }
        return m
    }

    private func receiveFrames(timeoutMilliseconds: Int, wakeFD: Int32?) throws -> Frames? {
        var frames: Frames?
        _ = try waitForMessage(timeoutMilliseconds: timeoutMilliseconds, wakeFD: wakeFD) {
            frames = try socket.receive(dontWait: true)
            return frames != nil
        }
        return frames
    }

    /// Calls `read` (which takes a waiting message, if any) until it takes one or the time is up, sending
    /// heartbeats meanwhile. False when the time ran out or `wakeFD` became readable.
    private func waitForMessage(timeoutMilliseconds: Int, wakeFD: Int32?, _ read: () throws -> Bool) throws -> Bool {
        // Socket errors come out as `transport`, as from every other call.
        func readMapped() throws -> Bool {
            do { return try read() } catch let error as ChorusClientError { throw error } catch { throw ChorusClientError.transport("\(error)") }
        }
        // Fast path: a message already waiting needs no poll.
        if try readMapped() {
            lastHeard = Self.now()
            return true
        }
        let deadline = timeoutMilliseconds < 0 ? Int64.max : Self.now() + Int64(timeoutMilliseconds)
        while true {
            try heartbeatIfDue()
            let remaining = deadline == Int64.max ? heartbeatMilliseconds : deadline - Self.now()
            if remaining < 0 { return false }
            let wait = Int(min(remaining, max(heartbeatMilliseconds / 2, 10)))
            var poller = ZMQPoller()
            poller.add(.socket(socket))
            if let wakeFD { poller.add(.fd(wakeFD)) }
            let ready: [Bool]
            do { ready = try poller.poll(timeoutMilliseconds: wait) } catch { throw ChorusClientError.transport("\(error)") }
            if ready.count > 1 && ready[1] { return false }
            if ready[0], try readMapped() {
                lastHeard = Self.now()
                return true
            }
            if Self.now() >= deadline { return false }
        }
    }

    /// Appends the next message to `batch` as raw frames, waiting up to `timeoutMilliseconds`; false if none came.
    /// For lean readers that look at frames in place (the benchmark's consumers): no array is made per frame.
    /// Messages kept back by `awaitReply` come first, as with `receive`, re-encoded: a DELIVERMANY among them
    /// comes in the frame-per-field form even to a member that asked for the packed one.
    public func receiveRaw(into batch: inout MessageBatch, timeoutMilliseconds: Int) throws -> Bool {
        if backlogHead < backlog.count {
            batch.append(nextFromBacklog().encode())
            return true
        }
        return try waitForMessage(timeoutMilliseconds: timeoutMilliseconds, wakeFD: nil) {
            try socket.receive(into: &batch, dontWait: true)
        }
    }

    /// Sends message `message` of `batch` as it is (a lean client's own encoding, such as a benchmark's ACKs).
    public func sendRaw(_ message: Int, of batch: MessageBatch) throws {
        do {
            guard try socket.send(message: message, of: batch) else { throw ChorusClientError.transport("send would block") }
        } catch let error as ChorusClientError {
            throw error
        } catch {
            throw ChorusClientError.transport("\(error)")
        }
        lastSent = Self.now()
    }

    /// Sends a HEARTBEAT if nothing was sent for half an interval.
    public func heartbeatIfDue() throws {
        if Self.now() - lastSent >= heartbeatMilliseconds / 2 {
            try send(.heartbeat(requestID: []))
        }
    }

    /// Waits for the reply carrying `requestID`, keeping other messages for `receive`.
    public func awaitReply(_ requestID: [UInt8], timeoutMilliseconds: Int) throws -> BrokerMessage {
        let deadline = Self.now() + Int64(timeoutMilliseconds)
        var kept: [BrokerMessage] = []
        defer { if !kept.isEmpty { backlog.append(contentsOf: kept) } }
        while true {
            let remaining = deadline - Self.now()
            guard remaining > 0, let message = try receiveFromSocket(timeoutMilliseconds: Int(remaining)) else {
                throw ChorusClientError.noAnswer(endpoint: endpoint, waitedMilliseconds: timeoutMilliseconds)
            }
            if Self.requestID(of: message) == requestID {
                if case .error(_, let code, let text) = message { throw ChorusClientError.refused(code: code, message: text) }
                return message
            }
            if case .heartbeat = message { continue }
            kept.append(message)
        }
    }

    private func receiveFromSocket(timeoutMilliseconds: Int) throws -> BrokerMessage? {
        // Bypass the backlog: replies are never in it.
        let saved = (backlog, backlogHead)
        backlog = []
        backlogHead = 0
        defer { (backlog, backlogHead) = saved }
        return try receive(timeoutMilliseconds: timeoutMilliseconds)
    }

    /// The request id a reply echoes, if it is a reply.
    public static func requestID(of message: BrokerMessage) -> [UInt8]? {
        switch message {
        case .welcome(let r, _), .confirm(let r, _, _), .confirmMany(let r, _), .subscribed(let r, _, _), .unsubscribed(let r, _), .acked(let r, _),
            .nacked(let r), .extended(let r, _), .error(let r, _, _), .event(let r, _), .blob(let r, _, _, _, _), .result(let r, _):
            r
        case .deliver, .deliverMany, .heartbeat: nil
        }
    }

    // MARK: Commands

    /// HELLO: names the client and learns the broker's heartbeat interval.
    @discardableResult
    public func hello(name: String, timeoutMilliseconds: Int = 5000) throws -> Properties {
        let r = makeRequestID()
        try send(.hello(requestID: r, properties: Properties([("name", name)])))
        guard case .welcome(_, let p) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected WELCOME")
        }
        if let hb = p["heartbeat"].flatMap(Int64.init), hb > 0 { heartbeatMilliseconds = hb }
        return p
    }

    /// Publishes one event and waits for its confirm: (sequence number, whether it was a duplicate).
    public func publish(
        topic: String, payload: [UInt8], properties: Properties = Properties(), timeoutMilliseconds: Int = 5000
    ) throws -> (seq: UInt64, duplicate: Bool) {
        let r = makeRequestID()
        try send(.publish(requestID: r, request: PublishRequest(topic: topic, properties: properties, payload: payload)))
        guard case .confirm(_, let seq, let dup) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected CONFIRM")
        }
        return (seq, dup)
    }

    /// Publishes up to `ClientCommand.maxBatch` events in one PUBLISHMANY and waits for its CONFIRMMANY: what became
    /// of each event, in order.
    /// `packed` sends every event in one frame (docs/PROTOCOL.md, section 6.14): for a broker whose WELCOME says
    /// `packed=1`, and only when the frame stays below its `max-frame` (above it the broker drops the connection).
    public func publishMany(_ requests: [PublishRequest], packed: Bool = false, timeoutMilliseconds: Int = 5000) throws -> [PublishOutcome] {
        let r = makeRequestID()
        try sendPublishMany(requestID: r, requests, packed: packed)
        guard case .confirmMany(_, let outcomes) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected CONFIRMMANY")
        }
        return outcomes
    }

    /// Sends a PUBLISHMANY without waiting for its CONFIRMMANY (pipelined publishers), `packed` in one frame.
    public func sendPublishMany(requestID: [UInt8], _ requests: [PublishRequest], packed: Bool) throws {
        guard packed else { return try send(.publishMany(requestID: requestID, requests)) }
        try sendRaw(ClientCommand.encodePackedPublishMany(requestID: requestID, requests))
    }

    /// Joins a group and returns the SUBSCRIBED properties.
    @discardableResult
    public func subscribe(
        group: String, patterns: [String], credit: Int, start: StartPosition = .new, extra: [(String, String)] = [],
        timeoutMilliseconds: Int = 5000
    ) throws -> Properties {
        let r = makeRequestID()
        var p = Properties([("credit", String(credit)), ("start", start.description)])
        for (k, v) in extra { p.append(k, v) }
        try send(.subscribe(requestID: r, group: group, patterns: patterns, properties: p))
        guard case .subscribed(_, _, let props) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected SUBSCRIBED")
        }
        return props
    }

    /// Acks leases. With `confirm`, waits for ACKED (and throws on a stale lease); without, returns at once.
    public func ack(group: String, leases: [Lease], confirm: Bool = false, timeoutMilliseconds: Int = 5000) throws {
        if !confirm {
            try send(.ack(requestID: [], group: group, leases: leases))
            return
        }
        let r = makeRequestID()
        try send(.ack(requestID: r, group: group, leases: leases))
        _ = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Nacks one delivery and waits for NACKED.
    public func nack(group: String, lease: Lease, mode: NackMode, reason: String, timeoutMilliseconds: Int = 5000) throws {
        let r = makeRequestID()
        try send(.nack(requestID: r, group: group, lease: lease, mode: mode, reason: reason))
        _ = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds)
    }

    /// Extends a lease and returns its new expiry (ms since the epoch).
    public func extend(group: String, lease: Lease, milliseconds: UInt64, timeoutMilliseconds: Int = 5000) throws -> UInt64 {
        let r = makeRequestID()
        try send(.extend(requestID: r, group: group, lease: lease, milliseconds: milliseconds))
        guard case .extended(_, let at) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected EXTENDED")
        }
        return at
    }

    /// Waits (long-polls) for the first event with `correlation` on a topic matching `pattern` after `afterSeq`.
    /// Returns nil when the broker reports AWAIT_TIMEOUT.
    public func awaitEvent(correlation: String, pattern: String, afterSeq: UInt64, timeoutMilliseconds: Int) throws -> Event? {
        let r = makeRequestID()
        try send(.await(requestID: r, correlation: correlation, pattern: pattern, afterSeq: afterSeq, timeoutMilliseconds: UInt64(timeoutMilliseconds)))
        do {
            // The broker answers at the timeout; allow it a few seconds more to say so.
            guard case .event(_, let e) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds + 5000) else {
                throw ChorusClientError.unexpected("expected EVENT")
            }
            return e
        } catch ChorusClientError.refused(let code, _) where code == .awaitTimeout {
            return nil
        }
    }

    /// Stores an artifact; returns its SHA-256 (hex) once the broker has it durably.
    public func putBlob(_ content: [UInt8], mediaType: String, timeoutMilliseconds: Int = 30_000) throws -> String {
        let r = makeRequestID()
        try send(.putBlob(requestID: r, mediaType: mediaType, content: content))
        guard case .blob(_, let hash, _, _, _) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected BLOB")
        }
        return hash
    }

    /// Fetches an artifact: (media type, content).
    public func getBlob(_ hash: String, timeoutMilliseconds: Int = 30_000) throws -> (mediaType: String, content: [UInt8]) {
        let r = makeRequestID()
        try send(.getBlob(requestID: r, hash: hash))
        guard case .blob(_, _, _, let mediaType, let content) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds) else {
            throw ChorusClientError.unexpected("expected BLOB")
        }
        return (mediaType, content)
    }

    /// Runs an operator command (`stats`, `dlq.list`, `dlq.redrive`, `dlq.purge`, `log.compact`); returns its JSON.
    public func admin(_ operation: String, arguments: [String: Any] = [:], timeoutMilliseconds: Int = 10_000) throws -> [String: Any] {
        let r = makeRequestID()
        let body = (try? JSONSerialization.data(withJSONObject: arguments)) ?? Data("{}".utf8)
        try send(.admin(requestID: r, operation: operation, arguments: Array(body)))
        guard case .result(_, let json) = try awaitReply(r, timeoutMilliseconds: timeoutMilliseconds),
            let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        else {
            throw ChorusClientError.unexpected("expected RESULT with a JSON object")
        }
        return object
    }

    /// Says BYE: the broker returns this session's in-flight deliveries at once.
    public func close() {
        try? send(.bye(requestID: []))
        // Linger briefly so the BYE leaves before the socket goes (it was created with linger 0).
        try? socket.setOption(ZMQOption.linger, 500)
        socket.close()
    }
}
