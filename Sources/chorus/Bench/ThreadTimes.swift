import Foundation

/// Where a process's threads spent a stretch of time, from the kernel's per-thread scheduler statistics
/// (`/proc/PID/task/TID/schedstat`: nanoseconds on a CPU, nanoseconds runnable but waiting for one).
///
/// WHY. Joins per second on a shared two-core machine moves by a third between runs minutes apart. Two figures
/// say how much of a run was the code and how much the machine: the broker thread's CPU per join (the thread
/// that limits throughput: alone on a core, it allows at most a million over that many microseconds per second),
/// and how long the broker's threads were ready to run but had no CPU to run on.
struct ThreadTimes {
    /// Nanoseconds on a CPU, per thread id.
    var running: [Int32: UInt64] = [:]
    /// Nanoseconds runnable but waiting for a CPU, per thread id.
    var waiting: [Int32: UInt64] = [:]
    /// When the snapshot was taken (monotonic nanoseconds).
    var taken: UInt64 = 0

    /// The threads of `pid` now; empty where /proc has no scheduler statistics (not Linux, or a kernel without them).
    static func snapshot(pid: Int32) -> ThreadTimes {
        var times = ThreadTimes(taken: BenchStats.nanos())
        let tasks = "/proc/\(pid)/task"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tasks)) ?? [] {
            guard let tid = Int32(name),
                let text = try? String(contentsOfFile: "\(tasks)/\(name)/schedstat", encoding: .utf8)
            else { continue }
            let fields = text.split(separator: " ").compactMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            guard fields.count >= 2 else { continue }
            times.running[tid] = fields[0]
            times.waiting[tid] = fields[1]
        }
        return times
    }

    /// Seconds thread `tid` ran between `earlier` and this snapshot (a thread that started since counts from 0).
    func secondsRunning(_ tid: Int32, since earlier: ThreadTimes) -> Double {
        let (now, before) = (running[tid] ?? 0, earlier.running[tid] ?? 0)
        return now >= before ? Double(now - before) / 1e9 : 0
    }

    /// How long all threads together waited for a CPU since `earlier`, as a share of the time between the two.
    func waitingShare(since earlier: ThreadTimes) -> Double {
        // A thread id reused since `earlier` would make a difference wrap: counted as 0, not as a huge wait.
        let waited = waiting.reduce(UInt64(0)) { total, thread in
            let before = earlier.waiting[thread.key] ?? 0
            return total &+ (thread.value >= before ? thread.value - before : 0)
        }
        return taken > earlier.taken ? Double(waited) / Double(taken - earlier.taken) : 0
    }
}
