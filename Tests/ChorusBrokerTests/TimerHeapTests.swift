@testable import ChorusBroker
import Testing

@Suite("TimerHeap")
struct TimerHeapTests {
    @Test func emptyHeap() {
        var heap = TimerHeap()
        #expect(heap.count == 0)
        #expect(heap.nextDue == nil)
        #expect(heap.popDue(.max) == nil)
    }

    @Test func popDueReturnsNothingBeforeTheEarliestTimer() {
        var heap = TimerHeap()
        heap.push(100, .retry(groupID: 1, seq: 1))
        #expect(heap.popDue(99) == nil)
        #expect(heap.count == 1)
        #expect(heap.nextDue == 100)
        let entry = heap.popDue(100)
        #expect(entry?.due == 100)
        #expect(entry?.kind == .retry(groupID: 1, seq: 1))
        #expect(heap.count == 0)
    }

    @Test func popsInDueOrderWhateverThePushOrder() {
        var heap = TimerHeap()
        // A fixed pseudo-random order (LCG), with repeats.
        var x: UInt64 = 12345
        var dues: [Int64] = []
        for i in 0..<500 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let due = Int64(x >> 40) % 1000
            dues.append(due)
            heap.push(due, .lease(groupID: 1, seq: UInt64(i), token: x))
        }
        #expect(heap.count == 500)
        #expect(heap.nextDue == dues.min())
        var popped: [Int64] = []
        while let e = heap.popDue(.max) { popped.append(e.due) }
        #expect(popped == dues.sorted())
        #expect(heap.count == 0)
    }

    @Test func popDueStopsAtNow() {
        var heap = TimerHeap()
        for due: Int64 in [50, 10, 40, 20, 30, 60] { heap.push(due, .retry(groupID: 1, seq: UInt64(due))) }
        var popped: [Int64] = []
        while let e = heap.popDue(35) { popped.append(e.due) }
        #expect(popped == [10, 20, 30])
        #expect(heap.count == 3)
        #expect(heap.nextDue == 40)
        while let e = heap.popDue(60) { popped.append(e.due) }
        #expect(popped == [10, 20, 30, 40, 50, 60])
    }

    @Test func entriesKeepTheirKind() {
        var heap = TimerHeap()
        heap.push(2, .lease(groupID: 7, seq: 3, token: 0xFF))
        heap.push(1, .retry(groupID: 8, seq: 4))
        #expect(heap.popDue(5)?.kind == .retry(groupID: 8, seq: 4))
        #expect(heap.popDue(5)?.kind == .lease(groupID: 7, seq: 3, token: 0xFF))
    }

    @Test func interleavedPushAndPop() {
        var heap = TimerHeap()
        heap.push(30, .retry(groupID: 1, seq: 30))
        heap.push(10, .retry(groupID: 1, seq: 10))
        #expect(heap.popDue(100)?.due == 10)
        heap.push(5, .retry(groupID: 1, seq: 5))
        heap.push(20, .retry(groupID: 1, seq: 20))
        #expect(heap.popDue(100)?.due == 5)
        #expect(heap.popDue(100)?.due == 20)
        #expect(heap.popDue(100)?.due == 30)
        #expect(heap.popDue(100) == nil)
    }

    @Test func negativeAndExtremeDueTimes() {
        var heap = TimerHeap()
        heap.push(.max, .retry(groupID: 1, seq: 1))
        heap.push(.min, .retry(groupID: 1, seq: 2))
        heap.push(0, .retry(groupID: 1, seq: 3))
        #expect(heap.popDue(0)?.due == .min)
        #expect(heap.popDue(0)?.due == 0)
        #expect(heap.popDue(.max - 1) == nil)
        #expect(heap.popDue(.max)?.due == .max)
    }

    /// A sweep keeps exactly the live timers and leaves a valid heap: they still pop in due order.
    @Test func aSweepKeepsTheLiveTimersInDueOrder() {
        var heap = TimerHeap()
        var x: UInt64 = 987_654
        var live: [Int64] = []
        for seq in 0..<1000 {
            x = x &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let due = Int64(x >> 44)
            heap.push(due, .retry(groupID: 1, seq: UInt64(seq)))
            if seq % 3 == 0 { live.append(due) }
        }
        heap.removeAll { entry in
            guard case .retry(_, let seq) = entry.kind else { return false }
            return seq % 3 == 0
        }
        #expect(heap.count == live.count)
        var popped: [Int64] = []
        while let e = heap.popDue(.max) { popped.append(e.due) }
        #expect(popped == live.sorted())
    }
}
