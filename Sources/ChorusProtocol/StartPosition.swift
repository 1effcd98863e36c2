/// Where a new consumer group starts reading the log.
public enum StartPosition: Equatable, Sendable, CustomStringConvertible {
    /// From the first event still in the log.
    case first
    /// From the given sequence number (inclusive).
    case sequence(UInt64)
    /// Only events committed after the group is created.
    case new

    /// Parses `first`, `new` or `seq:N`.
    public init(_ text: String) throws(ProtocolError) {
        switch text {
        case "first": self = .first
        case "new", "": self = .new
        default:
            if text.hasPrefix("seq:"), let n = UInt64(text.dropFirst(4)), n <= FrameCoding.maxSequence {
                self = .sequence(n)
            } else {
                throw ProtocolError(.invalidStart, "start must be 'first', 'new' or 'seq:N' (N at most \(FrameCoding.maxSequence)), got '\(text)'")
            }
        }
    }

    public var description: String {
        switch self {
        case .first: "first"
        case .new: "new"
        case .sequence(let n): "seq:\(n)"
        }
    }
}

/// What a NACK asks the broker to do with the delivery.
public enum NackMode: Equatable, Sendable, CustomStringConvertible {
    /// Deliver again as soon as a consumer has credit.
    case requeue
    /// Deliver again after this many milliseconds.
    case delay(milliseconds: UInt64)
    /// Do not retry: dead-letter now.
    case reject

    /// Parses `requeue`, `delay=MS` or `reject`.
    public init(_ text: String) throws(ProtocolError) {
        switch text {
        case "requeue": self = .requeue
        case "reject": self = .reject
        default:
            if text.hasPrefix("delay="), let ms = UInt64(text.dropFirst(6)) {
                self = .delay(milliseconds: ms)
            } else {
                throw ProtocolError(.malformed, "nack mode must be 'requeue', 'delay=MS' or 'reject', got '\(text)'")
            }
        }
    }

    public var description: String {
        switch self {
        case .requeue: "requeue"
        case .reject: "reject"
        case .delay(let ms): "delay=\(ms)"
        }
    }
}
