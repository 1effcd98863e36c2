import ChorusProtocol
#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock milliseconds since the Unix epoch (event times, deadlines, leases: all stored, so wall clock).
@inline(__always)
func nowMilliseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
}

/// Monotonic nanoseconds, for durations measured inside the broker (the metrics' histograms).
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// SplitMix64: fast, good-enough randomness for lease tokens and event ids (not for secrets).
/// Seeded from the system generator, so tokens differ across broker restarts.
struct FastRandom {
    private var source: SplitMix64

    init() {
        var system = SystemRandomNumberGenerator()
        source = SplitMix64(seed: system.next())
    }

    mutating func next() -> UInt64 { source.next() }

    /// A non-zero token (0 means "no delivery in flight").
    mutating func token() -> UInt64 {
        var t = next()
        while t == 0 { t = next() }
        return t
    }
}
