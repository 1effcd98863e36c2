import Testing

@testable import ChorusGenerators

@Suite("Template text generator")
struct TextGeneratorTests {
    static let prompts = [
        "Explain how ZeroMQ routers balance messages between workers",
        "Write a haiku about autumn leaves",
        "hi",
        "",
        "What is the capital of France?",
    ]

    static func sentences(_ text: String) -> Int {
        text.filter { $0 == "." }.count
    }

    @Test func deterministic() {
        for prompt in Self.prompts {
            #expect(TextGenerator().generate(prompt: prompt) == TextGenerator().generate(prompt: prompt))
        }
    }

    @Test func twoToFourSentences() {
        for prompt in Self.prompts + (0..<40).map({ "prompt number \($0) about distributed systems" }) {
            let text = TextGenerator().generate(prompt: prompt)
            #expect((2...4).contains(Self.sentences(text)), "\(text)")
            #expect(!text.contains("{") && !text.contains("}"), "unfilled slot in \(text)")
            #expect(text.first?.isUppercase == true, "\(text)")
        }
    }

    @Test func mentionsKeyWordsOfThePrompt() {
        let text = TextGenerator().generate(prompt: "Explain how ZeroMQ routers balance messages between workers")
        let mentioned = ["ZeroMQ", "routers", "balance", "messages", "between", "workers"].filter { text.contains($0) }
        #expect(mentioned.count >= 2, "\(text)")
    }

    @Test func keywordsSkipStopWordsAndKeepCase() {
        #expect(
            TextGenerator.keywords(in: "What is the ZeroMQ broker doing with these events?") == [
                "ZeroMQ", "broker", "events",
            ])
        #expect(TextGenerator.keywords(in: "the and of") == [])
        #expect(TextGenerator.keywords(in: "Agents, agents, AGENTS!") == ["Agents"])
        // Names outrank longer ordinary words.
        #expect(
            TextGenerator.keywords(in: "Explain how ZeroMQ routers balance messages between workers")
                == ["ZeroMQ", "routers", "messages"])
    }

    @Test func differentPromptsUsuallyDiffer() {
        let texts = Set((0..<20).map { TextGenerator().generate(prompt: "topic \($0)") })
        #expect(texts.count >= 15)
    }
}
