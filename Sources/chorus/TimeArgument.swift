#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A point in time on the command line (`--since`, `--until`), as milliseconds since the Unix epoch.
///
/// Three forms:
/// - a duration ago: one or more NUMBER+UNIT with units `ms`, `s`, `m`, `h`, `d`, `w` (`10m`, `2h`, `1h30m`);
/// - Unix milliseconds: digits only (`1767225601200`), the unit of every time in the log;
/// - ISO 8601: `2026-01-05T14:03:00Z`, `2026-01-05T14:03:00.250+01:00`, `2026-01-05 14:03` (no zone: local
///   time), `2026-01-05` (local midnight).
enum TimeArgument {
    /// A number of milliseconds below this (2001-09-09) is almost certainly seconds given by mistake.
    static let smallestMilliseconds: Int64 = 1_000_000_000_000

    /// Parses `text` relative to `now` (ms) or throws a message that says what is accepted.
    static func parse(_ text: String, now: Int64) throws(TimeArgumentError) -> Int64 {
        let t = text.trimmingSpaces
        guard !t.isEmpty else { throw TimeArgumentError("an empty time") }
        if t.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let ms = Int64(t) else { throw TimeArgumentError("'\(t)' is too large") }
            guard ms >= smallestMilliseconds else {
                if t.count >= 9 {
                    throw TimeArgumentError("'\(t)' looks like seconds; give Unix time in milliseconds (\(t)000)")
                }
                throw TimeArgumentError("'\(t)' needs a unit for a duration ago (\(t)s, \(t)m, \(t)h, \(t)d)")
            }
            return ms
        }
        if let ago = duration(t) { return now - ago }
        if let ms = iso8601(t) { return ms }
        throw TimeArgumentError(
            "'\(t)' is not a time: give a duration ago (10m, 2h, 1d, 1h30m), Unix milliseconds, "
                + "or ISO 8601 (2026-01-05T14:03:00Z)"
        )
    }

    /// `1h30m` → 5 400 000; nil when the text is not a sequence of NUMBER+UNIT.
    static func duration(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number: Int64?
        var bytes = Array(text.utf8)[...]
        guard let first = bytes.first, first >= 0x30 && first <= 0x39 else { return nil }
        while let b = bytes.first {
            if b >= 0x30 && b <= 0x39 {
                let (m, o1) = (number ?? 0).multipliedReportingOverflow(by: 10)
                let (n, o2) = m.addingReportingOverflow(Int64(b - 0x30))
                guard !o1, !o2 else { return nil }
                number = n
                bytes = bytes.dropFirst()
                continue
            }
            guard let n = number else { return nil }
            let unit: Int64
            if bytes.starts(with: "ms".utf8) {
                unit = 1
                bytes = bytes.dropFirst(2)
            } else {
                switch b {
                case UInt8(ascii: "s"): unit = 1000
                case UInt8(ascii: "m"): unit = 60_000
                case UInt8(ascii: "h"): unit = 3_600_000
                case UInt8(ascii: "d"): unit = 86_400_000
                case UInt8(ascii: "w"): unit = 604_800_000
                default: return nil
                }
                bytes = bytes.dropFirst()
            }
            let (part, o1) = n.multipliedReportingOverflow(by: unit)
            let (sum, o2) = total.addingReportingOverflow(part)
            guard !o1, !o2 else { return nil }
            total = sum
            number = nil
        }
        return number == nil ? total : nil  // a trailing number without a unit is not a duration
    }

    /// ISO 8601 date, or date and time with an optional zone; without a zone, local time. Nil when malformed.
    static func iso8601(_ text: String) -> Int64? {
        var s = Array(text.utf8)[...]
        func digits(_ n: Int) -> Int? {
            guard s.count >= n, s.prefix(n).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            let v = s.prefix(n).reduce(0) { $0 * 10 + Int($1 - 0x30) }
            s = s.dropFirst(n)
            return v
        }
        func take(_ c: Character) -> Bool {
            guard s.first == c.asciiValue else { return false }
            s = s.dropFirst()
            return true
        }
        guard let year = digits(4), take("-"), let month = digits(2), take("-"), let day = digits(2) else { return nil }
        var hour = 0
        var minute = 0
        var second = 0
        var millisecond = 0
        var offsetSeconds: Int?
        if !s.isEmpty {
            guard take("T") || take("t") || take(" "), let h = digits(2), take(":"), let m = digits(2) else {
                return nil
            }
            hour = h
            minute = m
            if take(":") {
                guard let sec = digits(2) else { return nil }
                second = sec
                if take(".") || take(",") {
                    var scale = 100
                    var count = 0
                    while let b = s.first, b >= 0x30 && b <= 0x39 {
                        millisecond += Int(b - 0x30) * scale
                        scale /= 10
                        count += 1
                        s = s.dropFirst()
                    }
                    guard count > 0 else { return nil }
                }
            }
            if take("Z") || take("z") {
                offsetSeconds = 0
            } else if let sign = s.first, sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                s = s.dropFirst()
                guard let oh = digits(2) else { return nil }
                _ = take(":")
                let om = s.isEmpty ? 0 : digits(2)
                guard let om, oh <= 23, om <= 59 else { return nil }
                offsetSeconds = (sign == UInt8(ascii: "+") ? 1 : -1) * (oh * 3600 + om * 60)
            }
            guard s.isEmpty else { return nil }
        }
        guard (1...12).contains(month), (1...31).contains(day), hour <= 23, minute <= 59, second <= 60 else {
            return nil
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        parts.tm_isdst = -1
        let seconds: Int
        if let offsetSeconds {
            seconds = timegm(&parts) - offsetSeconds
        } else {
            seconds = mktime(&parts)
        }
        // Both normalise out-of-range days (February 30 becomes March 2): refuse those.
        guard parts.tm_mday == Int32(day), parts.tm_mon == Int32(month - 1) else { return nil }
        return Int64(seconds) * 1000 + Int64(millisecond)
    }
}

/// A time option that could not be read.
struct TimeArgumentError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s = s.dropFirst() }
        while s.last == " " { s = s.dropLast() }
        return String(s)
    }
}
