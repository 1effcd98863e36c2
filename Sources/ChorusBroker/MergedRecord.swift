import ChorusProtocol

/// Builds the merged record a join emits (docs/JOINS.md, "The merged record"): JSON with keys in a fixed order.
///
/// Text and JSON payloads of parts are embedded; binary artifacts are referenced (blob hash, or the result
/// event's sequence number), so the record stays small whatever the parts weigh. Written by hand rather than
/// with JSONSerialization: with sorted keys that was nearly all of the broker's time per join.
enum MergedRecord {
    /// Payloads up to this size are embedded when they are text or JSON.
    static let embedLimit = 64 * 1024

    static func build(
        definition d: JoinDefinition, state: JoinState, outcome: JoinState.Outcome, reason: String, closedAt: Int64,
        fetch: (UInt64) -> Event?
    ) -> [UInt8] {
        var missing: [String] = []
        var failed: [String] = []
        var parts: [JSONValue] = []
        for (i, part) in d.parts.enumerated() {
            var p: [(String, JSONValue)] = [("name", .string(part.name)), ("required", .bool(part.required))]
            switch state.parts[i] {
            case .pending:
                p.append(("status", .string("missing")))
                missing.append(part.name)
            case .timedOut(let at):
                p.append(("status", .string("timeout")))
                p.append(("timed_out_at", .int(at)))
                missing.append(part.name)
            case .ok(let seq, let at):
                p.append(("status", .string("ok")))
                p.append(("received_at", .int(at)))
                p.append(("after_ms", .int(at - state.openedAt)))
                if let e = fetch(seq) { p += describe(e) }
            case .failed(let seq, let at, let error):
                p.append(("status", .string("failed")))
                p.append(("error", .string(error)))
                p.append(("received_at", .int(at)))
                p.append(("after_ms", .int(at - state.openedAt)))
                if seq > 0, let e = fetch(seq) { p += describe(e) }
                failed.append(part.name)
            }
            parts.append(.object(p))
        }
        var record: [(String, JSONValue)] = [
            ("join", .string(d.name)), ("correlation", .string(state.correlation)), ("status", .string(outcome.rawValue)),
            ("reason", .string(reason)), ("opened_at", .int(state.openedAt)), ("closed_at", .int(closedAt)),
            ("duration_ms", .int(closedAt - state.openedAt)),
        ]
        if let request = fetch(state.openSeq) { record.append(("request", .object(describe(request)))) }
        record.append(("parts", .array(parts)))
        record.append(("missing", .array(missing.map(JSONValue.string))))
        record.append(("failed", .array(failed.map(JSONValue.string))))
        var out: [UInt8] = []
        out.reserveCapacity(1024)
        JSONValue.object(record).write(into: &out)
        return out
    }

    /// An event's reference and, when small text or JSON, its content.
    static func describe(_ e: Event) -> [(String, JSONValue)] {
        var out: [(String, JSONValue)] = [
            ("seq", .int(Int64(e.seq))), ("id", .string(e.id)), ("topic", .string(e.topic)), ("size", .int(Int64(e.payload.count))),
            ("time", .int(e.time)),
        ]
        if let producer = e.producer { out.append(("producer", .string(producer))) }
        if let type = e.contentType { out.append(("content_type", .string(type))) }
        func header(_ name: String) -> String? { e.headers.first { $0.name == name }?.value }
        if let attempt = header("attempt").flatMap(Int64.init) { out.append(("attempt", .int(attempt))) }
        if let hash = e.blobHashes.first {
            out.append((
                "blob",
                .object([
                    ("sha256", .string(hash)), ("size", .int(Int64(header("blob-size") ?? "") ?? 0)),
                    ("media_type", .string(header("blob-type") ?? e.contentType ?? "application/octet-stream")),
                ])
            ))
        }
        if let engine = header("engine") { out.append(("engine", .string(engine))) }
        guard e.payload.count <= embedLimit, !e.payload.isEmpty else { return out }
        let type = e.contentType ?? ""
        if let json = e.embeddableJSON {
            out.append(("payload", .raw(json)))
        } else if type.hasPrefix("text/") || type.isEmpty, let text = String(validating: e.payload, as: UTF8.self) {
            out.append(("text", .string(text)))
        }
        return out
    }
}

/// A JSON value with ordered object keys, written straight to bytes.
enum JSONValue {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// Text already known to be valid JSON (an embedded payload).
    case raw(String)

    func write(into out: inout [UInt8]) {
        switch self {
        case .string(let s): JSONString.append(s, to: &out)
        case .int(let n): out.append(contentsOf: String(n).utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .raw(let text): out.append(contentsOf: text.utf8)
        case .array(let items):
            out.append(0x5B)
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(0x2C) }
                item.write(into: &out)
            }
            out.append(0x5D)
        case .object(let pairs):
            out.append(0x7B)
            for (i, (key, value)) in pairs.enumerated() {
                if i > 0 { out.append(0x2C) }
                JSONString.append(key, to: &out)
                out.append(0x3A)
                value.write(into: &out)
            }
            out.append(0x7D)
        }
    }
}
