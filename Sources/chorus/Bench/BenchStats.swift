import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Small statistics for the benchmark: medians over runs and percentiles over samples.
enum BenchStats {
    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        guard !s.isEmpty else { return 0 }
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return 0 }
        let index = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return sorted[index]
    }

    /// Monotonic nanoseconds.
    static func nanos() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Wall-clock microseconds (shared between processes for latency stamps).
    static func wallMicros() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    /// Resident memory of a process in MiB (VmRSS) and its peak (VmHWM), from /proc.
    static func memory(pid: Int32) -> (rss: Double, peak: Double) {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return (0, 0) }
        func field(_ name: String) -> Double {
            for line in text.split(separator: "\n") where line.hasPrefix(name) {
                let kb = line.split(separator: " ").compactMap { Double($0) }.first ?? 0
                return kb / 1024
            }
            return 0
        }
        return (field("VmRSS:"), field("VmHWM:"))
    }
}

/// Runs `body` on a new thread and waits for its result: each benchmark socket lives on one thread.
func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) -> @Sendable () throws -> T {
    let box = ResultBox<T>()
    let thread = Thread {
        box.set(Result { try body() })
    }
    thread.stackSize = 8 << 20
    thread.start()
    return { try box.wait().get() }
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    // Guarded by `condition`; written once by the worker thread, read by the waiter.
    private var result: Result<T, any Error>?
    private let condition = NSCondition()

    func set(_ r: Result<T, any Error>) {
        condition.lock()
        result = r
        condition.signal()
        condition.unlock()
    }

    func wait() -> Result<T, any Error> {
        condition.lock()
        while result == nil { condition.wait() }
        let r = result!
        condition.unlock()
        return r
    }
}
