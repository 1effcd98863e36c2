/// A binary min-heap of timers. Cancelled timers are not removed; they are ignored when they fire (each timer
/// carries the token of the attempt it was set for), which keeps cancel O(1).
///
/// Bounded all the same: a lease timer outlives its ack by the whole ack timeout (30 minutes by default), so at
/// 100 k deliveries a second the dead ones would grow by gigabytes. The broker calls `removeAll(keepingOnly:)`
/// whenever the heap has doubled since the last sweep (`Broker.sweepTimersIfDue`): O(n) then, amortised O(1)
/// per timer, and the heap stays within twice the timers live at the last sweep (or a floor).
struct TimerHeap {
    enum Kind: Equatable {
        /// The lease of `token` on `seq` in group `groupID` may have expired.
        case lease(groupID: Int64, seq: UInt64, token: UInt64)
        /// A waiting delivery becomes due.
        case retry(groupID: Int64, seq: UInt64)
        /// A join's overall deadline.
        case join(JoinKey)
        /// A join part's own deadline (`part` indexes the join's parts).
        case joinPart(JoinKey, part: Int)
        /// An AWAIT request's timeout.
        case waiter(id: Int)
    }

    struct Entry {
        let due: Int64
        let kind: Kind
    }

    private var items: [Entry] = []

    var count: Int { items.count }
    var nextDue: Int64? { items.first?.due }

    mutating func push(_ due: Int64, _ kind: Kind) {
        items.append(Entry(due: due, kind: kind))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent].due <= items[i].due { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    /// Removes and returns the earliest timer if it is due at `now`.
    mutating func popDue(_ now: Int64) -> Entry? {
        guard let first = items.first, first.due <= now else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            siftDown(0)
        }
        return first
    }

    /// Drops every timer `isLive` rejects (one that would do nothing when it fired) and rebuilds the heap.
    mutating func removeAll(keepingOnly isLive: (Entry) -> Bool) {
        items.removeAll { !isLive($0) }
        if items.count > 1 {
            for i in stride(from: items.count / 2 - 1, through: 0, by: -1) { siftDown(i) }
        }
    }

    private mutating func siftDown(_ start: Int) {
        var i = start
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count && items[l].due < items[m].due { m = l }
            if r < items.count && items[r].due < items[m].due { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
    }
}
