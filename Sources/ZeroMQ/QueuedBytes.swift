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

/// What the free callback of a zero-copy frame needs: whose bytes they were and how many.
final class ZeroCopyRelease: Sendable {
    let queued: QueuedBytes
    let count: Int

    init(_ queued: QueuedBytes, _ count: Int) {
        self.queued = queued
        self.count = count
    }
}

/// libzmq calls this once it no longer needs a zero-copy frame's buffer, on its I/O thread or in
/// `zmq_msg_close`: the buffer was `malloc`ed for the frame, and the hint is a retained `ZeroCopyRelease`.
let zeroCopyFree: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void = { data, hint in
    free(data)
    guard let hint else { return }
    let release = Unmanaged<ZeroCopyRelease>.fromOpaque(hint).takeRetainedValue()
    release.queued.release(release.count)
}
