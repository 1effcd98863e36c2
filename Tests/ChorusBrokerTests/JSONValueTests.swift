@testable import ChorusBroker
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    func written(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        value.write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func plainTextIsCopiedAsIs() {
        #expect(written(.string("a lighthouse at dusk")) == "\"a lighthouse at dusk\"")
        #expect(written(.string("")) == "\"\"")
        #expect(written(.string("héllo ☃")) == "\"héllo ☃\"")
    }

    @Test func quotesBackslashesAndControlsAreEscaped() {
        #expect(written(.string("say \"hi\"")) == #""say \"hi\"""#)
        #expect(written(.string(#"a\b"#)) == #""a\\b""#)
        #expect(written(.string("l1\nl2\r\tx")) == #""l1\nl2\r\tx""#)
        #expect(written(.string("\u{1}\u{1f}")) == #""\u0001\u001f""#)
        #expect(written(.string("\"")) == #""\"""#)
        #expect(written(.string("end\\")) == #""end\\""#)
    }

    @Test func everyEscapedStringParsesBackToItself() throws {
        let samples = ["", "x", "\"\\\n\r\t\u{0}\u{7}", "mixed \"q\" and \\ and \u{2} done", String(repeating: "ab\"", count: 100)]
        for s in samples {
            let json = written(.array([.string(s)]))
            let parsed = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String]
            #expect(parsed == [s], "round trip of \(s.debugDescription)")
        }
    }

    @Test func objectsKeepKeyOrder() {
        #expect(written(.object([("z", .int(1)), ("a", .bool(true)), ("m", .array([]))])) == #"{"z":1,"a":true,"m":[]}"#)
    }
}
