/// A compiled subscription pattern: `*` matches one token, `>` (last only) matches one or more tokens.
public struct TopicPattern: Hashable, Sendable, CustomStringConvertible {
    enum Token: Hashable, Sendable {
        case literal([UInt8])
        case one
        case rest
    }

    let tokens: [Token]
    /// The pattern as written.
    public let text: String

    /// Parses and validates a pattern.
    public init(_ text: String) throws(ProtocolError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= Topic.maxLength else {
            throw ProtocolError(.invalidPattern, "a pattern must be 1 to \(Topic.maxLength) bytes long")
        }
        var tokens: [Token] = []
        for (index, part) in bytes.split(separator: 0x2E, omittingEmptySubsequences: false).enumerated() {
            let token = Array(part)
            if token == [0x2A] {
                tokens.append(.one)
            } else if token == [0x3E] {
                tokens.append(.rest)
            } else {
                let body = index == 0 && token.first == 0x24 ? token.dropFirst() : token[...]
                guard !body.isEmpty, body.allSatisfy(Topic.isTokenByte) else {
                    throw ProtocolError(
                        .invalidPattern,
                        "pattern '\(text)': token \(index + 1) '\(String(decoding: token, as: UTF8.self))' must be '*', '>' or characters from A-Z a-z 0-9 _ - : @"
                    )
                }
                tokens.append(.literal(token))
            }
        }
        if let restIndex = tokens.firstIndex(of: .rest), restIndex != tokens.count - 1 {
            throw ProtocolError(.invalidPattern, "pattern '\(text)': '>' may only be the last token")
        }
        self.tokens = tokens
        self.text = text
    }

    public var description: String { text }

    /// Whether `topic` (already valid) matches this pattern.
    public func matches(_ topic: [UInt8]) -> Bool {
        // Reserved topics only match patterns that name them explicitly, so `>` never catches dead letters.
        if topic.first == 0x24 {
            guard case .literal(let first)? = tokens.first, first.first == 0x24 else { return false }
        }
        var tokenIndex = 0
        var start = 0
        let count = topic.count
        while start <= count {
            var end = start
            while end < count && topic[end] != 0x2E { end += 1 }
            guard tokenIndex < tokens.count else { return false }
            switch tokens[tokenIndex] {
            case .rest:
                return true
            case .one:
                break
            case .literal(let literal):
                if literal.count != end - start { return false }
                var i = 0
                while i < literal.count {
                    if literal[i] != topic[start + i] { return false }
                    i += 1
                }
            }
            tokenIndex += 1
            start = end + 1
        }
        return tokenIndex == tokens.count
    }

    /// Whether `topic` matches this pattern.
    public func matches(_ topic: String) -> Bool { matches(Array(topic.utf8)) }
}

/// A set of patterns; an event matches the set when it matches any of them.
public struct TopicPatternSet: Hashable, Sendable {
    /// The patterns, in the order given.
    public let patterns: [TopicPattern]

    public init(_ patterns: [TopicPattern]) { self.patterns = patterns }

    /// Parses patterns separated by newlines (the SUBSCRIBE frame) or given as a list.
    public init(texts: [String]) throws(ProtocolError) {
        var parsed: [TopicPattern] = []
        for text in texts { parsed.append(try TopicPattern(text)) }
        guard !parsed.isEmpty else { throw ProtocolError(.invalidPattern, "at least one pattern is required") }
        self.patterns = parsed
    }

    /// The patterns joined by newlines, as stored and as sent in SUBSCRIBE.
    public var text: String { patterns.map(\.text).joined(separator: "\n") }

    public func matches(_ topic: [UInt8]) -> Bool {
        for pattern in patterns where pattern.matches(topic) { return true }
        return false
    }
}
