import Foundation

extension Event {
    /// The payload as JSON text to embed in a JSON document (trimmed), when the content type says JSON and the
    /// payload is valid JSON; nil otherwise. Merged records and `--json` output embed such payloads as they are.
    public var embeddableJSON: String? {
        guard contentType?.contains("json") == true, let text = String(validating: payload, as: UTF8.self),
            (try? JSONSerialization.jsonObject(with: Data(payload), options: [.fragmentsAllowed])) != nil
        else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
