import ChorusProtocol
import Testing

@Suite("Properties frame")
struct PropertiesTests {
    @Test func encodesNameEqualsValueLinesInOrder() {
        let p = Properties([("id", "e1"), ("h.X-Trace", "t=1"), ("content-type", "")])
        #expect(p.encode() == bytes("id=e1\nh.X-Trace=t=1\ncontent-type="))
    }

    @Test func emptyPropertiesEncodeToAnEmptyFrame() throws {
        #expect(Properties().encode() == [])
        #expect(try Properties.decode([]) == Properties())
    }

    @Test func roundTrip() throws {
        let p = Properties([
            ("id", "e-1"), ("correlation", "c 1"), ("h.Trace_Id", "äöü ✓"), ("key", "a=b=c"), ("content-type", ""),
            ("id", "second"),
        ])
        let decoded = try Properties.decode(p.encode())
        #expect(decoded == p)
        #expect(decoded["id"] == "e-1")  // first value wins
        #expect(decoded["missing"] == nil)
    }

    @Test func appendAddsAPair() {
        var p = Properties()
        p.append("a", "1")
        p.append("a", "2")
        #expect(p.pairs.count == 2)
        #expect(p["a"] == "1")
    }

    @Test func blankLinesAndTrailingNewlineAreIgnored() throws {
        let p = try Properties.decode(bytes("a=1\n\nb=2\n"))
        #expect(p == Properties([("a", "1"), ("b", "2")]))
    }

    @Test func valueMaySplitAtFirstEquals() throws {
        let p = try Properties.decode(bytes("a==x="))
        #expect(p["a"] == "=x=")
    }

    @Test func lineWithoutEqualsIsRejected() {
        let error = #expect(throws: ProtocolError.self) { try Properties.decode(bytes("a=1\nnoequals")) }
        #expect(error?.code == .invalidProperty)
        #expect(error?.message.contains("line 2") == true)
    }

    @Test(arguments: ["ID=x", "Key=x", "a b=x", "a/b=x", "=x", "hX.a=x", "H.a=x", "h.a b=x", "é=x"])
    func badNamesAreRejected(_ line: String) {
        let error = #expect(throws: ProtocolError.self) { try Properties.decode(bytes(line)) }
        #expect(error?.code == .invalidProperty)
    }

    @Test(arguments: ["h.Upper=x", "h.A-B_C.d=x", "a.b_c-d9=x"])
    func uppercaseIsAllowedInHeaderNames(_ line: String) throws {
        let p = try Properties.decode(bytes(line))
        #expect(p.pairs.count == 1)
    }

    @Test func nameLengthLimitIs64Bytes() throws {
        _ = try Properties.decode(bytes(String(repeating: "a", count: 64) + "=x"))
        let error = #expect(throws: ProtocolError.self) {
            try Properties.decode(bytes(String(repeating: "a", count: 65) + "=x"))
        }
        #expect(error?.code == .invalidProperty)
    }

    @Test func carriageReturnInValueIsRejected() {
        let error = #expect(throws: ProtocolError.self) { try Properties.decode(bytes("a=1\r\nb=2")) }
        #expect(error?.code == .invalidProperty)
        #expect(error?.message.contains("carriage return") == true)
    }

    @Test func invalidUTF8InValueIsRejected() {
        let error = #expect(throws: ProtocolError.self) { try Properties.decode(bytes("a=") + [0xFF, 0xFE]) }
        #expect(error?.code == .invalidProperty)
    }

    @Test func valueLengthLimit() throws {
        let atLimit = try Properties.decode(bytes("a=" + String(repeating: "v", count: Properties.maxValueLength)))
        #expect(atLimit["a"]?.utf8.count == 4096)
        let error = #expect(throws: ProtocolError.self) {
            try Properties.decode(bytes("a=" + String(repeating: "v", count: Properties.maxValueLength + 1)))
        }
        #expect(error?.code == .invalidProperty)
    }

    @Test func oversizeFrameIsRejected() throws {
        // Many short valid lines, so only the frame size is wrong.
        var text = ""
        while text.utf8.count < Properties.maxFrameSize { text += "a=0123456789\n" }
        let frame = Array(bytes(text).prefix(Properties.maxFrameSize + 1))
        let error = #expect(throws: ProtocolError.self) { try Properties.decode(frame) }
        #expect(error?.code == .invalidProperty)
        #expect(error?.message.contains("exceeds") == true)

        let atLimit = Array(bytes(text).prefix(Properties.maxFrameSize))
        let cut = atLimit.lastIndex(of: 0x0A)!
        _ = try Properties.decode(Array(atLimit[...cut]))
    }

    /// `h.` alone is not a header name: it would become a header with an empty name.
    @Test func bareHeaderPrefixIsRejected() {
        let error = #expect(throws: ProtocolError.self) {
            let p = try Properties.decode(bytes("h.=x"))
            _ = try PublishRequest(topic: "a", properties: p, payload: []).makeEvent { "g" }
        }
        #expect(error?.code == .invalidProperty)
    }
}
