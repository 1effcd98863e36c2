import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The process groups of the children `chorus up` runs, so that nothing they started outlives them.
///
/// Foundation starts each child as the leader of a process group of its own, so the group holds the child and
/// whatever it started (a wrapper script's model server, an agent's espeak-ng). A child is told to stop with
/// SIGTERM to itself only, so that it can drain with its helpers still running; once it has ended (or was given
/// up on), its group is killed to take what it left behind. A second Ctrl-C kills every group at once.
final class ChildGroups: Sendable {
    private struct State {
        var leaders: Set<Int32> = []
        /// Set by `killAll`: a child started after it (the supervisor racing the exit) is killed at once.
        var closed = false
    }

    private let state = Mutex(State())

    /// A child has started: its pid is its group's id.
    func add(_ pid: Int32) {
        let closed = state.withLock { s in
            if !s.closed { s.leaders.insert(pid) }
            return s.closed
        }
        if closed { kill(-pid, SIGKILL) }
    }

    /// A child has ended: kill what is left of its group, and forget it. Called as soon as the end is seen, so
    /// that the group id is not kept (and later signalled) after it may have been reused.
    func end(_ pid: Int32) {
        guard state.withLock({ $0.leaders.remove(pid) }) != nil else { return }
        kill(-pid, SIGKILL)
    }

    /// Whether `p` has ended. Foundation learns that a child exited when a pipe the child holds closes, so while
    /// something it started still holds that pipe, `isRunning` stays true for a child that is already a zombie:
    /// the kernel's state (`Z` in /proc) is asked too.
    static func hasEnded(_ p: Process) -> Bool {
        guard p.isRunning else { return true }
        guard let stat = try? String(contentsOfFile: "/proc/\(p.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        return stat[close...].dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("Z")
    }

    /// Waits up to `seconds` for Foundation to reap `p` (after its group was killed); whether it did. Its
    /// termination status can only be read once it has.
    static func waitForReaping(_ p: Process, seconds: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        return !p.isRunning
    }

    /// Kills every group (the children and all they started): the second Ctrl-C.
    func killAll() {
        let leaders = state.withLock { s in
            s.closed = true
            return s.leaders
        }
        for pid in leaders { kill(-pid, SIGKILL) }
    }
}
