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
        // Most text needs no escaping: copy runs of plain bytes at once, escape the rest.
        var runStart = 0
        for (i, b) in bytes.enumerated() where b == 0x22 || b == 0x5C || b < 0x20 {
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
        out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...]))
        out.append(0x22)
    }

    /// `s` as a quoted, escaped JSON string.
    public static func quoted(_ s: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 2)
        append(s, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
