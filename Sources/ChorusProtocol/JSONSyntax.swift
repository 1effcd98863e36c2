/// Checks that bytes are one JSON value (RFC 8259, any value at the top level) without building anything.
///
/// WHY. Merged records and `--json` output embed a JSON payload as it is, once it is known to be JSON. Parsing it
/// with JSONSerialization to find out built a tree of Foundation objects and copied the payload, for every join
/// closed with a JSON request; this reads the bytes once. Nesting deeper than `maxDepth` is refused, so hostile
/// input cannot exhaust the stack.
public enum JSONSyntax {
    public static let maxDepth = 512

    /// Whether `bytes` are exactly one JSON value, with optional whitespace around it. The bytes must also be
    /// valid UTF-8 for the text to be JSON; that is the caller's check (it needs the String anyway).
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            var reader = Reader(bytes: buffer)
            reader.skipWhitespace()
            guard reader.value(depth: 0) else { return false }
            reader.skipWhitespace()
            return reader.atEnd
        }
    }

    private struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        var atEnd: Bool { i == bytes.count }
        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        mutating func skipWhitespace() {
            while let b = peek, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { i += 1 }
        }

        mutating func take(_ b: UInt8) -> Bool {
            guard peek == b else { return false }
            i += 1
            return true
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let n = word.utf8CodeUnitCount
            guard bytes.count - i >= n else { return false }
            for k in 0..<n where bytes[i + k] != word.utf8Start[k] { return false }
            i += n
            return true
        }

        mutating func value(depth: Int) -> Bool {
            guard let b = peek else { return false }
            switch b {
            case 0x7B: return depth < JSONSyntax.maxDepth && object(depth: depth + 1)
            case 0x5B: return depth < JSONSyntax.maxDepth && array(depth: depth + 1)
            case 0x22: return string()
            case 0x74: return literal("true")
            case 0x66: return literal("false")
            case 0x6E: return literal("null")
            case 0x2D, 0x30...0x39: return number()
            default: return false
            }
        }

        mutating func object(depth: Int) -> Bool {
            i += 1  // {
            skipWhitespace()
            if take(0x7D) { return true }
            while true {
                guard string() else { return false }
                skipWhitespace()
                guard take(0x3A) else { return false }
                skipWhitespace()
                guard value(depth: depth) else { return false }
                skipWhitespace()
                if take(0x7D) { return true }
                guard take(0x2C) else { return false }
                skipWhitespace()
            }
        }

        mutating func array(depth: Int) -> Bool {
            i += 1  // [
            skipWhitespace()
            if take(0x5D) { return true }
            while true {
                guard value(depth: depth) else { return false }
                skipWhitespace()
                if take(0x5D) { return true }
                guard take(0x2C) else { return false }
                skipWhitespace()
            }
        }

        mutating func string() -> Bool {
            guard take(0x22) else { return false }
            while let b = peek {
                i += 1
                switch b {
                case 0x22: return true
                case 0x5C:
                    guard let e = peek else { return false }
                    i += 1
                    switch e {
                    case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: break
                    case 0x75:
                        // UTF-16 surrogates must pair up: the RFC's grammar lets a lone one through, but it is no
                        // character, and strict parsers (serde_json, for one) refuse it.
                        guard let unit = hex4() else { return false }
                        if (0xDC00...0xDFFF).contains(unit) { return false }
                        if (0xD800...0xDBFF).contains(unit) {
                            guard take(0x5C), take(0x75), let low = hex4(), (0xDC00...0xDFFF).contains(low) else { return false }
                        }
                    default: return false
                    }
                case 0..<0x20: return false  // control characters must be escaped
                default: break
                }
            }
            return false  // unterminated
        }

        mutating func number() -> Bool {
            _ = take(0x2D)
            if take(0x30) {
                // A leading zero stands alone: "01" is not a number.
            } else {
                guard digits() else { return false }
            }
            if take(0x2E) { guard digits() else { return false } }
            if take(0x65) || take(0x45) {
                if !take(0x2B) { _ = take(0x2D) }
                guard digits() else { return false }
            }
            return true
        }

        /// One or more digits.
        mutating func digits() -> Bool {
            let start = i
            while let b = peek, b >= 0x30 && b <= 0x39 { i += 1 }
            return i > start
        }

        /// Four hex digits, as a UTF-16 code unit.
        mutating func hex4() -> UInt16? {
            var unit: UInt16 = 0
            for _ in 0..<4 {
                guard let h = peek else { return nil }
                let digit: UInt8
                switch h {
                case 0x30...0x39: digit = h - 0x30
                case 0x41...0x46: digit = h - 0x41 + 10
                case 0x61...0x66: digit = h - 0x61 + 10
                default: return nil
                }
                unit = unit << 4 | UInt16(digit)
                i += 1
            }
            return unit
        }
    }
}
