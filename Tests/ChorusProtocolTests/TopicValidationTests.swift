import ChorusProtocol
import Testing

@Suite("Topic validation")
struct TopicValidationTests {
    @Test(arguments: ["a", "jobs.text", "A.b_c-d:e@f", "x.y.z.0.9", "a:b@c", String(repeating: "a", count: 255)])
    func acceptsValidTopics(_ topic: String) throws {
        try Topic.validate(bytes(topic))
    }

    @Test(arguments: ["", String(repeating: "a", count: 256)])
    func rejectsBadLength(_ topic: String) {
        let error = #expect(throws: ProtocolError.self) { try Topic.validate(bytes(topic)) }
        #expect(error?.code == .invalidTopic)
    }

    @Test(arguments: [".a", "a.", "a..b", ".", "..", "$", "$.a"])
    func rejectsEmptyTokens(_ topic: String) {
        let error = #expect(throws: ProtocolError.self) { try Topic.validate(bytes(topic), allowReserved: true) }
        #expect(error?.code == .invalidTopic)
        #expect(error?.message.contains("empty token") == true)
    }

    @Test(arguments: ["a b", "a/b", "a*", "a.>", "é", "a\nb", "a$", "a.$b", "a#b", "a+b"])
    func rejectsCharactersOutsideTheTokenSet(_ topic: String) {
        let error = #expect(throws: ProtocolError.self) { try Topic.validate(bytes(topic), allowReserved: true) }
        #expect(error?.code == .invalidTopic)
    }

    @Test func dollarTopicsAreReservedForPublishers() {
        let error = #expect(throws: ProtocolError.self) { try Topic.validate(bytes("$dlq.g")) }
        #expect(error?.code == .reservedTopic)
    }

    @Test func dollarTopicsAreAllowedForTheBroker() throws {
        try Topic.validate(bytes("$dlq.g"), allowReserved: true)
        try Topic.validate(bytes("$sys"), allowReserved: true)
    }

    @Test func lengthLimitCountsBytesNotCharacters() {
        // 255 characters but 256 bytes: the length check comes first and counts bytes.
        let topic = String(repeating: "a", count: 254) + "é"
        #expect(bytes(topic).count == 256)
        let error = #expect(throws: ProtocolError.self) { try Topic.validate(bytes(topic)) }
        #expect(error?.code == .invalidTopic)
        #expect(error?.message.contains("256") == true)
    }
}
