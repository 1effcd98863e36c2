import ChorusProtocol
import Testing

@Suite("FrameCoding")
struct FrameCodingTests {
    @Test func encodesZero() {
        #expect(FrameCoding.number(0) == bytes("0"))
    }

    @Test(arguments: [
        (UInt64(1), "1"), (9, "9"), (10, "10"), (42, "42"), (1_700_000_000_000, "1700000000000"),
        (9_999_999_999_999_999_999, "9999999999999999999"), (UInt64.max, "18446744073709551615"),
    ])
    func encodesASCIIDecimal(_ value: UInt64, _ text: String) {
        #expect(FrameCoding.number(value) == bytes(text))
    }

    /// `number` answers below 100 from a table; this covers the digit writer itself at every digit-count edge,
    /// appending after bytes already there.
    @Test(arguments: [
        UInt64(0), 9, 10, 99, 100, 101, 999_999, 1_000_000, 10_000_000_000_000_000_000, UInt64.max,
    ])
    func appendNumberWritesAfterExistingBytes(_ value: UInt64) {
        var out = bytes("seq=")
        FrameCoding.appendNumber(value, to: &out)
        #expect(out == bytes("seq=" + String(value)))
    }

    @Test(arguments: [UInt64(0), 1, 7, 10, 100, 123_456_789, 1 << 40, 9_999_999_999_999_999_999])
    func roundTripsUpTo19Digits(_ value: UInt64) throws {
        #expect(try FrameCoding.number(FrameCoding.number(value), field: "n") == value)
    }

    @Test func decodesLeadingZeros() throws {
        #expect(try FrameCoding.number(bytes("007"), field: "n") == 7)
        #expect(try FrameCoding.number(bytes("0000000000000000000"), field: "n") == 0)
    }

    @Test func decodesTheLargest19DigitNumber() throws {
        #expect(try FrameCoding.number(bytes("9999999999999999999"), field: "n") == 9_999_999_999_999_999_999)
    }

    @Test(arguments: ["10000000000000000000", "18446744073709551615", "00000000000000000001"])
    func rejects20Digits(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try FrameCoding.number(bytes(text), field: "seq") }
        #expect(error?.code == .malformed)
        #expect(error?.message.contains("seq") == true)
    }

    @Test(arguments: ["", "-1", "+1", "1.0", " 1", "1 ", "0x10", "1e3", "٣", "a"])
    func rejectsNonDigits(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try FrameCoding.number(bytes(text), field: "count") }
        #expect(error?.code == .malformed)
        #expect(error?.message.contains("count") == true)
    }

    @Test func textAcceptsUTF8UpToLimit() throws {
        #expect(try FrameCoding.text(bytes("héllo"), field: "t") == "héllo")
        #expect(try FrameCoding.text([], field: "t") == "")
        #expect(try FrameCoding.text(Array(repeating: 0x61, count: 255), field: "t").count == 255)
        #expect(try FrameCoding.text(Array(repeating: 0x61, count: 4096), field: "t", maxLength: 4096).count == 4096)
    }

    @Test func textRejectsOverlongAndInvalidUTF8() {
        let long = #expect(throws: ProtocolError.self) { try FrameCoding.text(Array(repeating: 0x61, count: 256), field: "topic") }
        #expect(long?.code == .malformed)
        #expect(long?.message.contains("topic") == true)
        let invalid = #expect(throws: ProtocolError.self) { try FrameCoding.text([0x61, 0xC3, 0x28], field: "reason") }
        #expect(invalid?.code == .malformed)
    }

    @Test(arguments: ["g", "workers.high", "a_b-c:d@e", String(repeating: "n", count: 64)])
    func nameAcceptsValidNames(_ name: String) throws {
        #expect(try FrameCoding.name(bytes(name), field: "group") == name)
    }

    @Test(arguments: ["", "$g", "a b", "a*", "a>", "a/b", String(repeating: "n", count: 65)])
    func nameRejectsInvalidNames(_ name: String) {
        let error = #expect(throws: ProtocolError.self) { try FrameCoding.name(bytes(name), field: "group") }
        #expect(error?.code == .malformed)
    }
}
