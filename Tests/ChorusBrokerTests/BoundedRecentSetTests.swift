@testable import ChorusBroker
import Testing

@Suite("BoundedRecentSet")
struct BoundedRecentSetTests {
    @Test func remembersUpToCapacity() {
        var set = BoundedRecentSet<Int>(capacity: 3)
        for n in 1...3 { set.insert(n) }
        #expect(set.count == 3)
        #expect(set.contains(1) && set.contains(2) && set.contains(3))
    }

    @Test func forgetsTheOldestFirst() {
        var set = BoundedRecentSet<Int>(capacity: 3)
        for n in 1...5 { set.insert(n) }
        #expect(set.count == 3)
        #expect(!set.contains(1))
        #expect(!set.contains(2))
        #expect(set.contains(3) && set.contains(4) && set.contains(5))
    }

    @Test func aRepeatedMemberTakesNoSecondSlot() {
        var set = BoundedRecentSet<Int>(capacity: 2)
        set.insert(1)
        set.insert(1)
        set.insert(2)
        #expect(set.count == 2)
        #expect(set.contains(1) && set.contains(2))
        set.insert(3)  // 1 is the oldest
        #expect(!set.contains(1))
        #expect(set.contains(2) && set.contains(3))
    }

    @Test func staysBoundedOverManyInserts() {
        var set = BoundedRecentSet<Int>(capacity: 100)
        for n in 0..<10_000 { set.insert(n) }
        #expect(set.count == 100)
        #expect(set.contains(9_999) && set.contains(9_900) && !set.contains(9_899))
    }
}
