@testable import ChorusBroker
import Testing

@Suite("FirstDeliveries: a group's first deliveries in flight")
struct FirstDeliveriesTests {
    @Test func appendsInLogOrderAndListsAscending() {
        var f = FirstDeliveries()
        let added = [f.insert(3), f.insert(7), f.insert(8)]
        #expect(added == [true, true, true])
        #expect(f.ascending == [3, 7, 8])
        #expect(f.count == 3)
        #expect(f.contains(7) && !f.contains(5))
    }

    @Test func insertingTwiceOrRemovingWhatIsNotThereChangesNothing() {
        var f = FirstDeliveries()
        f.insert(3)
        let again = f.insert(3)
        let absent = f.remove(4)
        #expect(!again && !absent)
        #expect(f.ascending == [3] && f.count == 1)
    }

    @Test func removingFromTheMiddleTheFrontAndTheEnd() {
        var f = FirstDeliveries()
        for s: UInt64 in [1, 2, 3, 4, 5] { f.insert(s) }
        let middle = f.remove(3)
        #expect(middle && f.ascending == [1, 2, 4, 5])
        let front = f.remove(1)
        #expect(front && f.ascending == [2, 4, 5])
        let end = f.remove(5)
        #expect(end && f.ascending == [2, 4])
        #expect(!f.contains(3) && !f.contains(1) && f.contains(2))
        let rest = [f.remove(2), f.remove(4)]
        #expect(rest == [true, true] && f.ascending == [] && f.count == 0)
        // Empty again: appending starts over.
        let fresh = f.insert(9)
        #expect(fresh && f.ascending == [9])
    }

    @Test func aSettledSeqCanComeBackAndAnOutOfOrderOneGoesInPlace() {
        var f = FirstDeliveries()
        for s: UInt64 in [10, 20, 30] { f.insert(s) }
        f.remove(20)
        let back = f.insert(20)
        let early = f.insert(15)
        #expect(back && early)
        #expect(f.ascending == [10, 15, 20, 30])
        #expect(f.count == 4)
    }

    /// Against a Set, over many random operations shaped like a group's (appends in order, settles anywhere).
    @Test(arguments: [1, 2, 3, 4])
    func behavesLikeASet(seed: UInt64) {
        var random = SplitMixForTests(seed: seed)
        var f = FirstDeliveries()
        var model: Set<UInt64> = []
        var next: UInt64 = 1
        for _ in 0..<20_000 {
            if model.isEmpty || random.next() % 3 != 0 {
                next += 1 + random.next() % 3
                let inserted = f.insert(next)
                #expect(inserted == model.insert(next).inserted)
            } else {
                let victim = random.next() % 4 == 0 ? next + 1 : model.randomElement(using: &random)!
                let removed = f.remove(victim)
                #expect(removed == (model.remove(victim) != nil))
            }
            #expect(f.count == model.count)
        }
        #expect(f.ascending == model.sorted())
    }
}

/// A small deterministic generator, so a failure can be replayed.
struct SplitMixForTests: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
