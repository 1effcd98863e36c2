/// A set that remembers only its newest `capacity` members: inserting one more forgets the oldest.
///
/// WHY. The broker keeps joins closed lately so that a late part needs no store lookup. An array trimmed with
/// `removeFirst` moved the whole array on every close once full; a ring of slots forgets the oldest in O(1).
struct BoundedRecentSet<Element: Hashable> {
    let capacity: Int
    private var members: Set<Element> = []
    private var ring: [Element?]
    private var next = 0

    init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        ring = Array(repeating: nil, count: capacity)
    }

    var count: Int { members.count }

    func contains(_ element: Element) -> Bool { members.contains(element) }

    /// Adds `element` as the newest member (a member already present is left where it is).
    mutating func insert(_ element: Element) {
        guard members.insert(element).inserted else { return }
        if let oldest = ring[next] { members.remove(oldest) }
        ring[next] = element
        next = (next + 1) % capacity
    }
}
