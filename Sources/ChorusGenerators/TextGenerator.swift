import ChorusProtocol
/// Writes a short, deterministic "response" of two to four sentences that mentions the prompt's key words.
///
/// **This is not a language model.** It does not read, understand or answer the prompt: it picks up to three
/// key words (the longest words that are not common English function words), then fills sentence templates from
/// a small built-in vocabulary, with every choice seeded by the SHA-256 of the prompt. The same prompt always
/// gives the same text. It exists so the text agent has real, varied output in microseconds for demos and CI;
/// for real answers, configure an `openai-chat` or `command` generator (docs/GENERATORS.md).
public struct TextGenerator: Sendable {
    /// Creates a generator. It has no state: all variation comes from the prompt.
    public init() {}

    /// Two to four sentences for `prompt`.
    public func generate(prompt: String) -> String {
        var random = SeededRandom(digest: SHA256.hash(Array(prompt.utf8)))
        var keywords = Self.keywords(in: prompt)
        while keywords.count < 3 {
            // Short or empty prompts borrow topics, so templates always have something to talk about.
            let topic = random.pick(Self.fallbackTopics)
            if !keywords.contains(topic) { keywords.append(topic) }
        }
        let count = 2 + random.index(3)
        // Each sentence comes from a different template, in a seeded order.
        var templates = Self.templates
        var sentences = [String]()
        for s in 0..<count {
            let template = templates.remove(at: random.index(templates.count))
            // Rotate the keywords so each sentence leads with a different one.
            let k = (0..<3).map { keywords[(s + $0) % keywords.count] }
            sentences.append(fill(template, keywords: k, random: &random))
        }
        return sentences.joined(separator: " ")
    }

    /// The prompt's key words: three distinct words that are not stop words, in prompt order. Names come first
    /// (a capital letter anywhere but the start of the prompt, as in "ZeroMQ" or "Paris"), then the longest
    /// words. Case is kept as typed; comparison ignores it.
    static func keywords(in prompt: String) -> [String] {
        var seen = Set<String>()
        var words = [(word: String, position: Int, isName: Bool)]()
        let tokens = prompt.split { !($0.isLetter || $0.isNumber || $0 == "-" || $0 == "'") }
        for (position, token) in tokens.enumerated() {
            let word = String(
                token.drop { $0 == "-" || $0 == "'" }.reversed().drop { $0 == "-" || $0 == "'" }.reversed())
            let key = word.lowercased()
            guard word.count >= 3, !stopWords.contains(key), seen.insert(key).inserted else { continue }
            let isName = word.dropFirst().contains(where: \.isUppercase) || (position > 0 && word.first!.isUppercase)
            words.append((word, position, isName))
        }
        // Names, then longest, then earliest; then back into prompt order so sentences read naturally.
        let ranked = words.sorted { a, b in
            if a.isName != b.isName { return a.isName }
            if a.word.count != b.word.count { return a.word.count > b.word.count }
            return a.position < b.position
        }
        let chosen = ranked.prefix(3)
        return chosen.sorted { $0.position < $1.position }.map(\.word)
    }

    private func fill(_ template: String, keywords: [String], random: inout SeededRandom) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let slot = rest[rest.index(after: open)..<close]
            switch slot {
            case "k1": out += keywords[0]
            case "k2": out += keywords[1]
            case "k3": out += keywords[2]
            default: out += random.pick(Self.vocabulary[String(slot)] ?? ["something"])
            }
            rest = rest[rest.index(after: close)...]
        }
        out += rest
        out = Self.agreeingArticles(out)
        // Templates may start with a key word typed in lower case.
        return out.prefix(1).uppercased() + out.dropFirst()
    }

    /// `text` with each article "a" that precedes a vowel sound made "an" ("an elegant place", but "a useful
    /// map"). Templates write "a"; the word after it is only known once the slots are filled. Keeps case.
    static func agreeingArticles(_ text: String) -> String {
        var words = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        for i in words.indices.dropLast() where (words[i] == "a" || words[i] == "A") && startsWithVowelSound(words[i + 1]) {
            words[i] += "n"
        }
        return words.joined(separator: " ")
    }

    /// Whether "an" goes before `word`, judged by its first letter: a vowel, except a "u" read as "you" (useful,
    /// unique, usual). Enough for the vocabulary here and for most key words; English has more exceptions
    /// ("an hour", "a one-off") than a template toy needs.
    static func startsWithVowelSound(_ word: String) -> Bool {
        let w = word.lowercased()
        guard let first = w.first, "aeiou".contains(first) else { return false }
        return !(w.hasPrefix("us") || w.hasPrefix("uni"))
    }

    static let templates: [String] = [
        "{k1} is {adjective} when you look at it through {k2}.",
        "The {adjective} part of {k1} is how it {verb} {k2}.",
        "In short, {k1} {verb} {k2}, and {k3} keeps it {adjective}.",
        "Think of {k1} as a {noun} for {k2}.",
        "Most people {approach} {k1} by starting with {k2}, which is {adjective}.",
        "A {adjective} {noun} connects {k1}, {k2} and {k3}.",
        "{k2} matters here because it {verb} {k1}.",
        "If {k1} is the {noun}, then {k3} is the {noun2}.",
        "Start small: a {adjective} {noun} around {k1} tells you more than any plan about {k2}.",
        "There is no single answer for {k1}, but {k3} is a {adjective} place to begin.",
    ]

    static let vocabulary: [String: [String]] = [
        "adjective": [
            "surprising", "practical", "subtle", "useful", "simple", "quiet", "essential", "fragile", "elegant",
            "stubborn", "curious", "reliable",
        ],
        "noun": ["map", "bridge", "recipe", "compass", "lens", "thread", "garden", "ledger", "signal", "workshop"],
        "noun2": ["weather", "harbour", "engine", "rhythm", "horizon", "anchor", "current", "keystone"],
        "verb": ["shapes", "follows", "supports", "reflects", "balances", "echoes", "feeds", "outlasts"],
        "approach": ["approach", "explain", "misread", "picture", "learn"],
    ]

    static let fallbackTopics = ["patience", "curiosity", "the weather", "good questions", "small steps", "practice"]

    /// Common English function words, which make poor key words.
    static let stopWords: Set<String> = [
        "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was", "one", "our", "out",
        "has", "him", "his", "how", "its", "may", "new", "now", "old", "see", "two", "who", "did", "get", "let", "say",
        "she", "too", "use", "what", "when", "where", "which", "while", "with", "would", "could", "should", "there",
        "their", "them", "then", "they", "this", "that", "these", "those", "from", "have", "into", "just", "like",
        "more", "most", "much", "must", "only", "over", "some", "such", "than", "very", "will", "your", "about",
        "after", "again", "also", "been", "before", "being", "both", "does", "each", "even", "ever", "here", "make",
        "many", "other", "same", "tell", "write", "please", "give", "explain", "describe", "why", "way", "want",
        "between", "because", "through", "without", "within", "during", "against", "among", "under", "until",
    ]
}
