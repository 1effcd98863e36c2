/// A set of sequence numbers written as text, for the `groups.in_flight` column: ascending ranges and single
/// numbers joined by commas, `101-180,182,190-250`. First deliveries go out in log order and are mostly settled
/// in order, so the deliveries a group has in flight are a few runs and the text stays short whatever the credit.
///
/// Text rather than a binary encoding so an operator can read it with the `sqlite3` shell (docs/STORAGE.md).
public enum SequenceRanges {
    /// The text for `seqs` (any order, duplicates ignored); empty for none.
    public static func encode<S: Sequence>(_ seqs: S) -> String where S.Element == UInt64 {
        let sorted = seqs.sorted()
        var text = ""
        var index = 0
        while index < sorted.count {
            let start = sorted[index]
            var end = start
            index += 1
            while index < sorted.count, sorted[index] <= end &+ 1 {
                end = sorted[index]
                index += 1
            }
            if !text.isEmpty { text += "," }
            text += end == start ? String(start) : "\(start)-\(end)"
        }
        return text
    }

    /// The numbers `text` names, ascending; nil when it is not what `encode` writes (a damaged or hand-edited
    /// row) or names more than `limit` numbers.
    public static func decode(_ text: String, limit: Int = 10_000_000) -> [UInt64]? {
        var out: [UInt64] = []
        guard !text.isEmpty else { return out }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            guard bounds.count == 1 || bounds.count == 2,
                let start = UInt64(bounds[0]), let end = bounds.count == 2 ? UInt64(bounds[1]) : start,
                start <= end, out.last.map({ $0 < start }) ?? true,
                end - start < UInt64(limit - out.count)
            else { return nil }
            out.append(contentsOf: start...end)
        }
        return out
    }
}
