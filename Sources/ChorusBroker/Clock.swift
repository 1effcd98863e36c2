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

/// SplitMix64: fast, good-enough randomness for lease tokens and event ids (not for secrets).
/// Seeded from the system generator, so tokens differ across broker restarts.
struct FastRandom {
    private var state: UInt64

    init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A non-zero token (0 means "no delivery in flight").
    mutating func token() -> UInt64 {
        var t = next()
        while t == 0 { t = next() }
        return t
    }
}
