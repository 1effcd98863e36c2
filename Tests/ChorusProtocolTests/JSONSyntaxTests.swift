import ChorusProtocol
import Foundation
import Testing

/// JSONSyntax against RFC 8259 case by case, and against JSONSerialization (what it replaced) on the same inputs.
@Suite struct JSONSyntaxTests {
    static let valid = [
        "0", "-0", "12", "-3.25", "1e9", "1E+2", "2.5e-3", "true", "false", "null", "\"\"", "\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\uD83D\\uDE00\"", "\"café ☕\"", "[]", "{}", " [1, 2 ,3] ", "\n{\"a\":{\"b\":[true,null,{}]}}\r\n\t",
        "{\"prompt\":\"a lighthouse at dusk\",\"n\":[1,2.5,-3e2]}", "[[[[[]]]]]",
    ]
    static let invalid = [
        "", " ", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "tru", "nul", "True", "\"abc", "\"a\nb\"",
        "\"\\x\"", "\"\\u12G4\"", "\"\\u12\"", "[,1]", "[1 2]", "{\"a\"}", "{\"a\":}", "{a:1}", "{'a':1}",
        "[1]]", "{}{}", "1 2", "[", "{", "]", "\u{0}",
    ]

    @Test(arguments: valid)
    func acceptsJSON(_ text: String) {
        #expect(JSONSyntax.isValid(Array(text.utf8)), "\(text.debugDescription)")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil, "the reference disagrees: \(text.debugDescription)")
    }

    @Test(arguments: invalid)
    func refusesWhatIsNotJSON(_ text: String) {
        #expect(!JSONSyntax.isValid(Array(text.utf8)), "\(text.debugDescription)")
        #expect((try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) == nil, "the reference disagrees: \(text.debugDescription)")
    }

    /// Trailing commas: JSONSerialization on Linux takes them, strict parsers (Python's json, jq) do not. Embedded
    /// as they were, they made merged records that those parsers could not read; now such a payload is not
    /// embedded (the record refers to it by seq, as to any non-JSON payload).
    @Test(arguments: ["[1,]", "{\"a\":1,}"])
    func refusesTrailingCommasThatTheReferenceTakes(_ text: String) {
        #expect(!JSONSyntax.isValid(Array(text.utf8)))
        #expect(Event(id: "e", topic: "t", contentType: "application/json", payload: Array(text.utf8)).embeddableJSON == nil)
    }

    /// Stricter than RFC 8259's grammar on purpose: a lone UTF-16 surrogate escape is no character.
    @Test(arguments: ["\"\\uD800\"", "\"\\uDC00\"", "\"\\uD83Dx\"", "\"\\uD83D\\u0041\"", "\"\\uD83D\\uD83D\""])
    func refusesLoneSurrogates(_ text: String) {
        #expect(!JSONSyntax.isValid(Array(text.utf8)), "\(text)")
    }

    @Test func nestingIsLimitedInsteadOfExhaustingTheStack() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(!JSONSyntax.isValid(Array(deep.utf8)))
        let allowed = String(repeating: "[", count: JSONSyntax.maxDepth) + String(repeating: "]", count: JSONSyntax.maxDepth)
        #expect(JSONSyntax.isValid(Array(allowed.utf8)))
        let over = "[" + allowed + "]"
        #expect(!JSONSyntax.isValid(Array(over.utf8)))
    }

    @Test func anEventEmbedsOnlyJSONTypedValidJSONTrimmed() {
        func event(_ type: String?, _ payload: String) -> Event {
            Event(id: "e", topic: "t", contentType: type, payload: Array(payload.utf8))
        }
        #expect(event("application/json", " \n{\"a\":1}\t ").embeddableJSON == "{\"a\":1}")
        #expect(event("application/json", "{\"a\":1}").embeddableJSON == "{\"a\":1}")
        #expect(event("application/json", "\r\n{\"a\":1}\r\n").embeddableJSON == "{\"a\":1}")
        #expect(event("application/vnd.x+json", "[1]").embeddableJSON == "[1]")
        #expect(event("application/json", "{\"a\":").embeddableJSON == nil)
        #expect(event("text/plain", "{\"a\":1}").embeddableJSON == nil)
        #expect(event(nil, "1").embeddableJSON == nil)
        #expect(Event(id: "e", topic: "t", contentType: "application/json", payload: [0x22, 0xFF, 0x22]).embeddableJSON == nil)
        // Media types are case-insensitive; "js" or "jso" is not JSON.
        #expect(event("Application/JSON", "[2]").embeddableJSON == "[2]")
        #expect(event("application/jso", "[2]").embeddableJSON == nil)
        #expect(event("js", "[2]").embeddableJSON == nil)
        // Multi-byte UTF-8 is embedded; a truncated sequence is not.
        #expect(event("application/json", " \"héllo ✓\" ").embeddableJSON == "\"héllo ✓\"")
        #expect(Event(id: "e", topic: "t", contentType: "application/json", payload: [0x22, 0xE2, 0x9C, 0x22]).embeddableJSON == nil)
        // The range is what the merged record copies: the trimmed bytes, in place.
        let e = event("application/json", "  [1, 2] \n")
        #expect(e.embeddableJSONRange == 2..<8)
        #expect(event("application/json", "   ").embeddableJSONRange == nil)
    }
}
