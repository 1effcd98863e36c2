import ChorusProtocol

/// A small deterministic random source (SplitMix64) seeded from a digest.
///
/// Generators must give byte-identical output for the same prompt on every run and platform, which
/// `SystemRandomNumberGenerator` cannot, and the standard library's `random(in:using:)` algorithms are not
/// promised to stay the same across Swift releases; so the helpers here derive values with plain arithmetic.
struct SeededRandom: RandomNumberGenerator {
    private var source: SplitMix64

    /// Seeds from the first eight bytes of `digest` (a SHA-256 digest in practice), little-endian.
    init(digest: [UInt8]) {
        var s: UInt64 = 0
        for (i, b) in digest.prefix(8).enumerated() { s |= UInt64(b) << UInt64(8 * i) }
        source = SplitMix64(seed: s)
    }

    /// The next 64 random bits.
    mutating func next() -> UInt64 { source.next() }

    /// A uniform value in [0, 1) with 53 bits of precision.
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A uniform value in `range`.
    mutating func value(in range: ClosedRange<Double>) -> Double {
        range.lowerBound + (range.upperBound - range.lowerBound) * unit()
    }

    /// A uniform integer in 0..<`bound`. The modulo bias is below 2⁻⁵⁰ for the small bounds used here.
    mutating func index(_ bound: Int) -> Int {
        Int(next() % UInt64(bound))
    }

    /// A uniformly chosen element of a non-empty array.
    mutating func pick<T>(_ items: [T]) -> T {
        items[index(items.count)]
    }
}
