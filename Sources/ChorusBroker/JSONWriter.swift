import ChorusProtocol

/// Writes JSON straight into bytes, keys in the order written and commas placed by the writer, with no tree of
/// values in between: building and walking such a tree was a quarter of the broker thread's time per join.
///
/// The caller pairs `beginObject`/`endObject` and `beginArray`/`endArray`, and writes a `key` before each value
/// inside an object. Keys are static ASCII names that need no escaping.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// Whether the next key or array element needs a comma before it.
    private var afterValue = false

    init(capacity: Int = 1024) { bytes.reserveCapacity(capacity) }

    mutating func beginObject() { open(0x7B) }
    mutating func endObject() { close(0x7D) }
    mutating func beginArray() { open(0x5B) }
    mutating func endArray() { close(0x5D) }

    /// `"name":` (with a comma before it when a member precedes it); the next call writes its value.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(0x22)
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(0x22)
        bytes.append(0x3A)
        afterValue = false
    }

    mutating func string(_ s: String) {
        separate()
        JSONString.append(s, to: &bytes)
        afterValue = true
    }

    /// `"name":` and `bytes` as a JSON string, when they are valid UTF-8 (an embedded text payload); nothing
    /// when they are not. ASCII, the common case, is escaped straight from the bytes, with no String made.
    mutating func member(_ name: StaticString, utf8 bytes: [UInt8]) {
        let appended = bytes.withUnsafeBufferPointer { text in
            guard JSONString.isASCII(text) else { return false }
            key(name)
            JSONString.append(utf8: text, to: &self.bytes)
            return true
        }
        if appended {
            afterValue = true
        } else if let s = String(validating: bytes, as: UTF8.self) {
            member(name, s)
        }
    }

    mutating func int(_ n: Int64) {
        separate()
        if n < 0 { bytes.append(0x2D) }
        FrameCoding.appendNumber(n.magnitude, to: &bytes)
        afterValue = true
    }

    mutating func bool(_ b: Bool) {
        separate()
        bytes.append(contentsOf: b ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65])
        afterValue = true
    }

    /// Bytes already known to be one valid JSON value (an embedded payload).
    mutating func raw(_ json: some Collection<UInt8>) {
        separate()
        bytes.append(contentsOf: json)
        afterValue = true
    }

    /// `key` then `string`, the commonest member.
    mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        string(value)
    }

    mutating func member(_ name: StaticString, _ value: Int64) {
        key(name)
        int(value)
    }

    /// `{` or `[`: a value of its own (so a comma may go before it), whose first member needs none.
    private mutating func open(_ bracket: UInt8) {
        separate()
        bytes.append(bracket)
        afterValue = false
    }

    /// `}` or `]`: ends the value; what follows it needs a comma.
    private mutating func close(_ bracket: UInt8) {
        bytes.append(bracket)
        afterValue = true
    }

    private mutating func separate() {
        if afterValue { bytes.append(0x2C) }
    }
}
