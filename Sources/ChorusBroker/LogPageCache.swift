import ChorusStore
/// Pages of the log read back from the store lately, shared by every reader in the broker.
///
/// WHY. When consumers fall behind the in-memory window, each group used to read its own pages, so three agent
/// groups on one request topic read every page three times, and a join closing for an old request read that
/// request back once more. Pages are aligned (events `k * size ..< (k + 1) * size`), so groups at nearby cursors
/// share them. Only full pages are kept: the newest, partly written page changes as events arrive. Bounded by
/// page count and by payload bytes (oldest page out first).
struct LogPageCache {
    let pageSize: Int
    let maxPages: Int
    let maxBytes: Int
    private var pages: [UInt64: [LogEntry]] = [:]
    private var order: [UInt64] = []
    private(set) var bytes = 0

    init(pageSize: Int = 256, maxPages: Int = 32, maxBytes: Int = 32 * 1_048_576) {
        self.pageSize = pageSize
        self.maxPages = maxPages
        self.maxBytes = maxBytes
    }

    var pageCount: Int { pages.count }

    /// The first sequence number of the page that holds `seq`.
    func pageStart(_ seq: UInt64) -> UInt64 { seq - seq % UInt64(pageSize) }

    /// The cached page that holds `seq`, if any.
    func page(containing seq: UInt64) -> [LogEntry]? { pages[pageStart(seq)] }

    /// The event `seq`, if its page is cached.
    func entry(_ seq: UInt64) -> LogEntry? {
        guard let page = page(containing: seq) else { return nil }
        let index = Int(seq - pageStart(seq))
        return index < page.count && page[index].seq == seq ? page[index] : nil
    }

    /// Keeps `entries`, read from the store starting at `start` (a page start), when they are the whole page.
    mutating func insert(_ entries: [LogEntry], start: UInt64) {
        guard start % UInt64(pageSize) == 0, entries.count == pageSize, entries.first?.seq == start,
            entries.last?.seq == start + UInt64(pageSize) - 1, pages[start] == nil
        else { return }
        let size = entries.reduce(0) { $0 + $1.payloadCount }
        guard size <= maxBytes else { return }
        while !order.isEmpty && (pages.count >= maxPages || bytes + size > maxBytes) { evictOldest() }
        pages[start] = entries
        order.append(start)
        bytes += size
    }

    /// Forgets every page (after retention removed events).
    mutating func removeAll() {
        pages.removeAll()
        order.removeAll()
        bytes = 0
    }

    private mutating func evictOldest() {
        let start = order.removeFirst()
        if let page = pages.removeValue(forKey: start) {
            bytes -= page.reduce(0) { $0 + $1.payloadCount }
        }
    }
}
