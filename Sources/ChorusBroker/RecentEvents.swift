import ChorusProtocol
import ChorusStore

/// The newest committed events, kept in memory so groups that keep up never read the log back.
///
/// Bounded by count and by payload bytes; a group further behind reads from the store in pages instead.
struct RecentEvents {
    private var buffer: [LogEntry?]
    private var head = 0  // index of the oldest
    private(set) var count = 0
    private(set) var bytes = 0
    let maxBytes: Int

    init(capacity: Int, maxBytes: Int) {
        buffer = Array(repeating: nil, count: max(capacity, 1))
        self.maxBytes = maxBytes
    }

    /// The lowest sequence number held, if any.
    var firstSeq: UInt64? { count == 0 ? nil : buffer[head]?.seq }

    mutating func append(_ event: Event) { append(LogEntry(event)) }

    mutating func append(_ event: LogEntry) {
        if buffer.count == 0 { return }
        // Sequence numbers are contiguous here: if one is skipped (never the case today), start over.
        if count > 0, let last = buffer[(head + count - 1) % buffer.count], last.seq + 1 != event.seq {
            removeAll()
        }
        if count == buffer.count { dropOldest() }
        buffer[(head + count) % buffer.count] = event
        count += 1
        bytes += event.payloadCount
        while bytes > maxBytes && count > 1 { dropOldest() }
    }

    private mutating func dropOldest() {
        bytes -= buffer[head]?.payloadCount ?? 0
        buffer[head] = nil
        head = (head + 1) % buffer.count
        count -= 1
    }

    mutating func removeAll() {
        while count > 0 { dropOldest() }
    }

    /// The event with this sequence number, if held.
    func event(_ seq: UInt64) -> Event? { entry(seq)?.event }

    /// The entry with this sequence number, if held.
    func entry(_ seq: UInt64) -> LogEntry? {
        guard let first = firstSeq, seq >= first, seq < first + UInt64(count) else { return nil }
        return buffer[(head + Int(seq - first)) % buffer.count]
    }
}
