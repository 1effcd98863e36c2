/// The sequence numbers of a group's first deliveries in flight (`groups.in_flight`), ascending.
///
/// WHY not a `Set`: the whole list is written at every commit that changes it, and sorting a set of a few
/// thousand seqs per commit per group cost more than the pending rows it replaces. First deliveries are made in
/// log order (a group's cursor only moves forward), so adding is an append and the array stays sorted; settling
/// one marks it, and marked ones are dropped from the front as they reach it, or all at once when they are more
/// than half the array. Every operation is O(log n) or amortised O(1); `ascending` is O(n) with no sorting.
struct FirstDeliveries: Equatable {
    private var seqs: [UInt64] = []
    private var settled: [Bool] = []
    private var head = 0
    private var holes = 0
    /// How many are in flight.
    private(set) var count = 0

    /// Adds `seq`; false if it is already there. An out-of-order seq is inserted in place (slower, but kept right).
    @discardableResult
    mutating func insert(_ seq: UInt64) -> Bool {
        if let last = seqs.last, seq <= last {
            let i = index(of: seq)
            if i < seqs.count && seqs[i] == seq {
                guard settled[i] else { return false }
                settled[i] = false
                holes -= 1
            } else {
                seqs.insert(seq, at: i)
                settled.insert(false, at: i)
            }
        } else {
            seqs.append(seq)
            settled.append(false)
        }
        count += 1
        return true
    }

    /// Removes `seq`; false if it was not there.
    @discardableResult
    mutating func remove(_ seq: UInt64) -> Bool {
        let i = index(of: seq)
        guard i < seqs.count, seqs[i] == seq, !settled[i] else { return false }
        settled[i] = true
        holes += 1
        count -= 1
        while head < seqs.count && settled[head] {
            head += 1
            holes -= 1
        }
        if count == 0 {
            seqs.removeAll(keepingCapacity: true)
            settled.removeAll(keepingCapacity: true)
            head = 0
            holes = 0
        } else if head > seqs.count / 2 || holes > count {
            compact()
        }
        return true
    }

    /// Whether `seq` is in flight as a first delivery.
    func contains(_ seq: UInt64) -> Bool {
        let i = index(of: seq)
        return i < seqs.count && seqs[i] == seq && !settled[i]
    }

    /// Every seq in flight, ascending.
    var ascending: [UInt64] {
        var out: [UInt64] = []
        out.reserveCapacity(count)
        for i in head..<seqs.count where !settled[i] { out.append(seqs[i]) }
        return out
    }

    /// The first index at or after `head` whose seq is at least `seq` (binary search: seqs stay sorted).
    private func index(of seq: UInt64) -> Int {
        var low = head
        var high = seqs.count
        while low < high {
            let mid = (low + high) / 2
            if seqs[mid] < seq { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private mutating func compact() {
        let live = ascending
        seqs = live
        settled = [Bool](repeating: false, count: live.count)
        head = 0
        holes = 0
    }
}
