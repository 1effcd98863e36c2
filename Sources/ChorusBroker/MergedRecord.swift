import ChorusProtocol
import ChorusStore

/// Builds the merged record a join emits (docs/JOINS.md, "The merged record"): JSON with keys in a fixed order.
///
/// Text and JSON payloads of parts are embedded; binary artifacts are referenced (blob hash, or the result
/// event's sequence number), so the record stays small whatever the parts weigh. Written by hand rather than
/// with JSONSerialization: with sorted keys that was nearly all of the broker's time per join.
enum MergedRecord {
    /// Text and JSON payloads up to a join's `embed_limit` are embedded; this is its default and its largest
    /// value, which keeps a record of a few parts well inside the default inline limit of 1 MiB.
    static let maxEmbedLimit = 64 * 1024

    static func build(
        definition d: JoinDefinition, state: JoinState, outcome: JoinState.Outcome, reason: String, closedAt: Int64,
        fetch: (UInt64) -> LogEntry?
    ) -> [UInt8] {
        var w = JSONWriter()
        w.beginObject()
        w.member("join", d.name)
        w.member("correlation", state.correlation)
        w.member("status", outcome.rawValue)
        w.member("reason", reason)
        w.member("opened_at", state.openedAt)
        w.member("closed_at", closedAt)
        w.member("duration_ms", closedAt - state.openedAt)
        if let request = fetch(state.openSeq) {
            w.key("request")
            w.beginObject()
            request.describe(into: &w, embedLimit: d.embedLimit)
            w.endObject()
        }
        var missing: [String] = []
        var failed: [String] = []
        w.key("parts")
        w.beginArray()
        for (i, part) in d.parts.enumerated() {
            w.beginObject()
            w.member("name", part.name)
            w.key("required")
            w.bool(part.required)
            switch state.parts[i] {
            case .pending:
                w.member("status", "missing")
                missing.append(part.name)
            case .timedOut(let at):
                w.member("status", "timeout")
                w.member("timed_out_at", at)
                missing.append(part.name)
            case .ok(let seq, let at):
                w.member("status", "ok")
                w.member("received_at", at)
                w.member("after_ms", at - state.openedAt)
                if let e = fetch(seq) { e.describe(into: &w, embedLimit: d.embedLimit) }
            case .failed(let seq, let at, let error):
                w.member("status", "failed")
                w.member("error", error)
                w.member("received_at", at)
                w.member("after_ms", at - state.openedAt)
                if seq > 0, let e = fetch(seq) { e.describe(into: &w, embedLimit: d.embedLimit) }
                failed.append(part.name)
            }
            w.endObject()
        }
        w.endArray()
        for (key, names) in [("missing" as StaticString, missing), ("failed", failed)] {
            w.key(key)
            w.beginArray()
            for name in names { w.string(name) }
            w.endArray()
        }
        w.endObject()
        return w.bytes
    }
}

extension LogEntry {
    /// Writes the members describing this event: its reference and, when text or JSON of at most `embedLimit`
    /// bytes, its content. A method of the entry so that the event is read in place: passed out of it, Swift
    /// copied the event per part.
    func describe(into w: inout JSONWriter, embedLimit: Int) {
        w.member("seq", Int64(event.seq))
        w.member("id", event.id)
        w.member("topic", event.topic)
        w.member("size", Int64(payloadCount))
        w.member("time", event.time)
        if let producer = event.producer { w.member("producer", producer) }
        if let type = event.contentType { w.member("content_type", type) }
        // One pass over the headers for the four this record reports (the first of each, as before).
        var attempt: String?, blob: String?, blobSize: String?, blobType: String?, engine: String?
        for (name, value) in event.headers {
            switch name {
            case "attempt": attempt = attempt ?? value
            case "blob" where !value.isEmpty: blob = blob ?? value.lowercased()
            case "blob-size": blobSize = blobSize ?? value
            case "blob-type": blobType = blobType ?? value
            case "engine": engine = engine ?? value
            default: break
            }
        }
        if let attempt = attempt.flatMap(Int64.init) { w.member("attempt", attempt) }
        if let blob {
            w.key("blob")
            w.beginObject()
            w.member("sha256", blob)
            w.member("size", Int64(blobSize ?? "") ?? 0)
            w.member("media_type", blobType ?? event.contentType ?? "application/octet-stream")
            w.endObject()
        }
        if let engine { w.member("engine", engine) }
        guard payloadCount <= embedLimit, payloadCount > 0 else { return }
        let type = event.contentType ?? ""
        if let json = event.embeddableJSONRange {
            w.key("payload")
            w.raw(event.payload[json])
        } else if type.hasPrefix("text/") || type.isEmpty {
            w.member("text", utf8: event.payload)
        }
    }
}
