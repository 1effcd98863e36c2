import ChorusProtocol
import Foundation
import Testing

@Suite("JSONString and embeddable JSON payloads")
struct JSONStringTests {
    @Test func quotesAndEscapes() {
        #expect(JSONString.quoted("plain text") == "\"plain text\"")
        #expect(JSONString.quoted("") == "\"\"")
        #expect(JSONString.quoted("a \"b\" \\ c\nd\re\tf\u{1}") == #""a \"b\" \\ c\nd\re\tf\u0001""#)
        #expect(JSONString.quoted("héllo ☃") == "\"héllo ☃\"")
    }

    @Test func controlsAndEdgesAreEscaped() {
        #expect(JSONString.quoted("\u{1}\u{1f}") == #""\u0001\u001f""#)
        #expect(JSONString.quoted("\"") == #""\"""#)
        #expect(JSONString.quoted("end\\") == #""end\\""#)
    }

    @Test func everyQuotedStringParsesBackToItself() throws {
        let samples = ["", "x", "\"\\\n\r\t\u{0}\u{7}", "mixed \"q\" and \\ and \u{2} done", String(repeating: "ab\"", count: 100)]
        for s in samples {
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(JSONString.quoted(s))]".utf8)) as? [String]
            #expect(parsed == [s], "round trip of \(s.debugDescription)")
        }
    }

    @Test func appendsAfterWhatIsThere() {
        var out = Array("[".utf8)
        JSONString.append("x\"", to: &out)
        #expect(String(decoding: out, as: UTF8.self) == #"["x\"""#)
    }

    @Test func jsonPayloadsAreEmbeddedTrimmed() {
        let e = Event(id: "e", topic: "t", contentType: "application/json", payload: Array(" {\"a\":1}\n".utf8))
        #expect(e.embeddableJSON == "{\"a\":1}")
    }

    @Test func otherPayloadsAreNot() {
        #expect(Event(id: "e", topic: "t", contentType: "application/json", payload: Array("{nope".utf8)).embeddableJSON == nil)
        #expect(Event(id: "e", topic: "t", contentType: "text/plain", payload: Array("{\"a\":1}".utf8)).embeddableJSON == nil)
        #expect(Event(id: "e", topic: "t", payload: Array("{\"a\":1}".utf8)).embeddableJSON == nil)
        #expect(Event(id: "e", topic: "t", contentType: "application/json", payload: [0xFF, 0xFE]).embeddableJSON == nil)
    }

    @Test func splitMix64MatchesTheReferenceSequence() {
        // The published SplitMix64 outputs for seed 0.
        var r = SplitMix64(seed: 0)
        #expect(r.next() == 0xE220_A839_7B1D_CDAF)
        #expect(r.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}
