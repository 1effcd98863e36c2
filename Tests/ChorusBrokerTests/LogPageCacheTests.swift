import ChorusStore
@testable import ChorusBroker
import ChorusProtocol
import Testing

@Suite("LogPageCache")
struct LogPageCacheTests {
    func page(_ start: UInt64, count: Int, payload: Int = 10) -> [LogEntry] {
        (0..<UInt64(count)).map { LogEntry(Event(seq: start + $0, id: "e\(start + $0)", topic: "t", payload: Array(repeating: 1, count: payload))) }
    }

    @Test func alignedPagesHoldTheirEvents() {
        var cache = LogPageCache(pageSize: 4, maxPages: 8, maxBytes: 10_000)
        #expect(cache.pageStart(0) == 0 && cache.pageStart(3) == 0 && cache.pageStart(4) == 4 && cache.pageStart(9) == 8)
        cache.insert(page(8, count: 4), start: 8)
        #expect(cache.entry(8)?.event.id == "e8")
        #expect(cache.entry(11)?.event.id == "e11")
        #expect(cache.entry(7) == nil && cache.entry(12) == nil)
        #expect(cache.page(containing: 10)?.count == 4)
    }

    @Test func shortOrMisalignedPagesAreNotKept() {
        var cache = LogPageCache(pageSize: 4, maxPages: 8, maxBytes: 10_000)
        cache.insert(page(8, count: 3), start: 8)  // the tail of the log: still growing
        cache.insert(page(5, count: 4), start: 5)  // not a page start
        cache.insert(page(13, count: 4), start: 12)  // a gap (retention) at its start
        #expect(cache.pageCount == 0)
        #expect(cache.entry(8) == nil)
    }

    @Test func boundedByPageCountOldestOut() {
        var cache = LogPageCache(pageSize: 2, maxPages: 3, maxBytes: 10_000)
        for start in stride(from: UInt64(0), to: 10, by: 2) { cache.insert(page(start, count: 2), start: start) }
        #expect(cache.pageCount == 3)
        #expect(cache.entry(0) == nil && cache.entry(2) == nil)
        #expect(cache.entry(4) != nil && cache.entry(9) != nil)
    }

    @Test func boundedByBytes() {
        var cache = LogPageCache(pageSize: 2, maxPages: 100, maxBytes: 100)
        cache.insert(page(0, count: 2, payload: 30), start: 0)  // 60 bytes
        cache.insert(page(2, count: 2, payload: 30), start: 2)  // 60 more: the first goes
        #expect(cache.bytes == 60)
        #expect(cache.entry(0) == nil && cache.entry(2) != nil)
        cache.insert(page(4, count: 2, payload: 60), start: 4)  // larger than the whole budget: not kept
        #expect(cache.entry(4) == nil)
        #expect(cache.bytes == 60)
    }

    @Test func removeAllForgetsEverything() {
        var cache = LogPageCache(pageSize: 2, maxPages: 4, maxBytes: 1000)
        cache.insert(page(0, count: 2), start: 0)
        cache.removeAll()
        #expect(cache.pageCount == 0 && cache.bytes == 0 && cache.entry(1) == nil)
    }
}
