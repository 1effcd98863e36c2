import ChorusProtocol
import Testing

@Suite("Pattern parsing")
struct TopicPatternParsingTests {
    @Test(arguments: ["a", "a.b.c", "*", ">", "a.*", "a.>", "*.*.>", "$dlq.>", "$dlq.g", "A_b-c:d@e.*"])
    func acceptsValidPatterns(_ text: String) throws {
        let pattern = try TopicPattern(text)
        #expect(pattern.text == text)
        #expect(pattern.description == text)
    }

    @Test(arguments: [">.a", "a.>.b", ">.>"])
    func rejectsRestThatIsNotLast(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try TopicPattern(text) }
        #expect(error?.code == .invalidPattern)
    }

    @Test func restNotLastSaysSo() {
        let error = #expect(throws: ProtocolError.self) { try TopicPattern("a.>.b") }
        #expect(error?.message.contains("'>' may only be the last token") == true)
    }

    @Test(arguments: ["", "a..b", ".a", "a.", "$", "$.a", "."])
    func rejectsEmptyTokens(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try TopicPattern(text) }
        #expect(error?.code == .invalidPattern)
    }

    @Test(arguments: ["a b", "a.b*", "a.*b", "a.>b", "a/b", "a.$b", "a#", "é"])
    func rejectsBadCharacters(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try TopicPattern(text) }
        #expect(error?.code == .invalidPattern)
    }

    @Test func rejectsOverlongPattern() throws {
        _ = try TopicPattern(String(repeating: "a", count: 255))
        let error = #expect(throws: ProtocolError.self) { try TopicPattern(String(repeating: "a", count: 256)) }
        #expect(error?.code == .invalidPattern)
    }

    @Test func setNeedsAtLeastOnePattern() {
        let error = #expect(throws: ProtocolError.self) { try TopicPatternSet(texts: []) }
        #expect(error?.code == .invalidPattern)
    }

    @Test func setReportsFirstBadPattern() {
        let error = #expect(throws: ProtocolError.self) { try TopicPatternSet(texts: ["a.b", "a..b"]) }
        #expect(error?.code == .invalidPattern)
        #expect(error?.message.contains("a..b") == true)
    }

    @Test func setKeepsOrderAndJoinsWithNewlines() throws {
        let set = try TopicPatternSet(texts: ["b.>", "a.*"])
        #expect(set.patterns.map(\.text) == ["b.>", "a.*"])
        #expect(set.text == "b.>\na.*")
    }
}
