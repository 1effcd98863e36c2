/// Identifies one join: the join's name and the correlation id of the event that opened it.
///
/// Its two strings are hashed once, when the key is made. A join's key is hashed about ten times over its life
/// (open joins, the closes not yet committed, its timers), and hashing both strings each time was a visible
/// share of the broker thread. The hash comes from the standard library's `Hasher`, seeded per process, so
/// correlation ids chosen to collide still cannot turn the map of open joins into a list.
struct JoinKey: Hashable {
    let name: String
    let correlation: String
    private let hashOfStrings: Int

    init(name: String, correlation: String) {
        self.name = name
        self.correlation = correlation
        var hasher = Hasher()
        hasher.combine(name)
        hasher.combine(correlation)
        hashOfStrings = hasher.finalize()
    }

    static func == (a: JoinKey, b: JoinKey) -> Bool {
        a.hashOfStrings == b.hashOfStrings && a.correlation == b.correlation && a.name == b.name
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hashOfStrings) }
}
