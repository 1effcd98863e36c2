import Foundation
import TOMLKit

/// Reads a TOML config with errors that name the file, the key and what was expected, and refuses keys it does
/// not know (a typo in a config should fail loudly, not be ignored).
public final class ConfigReader {
    public let file: String
    private let root: TOMLTable
    private var seen: Set<String> = []

    /// Parses `text` (the contents of `file`).
    public init(text: String, file: String) throws(ConfigError) {
        self.file = file
        do {
            root = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(
                file: file, key: "",
                message: "not valid TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigError(file: file, key: "", message: "not valid TOML: \(error)")
        }
    }

    /// Reads and parses a file.
    public convenience init(path: String) throws(ConfigError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, key: "", message: "cannot read the file (does it exist?)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(file: path, key: "", message: "the file is not UTF-8 text")
        }
        try self.init(text: text, file: path)
    }

    private func lookup(_ key: String) -> TOMLValueConvertible? {
        seen.insert(key)
        var table: TOMLTable = root
        let parts = key.split(separator: ".").map(String.init)
        for (i, part) in parts.enumerated() {
            guard let value = table[part] else { return nil }
            if i == parts.count - 1 { return value }
            guard let next = value.table else { return nil }
            table = next
        }
        return nil
    }

    private func fail(_ key: String, _ expected: String, _ value: TOMLValueConvertible) -> ConfigError {
        ConfigError(file: file, key: key, message: "expected \(expected), got \(value.debugDescription)")
    }

    public func string(_ key: String) throws(ConfigError) -> String? {
        guard let v = lookup(key) else { return nil }
        guard let s = v.string else { throw fail(key, "a string", v) }
        return s
    }

    public func int(_ key: String, range: ClosedRange<Int>) throws(ConfigError) -> Int? {
        guard let v = lookup(key) else { return nil }
        guard let i = v.int else { throw fail(key, "an integer", v) }
        guard range.contains(i) else {
            throw ConfigError(file: file, key: key, message: "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(i)")
        }
        return i
    }

    public func bool(_ key: String) throws(ConfigError) -> Bool? {
        guard let v = lookup(key) else { return nil }
        guard let b = v.bool else { throw fail(key, "true or false", v) }
        return b
    }

    public func stringArray(_ key: String) throws(ConfigError) -> [String]? {
        guard let v = lookup(key) else { return nil }
        guard let array = v.array else { throw fail(key, "an array of strings", v) }
        var out: [String] = []
        for item in array {
            guard let s = item.string else { throw fail(key, "an array of strings", v) }
            out.append(s)
        }
        return out
    }

    /// A duration: an integer number of milliseconds or a string like `500ms`, `30s`, `5m`, `2h`, `1d`.
    public func milliseconds(_ key: String) throws(ConfigError) -> Int64? {
        guard let v = lookup(key) else { return nil }
        if let i = v.int, i >= 0 { return Int64(i) }
        if let s = v.string, let ms = DurationText.parseMilliseconds(s) { return ms }
        throw fail(key, "a duration such as \"500ms\", \"30s\", \"5m\", \"2h\", \"1d\" or milliseconds", v)
    }

    /// One of a fixed set of strings.
    public func choice(_ key: String, _ choices: [String]) throws(ConfigError) -> String? {
        guard let s = try string(key) else { return nil }
        guard choices.contains(s) else {
            throw ConfigError(file: file, key: key, message: "expected one of \(choices.joined(separator: ", ")), got \"\(s)\"")
        }
        return s
    }

    /// The keys of a sub-table (for `[groups.NAME]` sections), marking the table as known.
    public func tableKeys(_ key: String) throws(ConfigError) -> [String] {
        guard let v = lookup(key) else { return [] }
        guard let t = v.table else { throw fail(key, "a table", v) }
        return t.keys
    }

    /// Throws for the first key in the file that no reader asked for.
    public func rejectUnknownKeys() throws(ConfigError) {
        func walk(_ table: TOMLTable, _ prefix: String) throws(ConfigError) {
            for key in table.keys.sorted() {
                let full = prefix.isEmpty ? key : "\(prefix).\(key)"
                if let sub = table[key]?.table, !seen.contains(full) || seen.contains(where: { $0.hasPrefix(full + ".") }) {
                    if !seen.contains(full) && !seen.contains(where: { $0.hasPrefix(full + ".") }) {
                        throw ConfigError(file: file, key: full, message: "unknown section")
                    }
                    try walk(sub, full)
                } else if !seen.contains(full) {
                    throw ConfigError(file: file, key: full, message: "unknown key")
                }
            }
        }
        try walk(root, "")
    }
}

/// Human durations: `250ms`, `30s`, `5m`, `2h`, `1d`.
public enum DurationText {
    public static func parseMilliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            if let n = Int64(number), n >= 0 {
                let (ms, overflow) = n.multipliedReportingOverflow(by: factor)
                return overflow ? nil : ms
            }
        }
        return nil
    }
}
