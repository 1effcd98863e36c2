/// Helpers for the fixed frames of the protocol: ASCII decimal numbers and UTF-8 text.
public enum FrameCoding {
    /// Encodes an unsigned number as ASCII decimal.
    @inline(__always)
    public static func number(_ value: UInt64) -> [UInt8] {
        if value < 100 { return small[Int(value)] }
        var out: [UInt8] = []
        out.reserveCapacity(20)
        appendNumber(value, to: &out)
        return out
    }

    /// Appends an unsigned number as ASCII decimal (no leading zeros) to bytes being built: frames written in
    /// place, with no array of their own.
    @inline(__always)
    public static func appendNumber(_ value: UInt64, to out: inout [UInt8]) {
        // Digits counted first and written in order: reversing `out[start...]` afterwards copied the slice into
        // an array of its own, an allocation per number on the hot path.
        var digits = 1
        var rest = value / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        var power: UInt64 = 1
        for _ in 1..<digits { power *= 10 }
        var v = value
        while power > 0 {
            out.append(0x30 + UInt8(truncatingIfNeeded: v / power))
            v %= power
            power /= 10
        }
    }

    /// 0 to 99, encoded once (attempt numbers, counts): no allocation for the common small values.
    private static let small: [[UInt8]] = (0..<100).map { Array(String($0).utf8) }

    /// The largest sequence number there can be: the log keeps them as SQLite integers (signed 64-bit).
    public static let maxSequence = UInt64(Int64.max)

    /// Decodes a sequence number a client sends (AWAIT's after-sequence): a number no larger than `maxSequence`.
    /// Larger ones are refused here rather than trapping where the log is read.
    public static func sequence(_ bytes: [UInt8], field: String) throws(ProtocolError) -> UInt64 {
        let n = try number(bytes, field: field)
        guard n <= maxSequence else { throw ProtocolError(.malformed, "\(field) must be at most \(maxSequence), got \(n)") }
        return n
    }

    /// Decodes ASCII decimal (1 to 19 digits, no sign) or throws `MALFORMED` naming the field.
    @inline(__always)
    public static func number(_ bytes: [UInt8], field: String) throws(ProtocolError) -> UInt64 {
        try number(bytes[...], field: field)
    }

    /// Decodes ASCII decimal from a frame read in place (a slice of a received buffer).
    @inline(__always)
    public static func number(_ bytes: ArraySlice<UInt8>, field: String) throws(ProtocolError) -> UInt64 {
        guard !bytes.isEmpty, bytes.count <= 19 else {
            throw ProtocolError(.malformed, "\(field) must be 1 to 19 decimal digits")
        }
        var value: UInt64 = 0
        for b in bytes {
            guard b >= 0x30 && b <= 0x39 else {
                throw ProtocolError(.malformed, "\(field) must be decimal digits, got '\(String(decoding: bytes, as: UTF8.self))'")
            }
            value = value * 10 + UInt64(b - 0x30)
        }
        return value
    }

    /// Decodes UTF-8 text of at most `maxLength` bytes or throws `MALFORMED` naming the field.
    @inline(__always)
    public static func text(_ bytes: [UInt8], field: String, maxLength: Int = 255) throws(ProtocolError) -> String {
        guard bytes.count <= maxLength else {
            throw ProtocolError(.malformed, "\(field) exceeds \(maxLength) bytes")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ProtocolError(.malformed, "\(field) is not valid UTF-8")
        }
        return text
    }

    /// A group name: 1 to 64 bytes of dot-separated tokens of `A-Z a-z 0-9 _ - : @` (so `$dlq.NAME` is a topic).
    public static func name(_ bytes: [UInt8], field: String) throws(ProtocolError) -> String {
        guard !bytes.isEmpty, bytes.count <= 64,
            bytes.allSatisfy({ Topic.isTokenByte($0) || $0 == 0x2E }), bytes.first != 0x2E, bytes.last != 0x2E,
            !zip(bytes, bytes.dropFirst()).contains(where: { $0 == 0x2E && $1 == 0x2E })
        else {
            throw ProtocolError(
                .malformed,
                "\(field) must be 1 to 64 characters from A-Z a-z 0-9 . _ - : @, got '\(String(decoding: bytes, as: UTF8.self))'"
            )
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
