import CZeroMQ

/// A libzmq context.
///
/// libzmq documents contexts as thread safe, which is why this wrapper alone may be `@unchecked Sendable`:
/// sockets made from it are not, and each stays on the thread that created it.
public final class ZMQContext: @unchecked Sendable {
    /// The process-wide context. It is never terminated: `zmq_ctx_term` blocks until every socket is closed,
    /// which a daemon that exits does not need.
    public static let shared = ZMQContext()

    let raw: UnsafeMutableRawPointer

    /// Creates a new context with libzmq's defaults (one I/O thread).
    public init() {
        guard let raw = zmq_ctx_new() else { preconditionFailure("zmq_ctx_new failed: out of memory") }
        self.raw = raw
    }

    /// The libzmq library version, e.g. `(4, 3, 4)`.
    public static var version: (major: Int32, minor: Int32, patch: Int32) {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return (major, minor, patch)
    }
}
