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

    /// Colours only on a terminal, never when NO_COLOR is set to anything but empty (no-color.org) or TERM is
    /// `dumb`.
    static func colorsWanted() -> Bool {
        guard isatty(1) != 0 else { return false }
        if let noColor = getenv("NO_COLOR"), noColor.pointee != 0 { return false }
        if let term = getenv("TERM"), String(cString: term) == "dumb" { return false }
        return true
    }

    /// The line for `event`.
    func format(_ e: Event) -> String {
        var line = paint(Self.clock(e.time), .dim)
        line += " " + paint(String(e.seq), .bold)
        line += " " + paint(e.topic, e.topic.hasPrefix("$") ? .red : .cyan)
        line += " " + (e.correlation.map { paint(Self.field($0), .yellow) } ?? "-")
        line += " " + (e.producer.map { paint(Self.field($0), .green) } ?? "-")
        let preview = Self.preview(e)
        line += " " + (preview.isText ? preview.text : paint(preview.text, .dim))
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
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(three(Int32(((ms % 1000) + 1000) % 1000)))"
    }

    /// `YYYY-MM-DD` in local time.
    static func date(_ ms: Int64) -> String {
        let parts = localParts(ms)
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
    }

    private static func localParts(_ ms: Int64) -> tm {
        var seconds = time_t(ms >= 0 ? ms / 1000 : (ms - 999) / 1000)
        var parts = tm()
        localtime_r(&seconds, &parts)
        return parts
    }

    private static func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    private static func three(_ v: Int32) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)" }

    /// A value as one field: blanks and control characters become `_`, the empty string is `""`.
    static func field(_ s: String) -> String {
        if s.isEmpty { return "\"\"" }
        guard s.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace }) else { return s }
        return String(String.UnicodeScalarView(s.unicodeScalars.map { $0.value <= 0x20 || $0.value == 0x7F || $0.properties.isWhitespace ? "_" : $0 }))
    }

    /// Content types whose payloads are shown as binary even when their bytes happen to be text.
    static let binaryTypes = ["application/octet-stream", "image/", "audio/", "video/", "application/pdf", "application/zip"]

    /// The payload on one line: its text with blanks collapsed, at most `limit` characters (the last one `…`
    /// when cut), or `<N bytes TYPE>` when it is not UTF-8 text. Reads only the first few hundred bytes.
    static func preview(_ e: Event, limit: Int = previewLength) -> (text: String, isText: Bool) {
        func binary() -> (String, Bool) {
            ("<\(e.payload.count) bytes\(e.contentType.map { " " + field($0) } ?? "")>", false)
        }
        if e.payload.isEmpty { return binary() }
        if let type = e.contentType?.lowercased(), binaryTypes.contains(where: { type.hasPrefix($0) }) { return binary() }
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
        guard let text = decoded else { return binary() }
        var out = String.UnicodeScalarView()
        var count = 0
        var pendingSpace = false
        var cut = e.payload.count > head.count
        for scalar in text.unicodeScalars {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D, 0x20:
                pendingSpace = count > 0
                continue
            case 0..<0x20, 0x7F:
                return binary()
            default:
                break
            }
            if count + (pendingSpace ? 1 : 0) >= limit {
                cut = true
                break
            }
            if pendingSpace {
                out.append(" ")
                count += 1
                pendingSpace = false
            }
            out.append(scalar)
            count += 1
        }
        var result = String(out)
        if cut {
            // Make room for the ellipsis so the preview never exceeds `limit` characters.
            while result.unicodeScalars.count >= limit { result.unicodeScalars.removeLast() }
            result += "…"
        }
        return (result, true)
    }
}
