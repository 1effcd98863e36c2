/// Identifies one join: the join's name and the correlation id of the event that opened it.
///
/// Equal when both strings have the same UTF-8 bytes, as the log's keys are (SQLite compares text byte by byte):
/// Swift's own `==` on strings treats canonically equivalent texts as equal (`"\u{E9}"` and `"e\u{301}"`), which
/// made two correlation ids one join in memory and two rows in the log.
///
/// The bytes are hashed once, when the key is made. A join's key is hashed about ten times over its life (open
/// joins, the closes not yet committed, its timers), and hashing both strings each time was a visible share of
/// the broker thread. The hash comes from the standard library's `Hasher`, seeded per process, so correlation ids
/// chosen to collide still cannot turn the map of open joins into a list.
struct JoinKey: Hashable {
    let name: String
    let correlation: String
    private let hashOfBytes: Int

    init(name: String, correlation: String) {
        self.name = name
        self.correlation = correlation
        var hasher = Hasher()
        Self.combineBytes(of: name, into: &hasher)
        hasher.combine(0xFF as UInt8)  // never in UTF-8: ("ab", "c") and ("a", "bc") hash apart
        Self.combineBytes(of: correlation, into: &hasher)
        hashOfBytes = hasher.finalize()
    }

    static func == (a: JoinKey, b: JoinKey) -> Bool {
        a.hashOfBytes == b.hashOfBytes && a.correlation.utf8.elementsEqual(b.correlation.utf8) && a.name.utf8.elementsEqual(b.name.utf8)
    }

    func hash(into hasher: inout Hasher) { hasher.combine(hashOfBytes) }

    private static func combineBytes(of s: String, into hasher: inout Hasher) {
        var s = s
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
