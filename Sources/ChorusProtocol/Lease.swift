/// Identifies one delivery attempt: the event's sequence number and a token the broker made for that attempt.
///
/// An ACK, NACK or EXTEND must quote both, so an answer to an earlier attempt can never settle a later one.
public struct Lease: Hashable, Sendable, CustomStringConvertible {
    public let seq: UInt64
    public let token: UInt64

    public init(seq: UInt64, token: UInt64) {
        self.seq = seq
        self.token = token
    }

    /// The token as it travels: 16 lowercase hex digits.
    public var tokenBytes: [UInt8] { Lease.hex(token) }

    public var description: String { "\(seq):\(String(decoding: tokenBytes, as: UTF8.self))" }

    static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func hex(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        appendHex(value, to: &out)
        return out
    }

    /// Appends a token as it travels (16 lower-case hex digits) to bytes being built.
    public static func appendHex(_ value: UInt64, to out: inout [UInt8]) {
        for shift in stride(from: 60, through: 0, by: -4) {
            out.append(hexDigits[Int((value >> UInt64(shift)) & 0xF)])
        }
    }

    /// Decodes the wire form: a sequence frame and a 16-hex-digit token frame.
    public static func decode(seq: [UInt8], token: [UInt8]) throws(ProtocolError) -> Lease {
        try decode(seq: seq[...], token: token[...])
    }

    /// Decodes the wire form from frames read in place (slices of a received buffer).
    public static func decode(seq: ArraySlice<UInt8>, token: ArraySlice<UInt8>) throws(ProtocolError) -> Lease {
        let s = try FrameCoding.number(seq, field: "lease sequence")
        guard token.count == 16 else { throw ProtocolError(.malformed, "lease token must be 16 hex digits") }
        var t: UInt64 = 0
        for b in token {
            let nibble: UInt8
            switch b {
            case 0x30...0x39: nibble = b - 0x30
            case 0x61...0x66: nibble = b - 0x61 + 10
            case 0x41...0x46: nibble = b - 0x41 + 10
            default: throw ProtocolError(.malformed, "lease token must be 16 hex digits")
            }
            t = t << 4 | UInt64(nibble)
        }
        return Lease(seq: s, token: t)
    }
}
