@testable import ChorusBroker
import ChorusProtocol
import Testing

@Suite("RecentEvents")
struct RecentEventsTests {
    func event(_ seq: UInt64, payload: Int = 1) -> Event {
        Event(seq: seq, id: "e\(seq)", topic: "a", payload: Array(repeating: 0x78, count: payload))
    }

    @Test func emptyHoldsNothing() {
        let recent = RecentEvents(capacity: 4, maxBytes: 100)
        #expect(recent.count == 0)
        #expect(recent.bytes == 0)
        #expect(recent.firstSeq == nil)
        #expect(recent.event(0) == nil)
        #expect(recent.event(1) == nil)
    }

    @Test func looksUpHeldEvents() {
        var recent = RecentEvents(capacity: 4, maxBytes: 100)
        for seq in UInt64(10)...12 { recent.append(event(seq)) }
        #expect(recent.count == 3)
        #expect(recent.firstSeq == 10)
        #expect(recent.event(10)?.id == "e10")
        #expect(recent.event(11)?.id == "e11")
        #expect(recent.event(12)?.id == "e12")
        #expect(recent.event(9) == nil)
        #expect(recent.event(13) == nil)
    }

    @Test func boundedByCountDropsOldest() {
        var recent = RecentEvents(capacity: 3, maxBytes: 1000)
        for seq in UInt64(1)...7 { recent.append(event(seq, payload: 2)) }
        #expect(recent.count == 3)
        #expect(recent.bytes == 6)
        #expect(recent.firstSeq == 5)
        #expect(recent.event(4) == nil)
        #expect((5...7).map { recent.event(UInt64($0))?.seq } == [5, 6, 7])
    }

    @Test func boundedByBytesDropsOldest() {
        var recent = RecentEvents(capacity: 100, maxBytes: 10)
        recent.append(event(1, payload: 4))
        recent.append(event(2, payload: 4))
        #expect(recent.count == 2)
        #expect(recent.bytes == 8)
        recent.append(event(3, payload: 4))  // 12 > 10: drop seq 1
        #expect(recent.count == 2)
        #expect(recent.bytes == 8)
        #expect(recent.firstSeq == 2)
        #expect(recent.event(1) == nil)
        recent.append(event(4, payload: 10))  // 18: drop 2 and 3
        #expect(recent.count == 1)
        #expect(recent.bytes == 10)
        #expect(recent.firstSeq == 4)
    }

    @Test func keepsTheNewestEventEvenWhenItAloneExceedsTheByteLimit() {
        var recent = RecentEvents(capacity: 10, maxBytes: 10)
        recent.append(event(1, payload: 3))
        recent.append(event(2, payload: 50))
        #expect(recent.count == 1)
        #expect(recent.firstSeq == 2)
        #expect(recent.bytes == 50)
        #expect(recent.event(2)?.payload.count == 50)
    }

    @Test func wrapsAroundTheRingManyTimes() {
        var recent = RecentEvents(capacity: 5, maxBytes: 1_000_000)
        for seq in UInt64(1)...1003 {
            recent.append(event(seq, payload: Int(seq % 7)))
            #expect(recent.event(seq)?.seq == seq)
        }
        #expect(recent.firstSeq == 999)
        #expect(recent.bytes == (999...1003).map { $0 % 7 }.reduce(0, +))
        for seq in UInt64(999)...1003 { #expect(recent.event(seq)?.id == "e\(seq)") }
        #expect(recent.event(998) == nil)
    }

    @Test func gapInSequenceStartsOver() {
        var recent = RecentEvents(capacity: 10, maxBytes: 100)
        recent.append(event(1))
        recent.append(event(2))
        recent.append(event(5))
        #expect(recent.count == 1)
        #expect(recent.firstSeq == 5)
        #expect(recent.bytes == 1)
        #expect(recent.event(1) == nil)
        #expect(recent.event(5)?.id == "e5")
    }

    @Test func removeAllEmpties() {
        var recent = RecentEvents(capacity: 10, maxBytes: 100)
        for seq in UInt64(1)...4 { recent.append(event(seq, payload: 3)) }
        recent.removeAll()
        #expect(recent.count == 0)
        #expect(recent.bytes == 0)
        #expect(recent.firstSeq == nil)
        #expect(recent.event(2) == nil)
        recent.append(event(9))
        #expect(recent.firstSeq == 9)
    }

    @Test func emptyPayloadsCountOnlyAgainstCapacity() {
        var recent = RecentEvents(capacity: 2, maxBytes: 0)
        recent.append(event(1, payload: 0))
        recent.append(event(2, payload: 0))
        #expect(recent.count == 2)
        recent.append(event(3, payload: 0))
        #expect(recent.count == 2)
        #expect(recent.firstSeq == 2)
    }
}
