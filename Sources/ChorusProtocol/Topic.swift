/// Topic and pattern grammar (docs/PROTOCOL.md, "Topics and patterns").
///
/// A topic is 1 to 255 bytes of dot-separated tokens; a token is one or more of `A-Z a-z 0-9 _ - : @`.
/// A pattern uses the same tokens plus `*` (exactly one token) and `>` (one or more tokens, last only).
/// Topics starting with `$` are the broker's own (dead letters); publishers may not use them, and a pattern
/// only matches them when its first token starts with `$` too.
public enum Topic {
    /// The longest topic or pattern, in bytes.
    public static let maxLength = 255

    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39)
            || b == 0x5F || b == 0x2D || b == 0x3A || b == 0x40
    }

    /// Validates a topic given as bytes; `allowReserved` lets the broker itself use `$` topics.
    public static func validate(_ bytes: [UInt8], allowReserved: Bool = false) throws(ProtocolError) {
        guard !bytes.isEmpty, bytes.count <= maxLength else {
            throw ProtocolError(.invalidTopic, "a topic must be 1 to \(maxLength) bytes long, got \(bytes.count)")
        }
        var start = 0
        if bytes[0] == 0x24 {  // "$"
            guard allowReserved else {
                throw ProtocolError(.reservedTopic, "topics starting with '$' are reserved for the broker")
            }
            start = 1
        }
        var tokenLength = 0
        for i in start..<bytes.count {
            let b = bytes[i]
            if b == 0x2E {
                if tokenLength == 0 { throw emptyToken(bytes) }
                tokenLength = 0
            } else if isTokenByte(b) {
                tokenLength += 1
            } else {
                throw ProtocolError(
                    .invalidTopic,
                    "topic '\(String(decoding: bytes, as: UTF8.self))' has a character outside A-Z a-z 0-9 _ - : @ at byte \(i)"
                )
            }
        }
        if tokenLength == 0 { throw emptyToken(bytes) }
    }

    private static func emptyToken(_ bytes: [UInt8]) -> ProtocolError {
        ProtocolError(.invalidTopic, "topic '\(String(decoding: bytes, as: UTF8.self))' has an empty token")
    }
}
