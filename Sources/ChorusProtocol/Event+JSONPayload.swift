extension Event {
    /// The payload as JSON text to embed in a JSON document (trimmed), when the content type says JSON and the
    /// payload is valid JSON (UTF-8, JSONSyntax); nil otherwise. Merged records and `--json` output embed such
    /// payloads as they are.
    public var embeddableJSON: String? {
        embeddableJSONRange.flatMap { String(validating: payload[$0], as: UTF8.self) }
    }

    /// Where in the payload the embeddable JSON lies (see `embeddableJSON`), found without making a String: the
    /// broker embeds a request and every part in each merged record, and the String search and trimming by
    /// Character were an eighth of its thread's time per join.
    public var embeddableJSONRange: Range<Int>? {
        guard let type = contentType, Self.mentionsJSON(type), JSONSyntax.isValid(payload) else { return nil }
        // Outside the value JSON allows only these four whitespace bytes: trimming them is trimming it all.
        let isSpace = { (b: UInt8) in b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        guard let first = payload.firstIndex(where: { !isSpace($0) }), let last = payload.lastIndex(where: { !isSpace($0) }) else { return nil }
        // Valid UTF-8 too: JSONSyntax checks the grammar, not the encoding.
        guard Self.isValidUTF8(payload[first...last]) else { return nil }
        return first..<(last + 1)
    }

    /// Whether a content type has "json" in it ("application/json", "application/vnd.x+json"), in any case (media
    /// types are case-insensitive), byte by byte.
    static func mentionsJSON(_ type: String) -> Bool {
        var type = type
        return type.withUTF8 { t in
            guard t.count >= 4 else { return false }
            for i in 0...(t.count - 4) where t[i] | 0x20 == 0x6A && t[i + 1] | 0x20 == 0x73 && t[i + 2] | 0x20 == 0x6F && t[i + 3] | 0x20 == 0x6E { return true }
            return false
        }
    }

    /// Whether these bytes are valid UTF-8; ASCII, the usual case, is one pass with no decoding.
    static func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
        if bytes.allSatisfy({ $0 < 0x80 }) { return true }
        return String(validating: bytes, as: UTF8.self) != nil
    }
}
