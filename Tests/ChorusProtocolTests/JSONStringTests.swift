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

    /// The scan reads eight bytes at a time: every byte value, at every position of a word and in the tail after
    /// the last whole word, is escaped exactly as a byte-by-byte escaper does it.
    @Test func everyByteAtEveryPositionIsEscapedAsOneByOne() {
        func reference(_ bytes: [UInt8]) -> [UInt8] {
            var out: [UInt8] = [0x22]
            for b in bytes {
                switch b {
                case 0x22: out += Array(#"\""#.utf8)
                case 0x5C: out += Array(#"\\"#.utf8)
                case 0x0A: out += Array(#"\n"#.utf8)
                case 0x0D: out += Array(#"\r"#.utf8)
                case 0x09: out += Array(#"\t"#.utf8)
                case ..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
                default: out.append(b)
                }
            }
            return out + [0x22]
        }
        // Every byte value, among ASCII filler and among bytes of multi-byte characters (the scan must not mistake
        // one for an escape, nor hide one next to them). The escaper only escapes; it does not validate.
        var mismatches: [String] = []
        for filler: UInt8 in [0x61, 0x80, 0xC3, 0xFF] {
            for length in [1, 7, 8, 9, 16, 19] {
                for position in 0..<length {
                    for b in UInt8.min...UInt8.max {
                        var text = [UInt8](repeating: filler, count: length)
                        text[position] = b
                        var out: [UInt8] = []
                        text.withUnsafeBufferPointer { JSONString.append(utf8: $0, to: &out) }
                        if out != reference(text) { mismatches.append("byte \(b) at \(position) of \(length) among \(filler)") }
                    }
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    @Test func isASCIIFindsAHighByteWhereverItIs() {
        for length in [0, 1, 8, 13, 24] {
            let plain = [UInt8](repeating: 0x7F, count: length)
            #expect(plain.withUnsafeBufferPointer { JSONString.isASCII($0) })
            for position in 0..<length {
                var text = plain
                text[position] = 0x80
                #expect(!text.withUnsafeBufferPointer { JSONString.isASCII($0) }, "0x80 at \(position) of \(length)")
            }
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
