import CZeroMQ

/// An error reported by libzmq, carrying its `errno` value and libzmq's own description.
public struct ZMQError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The `errno` value libzmq reported (`zmq_errno()`).
    public let code: Int32
    /// What was being attempted when the error occurred, e.g. `bind tcp://127.0.0.1:5555`.
    public let operation: String

    /// Captures the current `zmq_errno()` for the named operation.
    public static func last(_ operation: String) -> ZMQError {
        ZMQError(code: zmq_errno(), operation: operation)
    }

    public init(code: Int32, operation: String) {
        self.code = code
        self.operation = operation
    }

    /// libzmq's message for the code (`zmq_strerror`).
    public var message: String { String(cString: zmq_strerror(code)) }

    public var description: String { "\(operation): \(message)" }

    /// The operation would block (`EAGAIN`).
    public var wouldBlock: Bool { code == EAGAIN }
    /// The call was interrupted by a signal (`EINTR`).
    public var interrupted: Bool { code == EINTR }
    /// The peer is unknown to a ROUTER with `ZMQ_ROUTER_MANDATORY` (`EHOSTUNREACH`).
    public var hostUnreachable: Bool { code == EHOSTUNREACH }
}
