/// JSON string literals, written by hand: the broker's merged records and the CLI's `--json` output share it.
public enum JSONString {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a quoted, escaped JSON string.
    public static func append(_ s: String, to out: inout [UInt8]) {
        var text = s
        text.withUTF8 { append(utf8: $0, to: &out) }
    }

    /// Appends `bytes`, which must be valid UTF-8, as a quoted, escaped JSON string.
    public static func append(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(0x22)
        // Most text needs no escaping: find the bytes that do eight at a time, and copy the runs between them
        // whole. (Byte by byte, this scan was most of the cost of embedding a text part in a merged record.)
        var runStart = 0
        var i = 0
        let count = bytes.count
        while i < count {
            if i + 8 <= count, !needsEscape(word(bytes, at: i)) {
                i += 8
                continue
            }
            let b = bytes[i]
            if b == 0x22 || b == 0x5C || b < 0x20 {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i]))
                runStart = i + 1
                out.append(0x5C)
                switch b {
                case 0x22: out.append(0x22)
                case 0x5C: out.append(0x5C)
                case 0x0A: out.append(0x6E)
                case 0x0D: out.append(0x72)
                case 0x09: out.append(0x74)
                default: out += [0x75, 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 0xF)]]
                }
            }
            i += 1
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        out.append(0x22)
    }

    /// Whether every byte is below 0x80 (ASCII, so valid UTF-8), eight bytes at a time.
    public static func isASCII(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        var high: UInt64 = 0
        while i + 8 <= bytes.count {
            high |= word(bytes, at: i)
            i += 8
        }
        while i < bytes.count {
            high |= UInt64(bytes[i])
            i += 1
        }
        return high & 0x8080_8080_8080_8080 == 0
    }

    /// `s` as a quoted, escaped JSON string.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        append(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func word(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int) -> UInt64 {
        UnsafeRawPointer(bytes.baseAddress! + i).loadUnaligned(as: UInt64.self)
    }

    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// Whether any of the eight bytes in `w` is a quote, a backslash or a control character. The usual bit trick:
    /// `(x - 0x01..) & ~x & 0x80..` is non-zero exactly when some byte of `x` is zero (a false signal can only
    /// follow a true one, so "any" is exact), and `x & ~y & 0x80..` with `y = x - 0x20..` finds bytes below 0x20.
    static func needsEscape(_ w: UInt64) -> Bool {
        let quote = w ^ (ones &* 0x22)
        let backslash = w ^ (ones &* 0x5C)
        let control = (w &- ones &* 0x20) & ~w
        let zeroInQuote = (quote &- ones) & ~quote
        let zeroInBackslash = (backslash &- ones) & ~backslash
        return (control | zeroInQuote | zeroInBackslash) & highs != 0
    }
}
