extension Event {
    /// The payload as JSON text to embed in a JSON document (trimmed), when the content type says JSON and the
    /// payload is valid JSON (UTF-8, JSONSyntax); nil otherwise. Merged records and `--json` output embed such
    /// payloads as they are.
    public var embeddableJSON: String? {
        guard contentType?.contains("json") == true, JSONSyntax.isValid(payload), let text = String(validating: payload, as: UTF8.self)
        else { return nil }
        // Outside the value JSON allows only these four whitespace characters: trimming them is trimming it all.
        let isSpace = { (c: Character) in c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\r\n" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else { return nil }
        return first == text.startIndex && last == text.index(before: text.endIndex) ? text : String(text[first...last])
    }
}
