/// The properties frame: `name=value` lines separated by `\n`, UTF-8 (docs/PROTOCOL.md, "Properties").
///
/// Names are 1 to 64 bytes of `a-z 0-9 . _ -` (headers: `h.` then any of `A-Z a-z 0-9 . _ -`); values are any
/// UTF-8 without `\n` or `\r`, at most 4096 bytes. Text, not a binary table, so that a client in any language
/// can write it with string formatting and an operator can read it in a packet capture.
public struct Properties: Equatable, Sendable {
    /// The pairs in frame order.
    public var pairs: [(name: String, value: String)]

    /// The largest properties frame accepted, in bytes.
    public static let maxFrameSize = 16 * 1024
    /// The longest value, in bytes.
    public static let maxValueLength = 4096

    public init(_ pairs: [(name: String, value: String)] = []) { self.pairs = pairs }

    public static func == (a: Properties, b: Properties) -> Bool {
        a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// The first value for `name`.
    public subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    /// Appends a pair.
    public mutating func append(_ name: String, _ value: String) { pairs.append((name, value)) }

    /// Encodes to frame bytes.
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(pairs.count * 24)
        for (index, pair) in pairs.enumerated() {
            if index > 0 { out.append(0x0A) }
            out.append(contentsOf: pair.name.utf8)
            out.append(0x3D)
            out.append(contentsOf: pair.value.utf8)
        }
        return out
    }

    /// Decodes and validates a frame. An empty frame is no properties.
    public static func decode(_ bytes: [UInt8]) throws(ProtocolError) -> Properties {
        guard bytes.count <= maxFrameSize else {
            throw ProtocolError(.invalidProperty, "properties frame of \(bytes.count) bytes exceeds \(maxFrameSize)")
        }
        var result = Properties()
        if bytes.isEmpty { return result }
        var lineStart = 0
        var lineNumber = 1
        while lineStart <= bytes.count {
            var end = lineStart
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            if end > lineStart {  // blank lines (a trailing newline) are allowed
                guard let eq = bytes[lineStart..<end].firstIndex(of: 0x3D) else {
                    throw ProtocolError(.invalidProperty, "properties line \(lineNumber) has no '='")
                }
                let name = bytes[lineStart..<eq]
                let value = bytes[(eq + 1)..<end]
                try validateName(name, line: lineNumber)
                guard value.count <= maxValueLength else {
                    throw ProtocolError(.invalidProperty, "property '\(String(decoding: name, as: UTF8.self))' value exceeds \(maxValueLength) bytes")
                }
                if value.contains(0x0D) {
                    throw ProtocolError(.invalidProperty, "property '\(String(decoding: name, as: UTF8.self))' value contains a carriage return")
                }
                guard let valueText = String(validating: value, as: UTF8.self) else {
                    throw ProtocolError(.invalidProperty, "property '\(String(decoding: name, as: UTF8.self))' value is not valid UTF-8")
                }
                result.pairs.append((String(decoding: name, as: UTF8.self), valueText))
            }
            lineStart = end + 1
            lineNumber += 1
        }
        return result
    }

    private static func validateName(_ name: ArraySlice<UInt8>, line: Int) throws(ProtocolError) {
        guard !name.isEmpty, name.count <= 64 else {
            throw ProtocolError(.invalidProperty, "properties line \(line): a name must be 1 to 64 bytes")
        }
        let isHeader = name.starts(with: [0x68, 0x2E])  // "h."
        if isHeader && name.count == 2 {
            throw ProtocolError(.invalidProperty, "properties line \(line): a header needs a name after 'h.'")
        }
        for b in name {
            let lower = (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x5F || b == 0x2D
            let upper = b >= 0x41 && b <= 0x5A
            if !(lower || (isHeader && upper)) {
                throw ProtocolError(
                    .invalidProperty,
                    "properties line \(line): name '\(String(decoding: name, as: UTF8.self))' may only use a-z 0-9 . _ - (headers: h.NAME)"
                )
            }
        }
    }
}
