import ChorusProtocol

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The human one-line form of an event (`chorus tail`), and the clock and colours `chorus inspect` shares.
///
/// A line is `TIME SEQ TOPIC CORRELATION PRODUCER PREVIEW`, separated by single spaces:
///
///     14:03:07.123 1042 jobs.text req-1 planner {"prompt":"a haiku about queues"}
///
/// TIME is local, to the millisecond; a missing correlation or producer is `-`; the first five fields never
/// contain a space (blanks and control characters in correlation and producer become `_`), so `awk` can cut
/// them. The preview is at most `previewLength` characters of the payload on one line, or `<N bytes TYPE>` for
/// a binary payload. Scripts should use `--json`; this form is for eyes and may change.
struct EventLine {
    /// The longest payload preview, in characters.
    static let previewLength = 60

    /// Whether to write ANSI colours.
    let colors: Bool
    /// The `HH:MM:SS.` of the last second formatted: consecutive events mostly share it, and localtime_r is not free.
    private var cachedSecond = Int64.min
    private var cachedClock = ""

    init(colors: Bool) { self.colors = colors }

    /// Colours only on a terminal, never when NO_COLOR is set to anything but empty (no-color.org) or TERM is
    /// `dumb`.
    static func colorsWanted() -> Bool {
        guard isatty(1) != 0 else { return false }
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    /// The line for `event`.
    mutating func format(_ e: Event) -> String {
        let second = Self.floorSecond(e.time)
        if second != cachedSecond {
            cachedSecond = second
            cachedClock = String(Self.clock(e.time).dropLast(3))
        }
        var line = ""
        line.reserveCapacity(e.topic.utf8.count + 120)
        line += paint(cachedClock + Self.three(Int32(e.time - second * 1000)), .dim)
        line += " "
        line += paint(String(e.seq), .bold)
        line += " "
        line += paint(e.topic, e.topic.utf8.first == UInt8(ascii: "$") ? .red : .cyan)
        line += " "
        line += e.correlation.map { paint(Self.field($0), .yellow) } ?? "-"
        line += " "
        line += e.producer.map { paint(Self.field($0), .green) } ?? "-"
        line += " "
        let preview = Self.preview(e)
        line += preview.isText ? preview.text : paint(preview.text, .dim)
        return line
    }

    // MARK: Pieces

    enum Color: String {
        case bold = "1"
        case dim = "2"
        case red = "31"
        case green = "32"
        case yellow = "33"
        case blue = "34"
        case magenta = "35"
        case cyan = "36"
    }

    func paint(_ text: String, _ color: Color) -> String {
        colors ? "\u{1B}[\(color.rawValue)m\(text)\u{1B}[0m" : text
    }

    /// `HH:MM:SS.mmm` in local time.
    static func clock(_ ms: Int64) -> String {
        let parts = localParts(ms)
        return
            "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))."
                + three(Int32(ms - floorSecond(ms) * 1000))
    }

    /// `YYYY-MM-DD` in local time.
    static func date(_ ms: Int64) -> String {
        let parts = localParts(ms)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    static func floorSecond(_ ms: Int64) -> Int64 { ms >= 0 ? ms / 1000 : (ms - 999) / 1000 }

    private static func localParts(_ ms: Int64) -> tm {
        var seconds = time_t(floorSecond(ms))
        var parts = tm()
        localtime_r(&seconds, &parts)
        return parts
    }

    private static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    static func three(_ v: Int32) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)" }

    /// A value as one field: blanks and control characters become `_`, the empty string is `""`.
    static func field(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        // Fast path: printable ASCII needs nothing.
        if s.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return s }
        guard s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace })
        else { return s }
        return String(
            String.UnicodeScalarView(
                s.unicodeScalars.map { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace ? "_" : $0 }))
    }

    /// Content types whose payloads are shown as binary even when their bytes happen to be text.
    static let binaryTypes = [
        "application/octet-stream", "image/", "audio/", "video/", "application/pdf", "application/zip",
    ]

    /// `join NAME STATUS (merged record, N bytes)` for a merged record (producer `chorus.join`, headers `join` and
    /// `status`): its JSON starts with fields the line shows already, and cut at 60 characters it hid the outcome.
    static func joinSummary(_ e: Event) -> String? {
        guard e.producer == "chorus.join", let join = e.header("join"),
            let status = e.header("status")
        else { return nil }
        return "join \(join) \(status) (merged record, \(e.payload.count) bytes)"
    }

    /// The payload on one line: its text with blanks collapsed, at most `limit` characters (the last one `…`
    /// when cut), or `<N bytes TYPE>` when it is not UTF-8 text. Reads only the first few hundred bytes.
    static func preview(_ e: Event, limit: Int = previewLength) -> (text: String, isText: Bool) {
        func binary() -> (String, Bool) {
            // A claim-checked artifact: show the blob it points at, not the empty payload.
            if e.payload.isEmpty, let hash = e.blobHashes.first {
                let size = e.header("blob-size") ?? "?"
                return ("<blob \(hash.prefix(12))… \(size) bytes\(e.contentType.map { " " + field($0) } ?? "")>", false)
            }
            return ("<\(e.payload.count) bytes\(e.contentType.map { " " + field($0) } ?? "")>", false)
        }
        if e.payload.isEmpty { return binary() }
        if let summary = joinSummary(e) {
            return (summary.count > limit ? String(summary.prefix(limit - 1)) + "…" : summary, true)
        }
        if let type = e.contentType?.lowercased(), binaryTypes.contains(where: { type.hasPrefix($0) }) {
            return binary()
        }
        // Four bytes per character at most: this prefix always holds `limit` characters when the payload does.
        let window = limit * 4 + 4
        var head = e.payload.prefix(window)
        var decoded = String(validating: head, as: UTF8.self)
        if decoded == nil, e.payload.count > window {
            // The window may end inside a character: drop up to three trailing bytes and try again.
            for _ in 0..<3 where decoded == nil {
                head = head.dropLast()
                decoded = String(validating: head, as: UTF8.self)
            }
        }
        guard decoded != nil else { return binary() }
        // Work on the validated bytes: collapse blanks, refuse control characters, count characters (scalars) by
        // their lead bytes.
        var out: [UInt8] = []
        out.reserveCapacity(min(head.count, limit * 4) + 3)
        var count = 0
        var pendingSpace = false
        var cut = e.payload.count > head.count
        for b in head {
            switch b {
            case 0x09, 0x0A, 0x0D, 0x20:
                pendingSpace = count > 0
                continue
            case 0..<0x20, 0x7F:
                return binary()
            default:
                break
            }
            if b & 0xC0 != 0x80 {  // the first byte of a character
                if count + (pendingSpace ? 1 : 0) >= limit {
                    cut = true
                    break
                }
                if pendingSpace {
                    out.append(0x20)
                    count += 1
                    pendingSpace = false
                }
                count += 1
            }
            out.append(b)
        }
        if cut {
            // Make room for the ellipsis so the preview never exceeds `limit` characters.
            while count >= limit, !out.isEmpty {
                while let last = out.last, last & 0xC0 == 0x80 { out.removeLast() }
                out.removeLast()
                count -= 1
            }
            out += "…".utf8
        }
        let result = String(decoding: out, as: UTF8.self)
        return (result, true)
    }
}
