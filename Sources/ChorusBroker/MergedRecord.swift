import ChorusProtocol
import Foundation

/// Builds the merged record a join emits (docs/JOINS.md, "The merged record"): JSON with sorted keys.
///
/// Text and JSON payloads of parts are embedded; binary artifacts are referenced (blob hash, or the result
/// event's sequence number), so the record stays small whatever the parts weigh.
enum MergedRecord {
    /// Payloads up to this size are embedded when they are text or JSON.
    static let embedLimit = 64 * 1024

    static func build(
        definition d: JoinDefinition, state: JoinState, outcome: JoinState.Outcome, reason: String, closedAt: Int64,
        fetch: (UInt64) -> Event?
    ) -> [UInt8] {
        var record: [String: Any] = [
            "join": d.name,
            "correlation": state.correlation,
            "status": outcome.rawValue,
            "reason": reason,
            "opened_at": state.openedAt,
            "closed_at": closedAt,
            "duration_ms": closedAt - state.openedAt,
        ]
        if let request = fetch(state.openSeq) {
            record["request"] = describe(request)
        }
        var parts: [[String: Any]] = []
        var missing: [String] = []
        var failed: [String] = []
        for (i, part) in d.parts.enumerated() {
            var p: [String: Any] = ["name": part.name, "required": part.required]
            switch state.parts[i] {
            case .pending:
                p["status"] = "missing"
                missing.append(part.name)
            case .timedOut(let at):
                p["status"] = "timeout"
                p["timed_out_at"] = at
                missing.append(part.name)
            case .ok(let seq, let at):
                p["status"] = "ok"
                p["received_at"] = at
                p["after_ms"] = at - state.openedAt
                if let e = fetch(seq) { p.merge(describe(e)) { a, _ in a } }
            case .failed(let seq, let at, let error):
                p["status"] = "failed"
                p["error"] = error
                p["received_at"] = at
                p["after_ms"] = at - state.openedAt
                if seq > 0, let e = fetch(seq) { p.merge(describe(e)) { a, _ in a } }
                failed.append(part.name)
            }
            parts.append(p)
        }
        record["parts"] = parts
        record["missing"] = missing
        record["failed"] = failed
        let data = (try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data)
    }

    /// An event's reference and, when small text or JSON, its content.
    static func describe(_ e: Event) -> [String: Any] {
        var out: [String: Any] = ["seq": e.seq, "id": e.id, "topic": e.topic, "size": e.payload.count, "time": e.time]
        if let producer = e.producer { out["producer"] = producer }
        if let type = e.contentType { out["content_type"] = type }
        var headers: [String: String] = [:]
        for h in e.headers { headers[h.name] = h.value }
        if let attempt = headers["attempt"].flatMap(Int.init) { out["attempt"] = attempt }
        if let hash = headers["blob"] {
            out["blob"] = [
                "sha256": hash, "size": Int(headers["blob-size"] ?? "") ?? 0,
                "media_type": headers["blob-type"] ?? e.contentType ?? "application/octet-stream",
            ] as [String: Any]
        }
        if let engine = headers["engine"] { out["engine"] = engine }
        guard e.payload.count <= embedLimit, !e.payload.isEmpty else { return out }
        let type = e.contentType ?? ""
        if type.contains("json"), let json = try? JSONSerialization.jsonObject(with: Data(e.payload), options: [.fragmentsAllowed]) {
            out["payload"] = json
        } else if type.hasPrefix("text/") || type.isEmpty, let text = String(validating: e.payload, as: UTF8.self) {
            out["text"] = text
        }
        return out
    }
}
