/// A wire error code: a stable number and name from one catalog (docs/PROTOCOL.md, "Error codes").
///
/// A struct rather than an enum so that new codes can be added without breaking clients that switch on it.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// The stable number sent on the wire.
    public let number: Int
    /// The stable upper-case name sent beside the number.
    public let name: String

    public init(_ number: Int, _ name: String) {
        self.number = number
        self.name = name
    }

    public var description: String { "\(number) \(name)" }

    // 1xx: the message itself is bad. The broker counts it and replies; the session goes on.
    /// Wrong number of frames, a frame that is not valid UTF-8 or a number, or an oversized frame.
    public static let malformed = ErrorCode(100, "MALFORMED")
    /// Frame 0 is not `CHORUS1`.
    public static let unsupportedVersion = ErrorCode(101, "UNSUPPORTED_VERSION")
    /// Frame 1 names no known command.
    public static let unknownCommand = ErrorCode(102, "UNKNOWN_COMMAND")
    /// A topic that breaks the topic grammar.
    public static let invalidTopic = ErrorCode(103, "INVALID_TOPIC")
    /// A subscription pattern that breaks the pattern grammar.
    public static let invalidPattern = ErrorCode(104, "INVALID_PATTERN")
    /// A properties frame with a bad line, name or value.
    public static let invalidProperty = ErrorCode(105, "INVALID_PROPERTY")
    /// An inline payload above the broker's limit.
    public static let payloadTooLarge = ErrorCode(106, "PAYLOAD_TOO_LARGE")
    /// Publishing to a topic that starts with `$` (reserved for the broker).
    public static let reservedTopic = ErrorCode(107, "RESERVED_TOPIC")
    /// A blob above the broker's blob limit.
    public static let blobTooLarge = ErrorCode(108, "BLOB_TOO_LARGE")

    // 2xx: the message is well formed but does not fit the state of the session or group.
    /// ACK, NACK or EXTEND names a group this session has not subscribed to.
    public static let notSubscribed = ErrorCode(200, "NOT_SUBSCRIBED")
    /// The lease (sequence + token) is not the current delivery: an earlier attempt, already acked, or unknown.
    public static let staleLease = ErrorCode(201, "STALE_LEASE")
    /// SUBSCRIBE to an existing group with different patterns.
    public static let groupMismatch = ErrorCode(202, "GROUP_MISMATCH")
    /// A start position that cannot be parsed.
    public static let invalidStart = ErrorCode(203, "INVALID_START")
    /// A configured limit was reached (sessions, subscriptions per session, groups).
    public static let limitReached = ErrorCode(204, "LIMIT_REACHED")
    /// The event's deadline had already passed when it was published.
    public static let deadlinePassed = ErrorCode(205, "DEADLINE_PASSED")
    /// AWAIT saw no matching event before its timeout.
    public static let awaitTimeout = ErrorCode(206, "AWAIT_TIMEOUT")
    /// GETBLOB names a blob the broker does not have.
    public static let notFound = ErrorCode(207, "NOT_FOUND")

    // 3xx: the broker cannot do it now.
    /// The log could not be written; nothing in the batch was confirmed. Retrying later is safe.
    public static let storageFailed = ErrorCode(300, "STORAGE_FAILED")
    /// The broker is shutting down and takes no new work.
    public static let shuttingDown = ErrorCode(301, "SHUTTING_DOWN")

    /// Every code in the catalog, in number order.
    public static let all: [ErrorCode] = [
        .malformed, .unsupportedVersion, .unknownCommand, .invalidTopic, .invalidPattern, .invalidProperty,
        .payloadTooLarge, .reservedTopic, .blobTooLarge, .notSubscribed, .staleLease, .groupMismatch, .invalidStart,
        .limitReached, .deadlinePassed, .awaitTimeout, .notFound, .storageFailed, .shuttingDown,
    ]

    /// Looks a code up by number; unknown numbers keep the number with the name `UNKNOWN`.
    public static func from(number: Int) -> ErrorCode {
        all.first { $0.number == number } ?? ErrorCode(number, "UNKNOWN")
    }
}

/// A protocol violation found while decoding or validating: a code plus a message for people.
public struct ProtocolError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: ErrorCode
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.name) (\(code.number)): \(message)" }
}
