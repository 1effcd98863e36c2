import ChorusProtocol
import Foundation

/// Writes JSON text with keys in a fixed order, so `--json` output is stable for scripts and diffs.
public struct JSONText {
    private var parts: [String] = []

    public init() {}

    public static func quote(_ s: String) -> String { JSONString.quoted(s) }

    public mutating func add(_ key: String, string value: String?) {
        guard let value else { return }
        parts.append("\(Self.quote(key)):\(Self.quote(value))")
    }

    public mutating func add(_ key: String, number value: Int64?) {
        guard let value else { return }
        parts.append("\(Self.quote(key)):\(value)")
    }

    public mutating func add(_ key: String, raw value: String) {
        parts.append("\(Self.quote(key)):\(value)")
    }

    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// The JSON object for an event, with the field names documented in docs/CLI-OPERATORS.md.
    public static func event(_ e: Event, extra: (inout JSONText) -> Void = { _ in }) -> String {
        var j = JSONText()
        j.add("seq", number: Int64(e.seq))
        j.add("id", string: e.id)
        j.add("topic", string: e.topic)
        j.add("correlation", string: e.correlation)
        j.add("causation", string: e.causation)
        j.add("producer", string: e.producer)
        j.add("time", number: e.time)
        j.add("content_type", string: e.contentType)
        j.add("deadline", number: e.deadline)
        if !e.headers.isEmpty {
            j.add("headers", raw: "{" + e.headers.map { "\(quote($0.name)):\(quote($0.value))" }.joined(separator: ",") + "}")
        }
        extra(&j)
        // The payload as JSON when it is JSON, as a string when it is UTF-8 text, else base64.
        if let json = e.embeddableJSON {
            j.add("payload", raw: json)
        } else if let text = String(validating: e.payload, as: UTF8.self) {
            j.add("payload", string: text)
        } else {
            j.add("payload_base64", string: Data(e.payload).base64EncodedString())
        }
        return j.text
    }
}
