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

    /// "a elegant place to begin" was a slip: the article before a vowel sound is "an". Short prompts borrow
    /// fallback topics, and long ones use their own words, so both kinds are covered, with many seeds each.
    @Test func articlesAgreeWithTheWordThatFollows() {
        let prompts = Self.prompts + (0..<300).map { "p\($0)" } + (0..<300).map { "question \($0) about queues and brokers" }
        var checked = 0
        for prompt in prompts {
            let words = TextGenerator().generate(prompt: prompt).split(separator: " ").map { $0.lowercased() }
            for (article, next) in zip(words, words.dropFirst()) where article == "a" || article == "an" {
                checked += 1
                #expect(article == (Self.startsWithVowelSound(next) ? "an" : "a"), "'\(article) \(next)' in: \(prompt)")
            }
        }
        #expect(checked > 100)
        #expect(TextGenerator.agreeingArticles("practice is a elegant place, a useful map") == "practice is an elegant place, a useful map")
    }

    /// A vowel letter, except "u" read as "you" (useful, unique); good enough for the generator's vocabulary.
    static func startsWithVowelSound(_ word: String) -> Bool {
        guard let first = word.first, "aeiou".contains(first) else { return false }
        return !(word.hasPrefix("us") || word.hasPrefix("uni"))
    }

    @Test func differentPromptsUsuallyDiffer() {
        let texts = Set((0..<20).map { TextGenerator().generate(prompt: "topic \($0)") })
        #expect(texts.count >= 15)
    }
}
