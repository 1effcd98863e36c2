import ChorusProtocol
import Testing

@Suite("Pattern matching")
struct TopicPatternMatchingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let pattern: String
        let topic: String
        let matches: Bool
        var testDescription: String { "\(pattern) \(matches ? "matches" : "does not match") \(topic)" }
    }

    static let table: [Case] = [
        Case(pattern: "a.*.c", topic: "a.b.c", matches: true),
        Case(pattern: "a.*.c", topic: "a.b", matches: false),
        Case(pattern: "a.*.c", topic: "a.b.c.d", matches: false),
        Case(pattern: "a.*.c", topic: "a.b.d", matches: false),
        Case(pattern: "a.*.c", topic: "x.b.c", matches: false),
        Case(pattern: "a.>", topic: "a", matches: false),
        Case(pattern: "a.>", topic: "a.b", matches: true),
        Case(pattern: "a.>", topic: "a.b.c", matches: true),
        Case(pattern: "a.>", topic: "ab.c", matches: false),
        Case(pattern: "a.>", topic: "b.a", matches: false),
        Case(pattern: ">", topic: "a", matches: true),
        Case(pattern: ">", topic: "a.b.c", matches: true),
        Case(pattern: ">", topic: "$dlq.x", matches: false),
        Case(pattern: "*", topic: "a", matches: true),
        Case(pattern: "*", topic: "a.b", matches: false),
        Case(pattern: "*.>", topic: "$dlq.x", matches: false),
        Case(pattern: "*.x", topic: "$dlq.x", matches: false),
        Case(pattern: "$dlq.>", topic: "$dlq.g", matches: true),
        Case(pattern: "$dlq.>", topic: "$dlq.g.h", matches: true),
        Case(pattern: "$dlq.>", topic: "dlq.g", matches: false),
        Case(pattern: "$dlq.*", topic: "$dlq.g", matches: true),
        Case(pattern: "$dlq.g", topic: "$dlq.g", matches: true),
        Case(pattern: "$dlq.g", topic: "$dlq.h", matches: false),
        Case(pattern: "a.b", topic: "a.b", matches: true),
        Case(pattern: "a.b", topic: "a.bc", matches: false),
        Case(pattern: "a.b", topic: "a.b.c", matches: false),
        Case(pattern: "a.b", topic: "a", matches: false),
        Case(pattern: "A.b", topic: "a.b", matches: false),
    ]

    @Test(arguments: table)
    func matches(_ c: Case) throws {
        let pattern = try TopicPattern(c.pattern)
        #expect(pattern.matches(c.topic) == c.matches)
        #expect(pattern.matches(bytes(c.topic)) == c.matches)
    }

    @Test func setMatchesWhenAnyPatternMatches() throws {
        let set = try TopicPatternSet(texts: ["jobs.*", "audit.>"])
        #expect(set.matches(bytes("jobs.text")))
        #expect(set.matches(bytes("audit.a.b")))
        #expect(!set.matches(bytes("jobs.text.x")))
        #expect(!set.matches(bytes("other")))
        #expect(!set.matches(bytes("$dlq.jobs")))
    }
}
