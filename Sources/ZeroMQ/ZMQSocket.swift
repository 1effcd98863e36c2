import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// A multipart message: one byte array per ZeroMQ frame.
public typealias Frames = [[UInt8]]

/// The socket types Chorus uses.
public enum ZMQSocketType: Sendable {
    case router, dealer, xpub, sub, pub, push, pull, pair, stream

    var raw: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .xpub: ZMQ_XPUB
        case .sub: ZMQ_SUB
        case .pub: ZMQ_PUB
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pair: ZMQ_PAIR
        case .stream: ZMQ_STREAM
        }
    }
}

/// One ZeroMQ socket, owned by the thread that created it.
///
/// libzmq sockets are not thread safe, so this class is deliberately not `Sendable`: the compiler keeps it on
/// the thread (or thread-confined object) that made it. Every `zmq_*` call on a socket goes through here.
public final class ZMQSocket {
    private var raw: UnsafeMutableRawPointer?
    /// The short frames of the last message received, by position (longer ones empty), for `interned`.
    private var previous: [[UInt8]] = Array(repeating: [], count: 16)
    /// The socket's type.
    public let type: ZMQSocketType

    /// Creates a socket of `type` in `context`, with linger 0 so closing never blocks on unsent messages.
    public init(_ type: ZMQSocketType, context: ZMQContext = .shared) throws {
        guard let raw = zmq_socket(context.raw, type.raw) else { throw ZMQError.last("zmq_socket") }
        self.raw = raw
        self.type = type
        try setOption(ZMQ_LINGER, 0)
    }

    deinit { close() }

    /// Closes the socket; later calls throw `ENOTSOCK`. Closing twice is harmless.
    public func close() {
        if let raw { zmq_close(raw) }
        raw = nil
    }

    private func socket(_ op: String) throws -> UnsafeMutableRawPointer {
        guard let raw else { throw ZMQError(code: ENOTSOCK, operation: op) }
        return raw
    }

    /// Binds to an endpoint such as `tcp://127.0.0.1:5555` or `tcp://127.0.0.1:*`.
    public func bind(_ endpoint: String) throws {
        if zmq_bind(try socket("bind"), endpoint) != 0 { throw ZMQError.last("bind \(endpoint)") }
    }

    /// Connects to an endpoint; libzmq connects in the background and reconnects by itself.
    public func connect(_ endpoint: String) throws {
        if zmq_connect(try socket("connect"), endpoint) != 0 { throw ZMQError.last("connect \(endpoint)") }
    }

