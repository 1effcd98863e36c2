import CZeroMQ
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Bytes a thread has promised to libzmq or handed to it without a copy, not yet released: what one client's
/// large replies hold in memory until libzmq has written them to the connection.
///
/// The owner of the socket adds a frame's size when it decides to send the frame; libzmq's I/O thread (or the
/// socket's owner, when the send fails) takes it off once the frame is written out or dropped. Hence `Sendable`
/// and atomic, where sockets are confined to one thread.
public final class QueuedBytes: Sendable {
    private let value = Atomic<Int>(0)

    public init() {}

    /// The bytes still held.
    public var current: Int { value.load(ordering: .acquiring) }

    /// Counts `count` more bytes.
    public func add(_ count: Int) {
        value.wrappingAdd(count, ordering: .relaxed)
    }

    /// Takes `count` bytes off: libzmq is done with them, or they were never handed over.
    public func release(_ count: Int) {
        value.wrappingSubtract(count, ordering: .releasing)
    }
}

/// A zero-copy frame's buffer: the count to release, then the frame, in one allocation (so a frame costs one
/// `malloc` and no object for its callback).
enum ZeroCopyBuffer {
    /// Room for the count before the frame's bytes, keeping them aligned.
    static let headerBytes = 16

    /// A buffer for a frame of `size` bytes that will release `count`: where the frame goes, nil without memory.
    static func allocate(size: Int, count: Int) -> UnsafeMutableRawPointer? {
        guard let base = malloc(headerBytes + size) else { return nil }
        base.storeBytes(of: count, as: Int.self)
        return base + headerBytes
    }
}

/// libzmq calls this once it no longer needs a zero-copy frame's buffer, on its I/O thread or in
/// `zmq_msg_close`: `data` is the frame of a `ZeroCopyBuffer`, and the hint a retained `QueuedBytes`.
let zeroCopyFree: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { data, hint in
    guard let data else { return }
    let base = data - ZeroCopyBuffer.headerBytes
    let count = base.load(as: Int.self)
    free(base)
    guard let hint else { return }
    Unmanaged<QueuedBytes>.fromOpaque(hint).takeRetainedValue().release(count)
}