    /// The endpoint last bound, with the real port when `*` was asked for (`ZMQ_LAST_ENDPOINT`).
    public var lastEndpoint: String {
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard let raw, zmq_getsockopt(raw, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else { return "" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Sets an integer option (`ZMQ_SNDHWM`, `ZMQ_LINGER`, ...).
    public func setOption(_ option: Int32, _ value: Int32) throws {
        var v = value
        if zmq_setsockopt(try socket("setsockopt"), option, &v, MemoryLayout<Int32>.size) != 0 {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    /// Sets a 64-bit integer option (`ZMQ_MAXMSGSIZE`).
    public func setOption(_ option: Int32, int64 value: Int64) throws {
        var v = value
        if zmq_setsockopt(try socket("setsockopt"), option, &v, MemoryLayout<Int64>.size) != 0 {
            throw ZMQError.last("setsockopt \(option)")
        }
    }

    /// Sets a binary option (`ZMQ_SUBSCRIBE`, `ZMQ_ROUTING_ID`, ...).
    public func setOption(_ option: Int32, bytes: [UInt8]) throws {
        let sock = try socket("setsockopt")
        let rc = bytes.withUnsafeBytes { zmq_setsockopt(sock, option, $0.baseAddress, $0.count) }
        if rc != 0 { throw ZMQError.last("setsockopt \(option)") }
    }

    /// Sends a multipart message. Returns false when `dontWait` is set and the message cannot be queued now
    /// (high-water mark reached); throws on any other error.
    @discardableResult
    public func send(_ frames: Frames, dontWait: Bool = false) throws -> Bool {
        let sock = try socket("send")
        for index in frames.indices {
            let queued = try frames[index].withUnsafeBytes {
                try sendFrame(sock, $0, more: index < frames.count - 1, dontWait: dontWait, first: index == 0)
            }
            if !queued { return false }
        }
        return true
    }

    /// Sends message `message` of `batch`, with the same contract as `send(_:dontWait:)`. The frames go from the
    /// batch's buffer to libzmq with no copy in between.
    @discardableResult
    public func send(message: Int, of batch: MessageBatch, dontWait: Bool = false) throws -> Bool {
        let sock = try socket("send")
        var first = true
        return try batch.forEachFrame(of: message) { frame, more in
            defer { first = false }
            return try sendFrame(sock, frame, more: more, dontWait: dontWait, first: first)
        }
    }

    /// Sends message `message` of `batch` with its last frame handed to libzmq as one buffer that libzmq holds
    /// until it has written it out, for large messages whose memory the caller bounds per client. The frame is
    /// `body` when given (in place of the batch's last frame), else the batch's own last frame, copied out once
    /// (as `zmq_send` would copy it). The caller has added `count` to `queued` for the message; it is taken off
    /// once libzmq is done with the last frame (so with the whole message, written in order), on libzmq's I/O
    /// thread, or here at once when the message was not queued. Same contract as `send(_:dontWait:)` otherwise.
    @discardableResult
    public func send(
        message: Int, of batch: MessageBatch, lastFrame body: [UInt8]? = nil, counting queued: QueuedBytes, count: Int, dontWait: Bool = false
    ) throws -> Bool {
        precondition(batch.frameCount(of: message) >= 2, "a message sent with a counted last frame needs a frame before it")
        var handedOver = false
        defer { if !handedOver { queued.release(count) } }
        let sock = try socket("send")
        var first = true
        return try batch.forEachFrame(of: message) { frame, more in
            defer { first = false }
            if more { return try sendFrame(sock, frame, more: true, dontWait: dontWait, first: first) }
            // From here the free callback owns the count, whether the frame is sent or dropped.
            handedOver = true
            if let body {
                try body.withUnsafeBytes { try sendCounted(sock, $0, queued, count, dontWait: dontWait) }
            } else {
                try sendCounted(sock, frame, queued, count, dontWait: dontWait)
            }
            return true
        }
    }

    /// The last frame of a message, copied into a buffer of its own that libzmq frees through `zeroCopyFree`,
    /// which takes `count` off `queued`.
    private func sendCounted(_ sock: UnsafeMutableRawPointer, _ bytes: UnsafeRawBufferPointer, _ queued: QueuedBytes, _ count: Int, dontWait: Bool) throws {
        guard let data = ZeroCopyBuffer.allocate(size: bytes.count, count: count) else {
            queued.release(count)
            throw ZMQError(code: ENOMEM, operation: "send a frame of \(bytes.count) bytes")
        }
        if let base = bytes.baseAddress { memcpy(data, base, bytes.count) }
        let hint = Unmanaged.passRetained(queued).toOpaque()
        var msg = zmq_msg_t()
        guard zmq_msg_init_data(&msg, data, bytes.count, zeroCopyFree, hint) == 0 else {
            let error = ZMQError.last("zmq_msg_init_data")
            zeroCopyFree(data, hint)
            throw error
        }
        var rc: Int32
        repeat {
            rc = zmq_msg_send(&msg, sock, dontWait ? ZMQ_DONTWAIT : 0)
        } while rc < 0 && zmq_errno() == EINTR
        if rc < 0 {
            let error = ZMQError.last("send")
            zmq_msg_close(&msg)  // releases the buffer through zeroCopyFree
            throw error
        }
    }

    /// One frame of a multipart message: false only when the first frame would block (then nothing was queued,
    /// as a multipart message is atomic); any other failure throws.
    private func sendFrame(_ sock: UnsafeMutableRawPointer, _ frame: UnsafeRawBufferPointer, more: Bool, dontWait: Bool, first: Bool) throws -> Bool {
        var flags: Int32 = more ? ZMQ_SNDMORE : 0
        if dontWait { flags |= ZMQ_DONTWAIT }
        var rc: Int32
        repeat {
            rc = zmq_send(sock, frame.baseAddress, frame.count, flags)
        } while rc < 0 && zmq_errno() == EINTR
        guard rc < 0 else { return true }
        let error = ZMQError.last("send")
        if error.wouldBlock && first { return false }
        throw error
    }

    /// Receives one multipart message, or nil when `dontWait` is set and none is waiting.
    public func receive(dontWait: Bool = false) throws -> Frames? {
        var frames: Frames = []
        // Most messages have 4 to 10 frames: one allocation instead of growing 1, 2, 4, 8.
        frames.reserveCapacity(12)
        let whole = try readMessage(dontWait: dontWait) { bytes in
            if bytes.isEmpty {
                frames.append([])
            } else {
                let frame = interned(bytes, at: frames.count, in: frames)
                if frames.count < previous.count { previous[frames.count] = bytes.count <= 64 ? frame : [] }
                frames.append(frame)
            }
        }
        return whole ? frames : nil
    }

    /// Receives one multipart message into `batch`, as its last message; false when `dontWait` is set and none is
    /// waiting. For readers that look at frames in place: no array is made per frame. A message that fails part
    /// way leaves nothing of itself in `batch`.
    public func receive(into batch: inout MessageBatch, dontWait: Bool = false) throws -> Bool {
        do {
            guard try readMessage(dontWait: dontWait, { batch.appendFrame(bytes: $0) }) else { return false }
        } catch {
            batch.discardUnfinished()
            throw error
        }
        batch.endMessage()
        return true
    }

    /// Reads the frames of one message, handing each to `take` in place (valid only during the call); false when
    /// `dontWait` is set and none is waiting.
    @inline(__always)
    private func readMessage(dontWait: Bool, _ take: (UnsafeRawBufferPointer) -> Void) throws -> Bool {
        let sock = try socket("recv")
        var message = zmq_msg_t()
        zmq_msg_init(&message)
        defer { zmq_msg_close(&message) }
        var started = false
        while true {
            if zmq_msg_recv(&message, sock, dontWait ? ZMQ_DONTWAIT : 0) < 0 {
                let error = ZMQError.last("recv")
                if error.wouldBlock && !started { return false }
                // A signal (the broker's own SIGTERM) consumed nothing, even between the frames of one message:
                // reading on continues the message. Throwing here stopped the broker without its last commit.
                if error.interrupted { continue }
                throw error
            }
            started = true
            take(UnsafeRawBufferPointer(start: zmq_msg_data(&message), count: zmq_msg_size(&message)))
            if zmq_msg_more(&message) == 0 { return true }
        }
    }

    /// How many frames back in the same message a short frame is looked for (a DELIVERMANY entry is six frames).
    static let lookBack = 6

    /// A short frame equal to the same frame of the previous message, or to one of the last few frames of this
    /// message, is shared instead of copied: a peer's routing id, the signature, the command and the topic repeat
    /// from message to message, and the topic repeats from entry to entry of a batch (a PUBLISHMANY of one topic
    /// is a topic frame every third frame, a DELIVERMANY's every sixth). An array allocated per frame was most of the
    /// cost of receiving.
    private func interned(_ bytes: UnsafeRawBufferPointer, at index: Int, in frames: Frames) -> [UInt8] {
        guard bytes.count <= 64 else { return Array(bytes) }
        func same(_ candidate: [UInt8]) -> Bool {
            candidate.count == bytes.count && candidate.withUnsafeBufferPointer({ memcmp($0.baseAddress!, bytes.baseAddress!, bytes.count) == 0 })
        }
        if index < previous.count && same(previous[index]) { return previous[index] }
        var back = frames.count - 1
        while back >= max(0, frames.count - Self.lookBack) {
            if !frames[back].isEmpty && same(frames[back]) { return frames[back] }
            back -= 1
        }
        return Array(bytes)
    }

    /// Whether the socket has a message to read now (`ZMQ_EVENTS` & `ZMQ_POLLIN`).
    public var isReadable: Bool {
        var events: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard let raw, zmq_getsockopt(raw, ZMQ_EVENTS, &events, &size) == 0 else { return false }
        return events & ZMQ_POLLIN != 0
    }

    fileprivate var pointer: UnsafeMutableRawPointer? { raw }
}

/// What `ZMQPoller.poll` watches: a socket or a plain file descriptor (a wake-up pipe, say).
public enum ZMQPollTarget {
    case socket(ZMQSocket)
    case fd(Int32)
}

/// Waits on several sockets and file descriptors at once (`zmq_poll`).
public struct ZMQPoller {
    private var targets: [ZMQPollTarget] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds a target to watch for readability; returns its index in `poll`'s result.
    @discardableResult
    public mutating func add(_ target: ZMQPollTarget) -> Int {
        targets.append(target)
        switch target {
        case .socket(let socket):
            items.append(zmq_pollitem_t(socket: socket.pointer, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        case .fd(let fd):
            items.append(zmq_pollitem_t(socket: nil, fd: fd, events: Int16(ZMQ_POLLIN), revents: 0))
        }
        return targets.count - 1
    }

    /// Waits up to `timeoutMilliseconds` (-1: forever) and returns, per target, whether it is readable.
    /// An interrupted wait returns all false.
    public mutating func poll(timeoutMilliseconds: Int) throws -> [Bool] {
        for i in items.indices { items[i].revents = 0 }
        let rc = items.withUnsafeMutableBufferPointer { zmq_poll($0.baseAddress, Int32($0.count), timeoutMilliseconds) }
        if rc < 0 {
            if zmq_errno() == EINTR { return Array(repeating: false, count: items.count) }
            throw ZMQError.last("poll")
        }
        return items.map { $0.revents & Int16(ZMQ_POLLIN) != 0 }
    }
}
