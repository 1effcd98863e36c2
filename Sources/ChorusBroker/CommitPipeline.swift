import ChorusStore
import Dispatch
import Foundation
import ZeroMQ

/// Commits one write batch at a time on a thread of its own, so the broker thread handles the next batch of
/// commands while SQLite writes the previous one.
///
/// WHY. The SQLite commit was a fifth to a quarter of the broker thread's time, and that thread is what limits
/// throughput; on a machine with a core to spare the commit overlaps with the next iteration's work.
///
/// The rule that keeps it safe: the store is touched by exactly one thread at a time. The writer thread uses it
/// only between `submit` and the end of that commit; the broker thread calls `finish` (which waits) before it
/// touches the store itself, and before it sends anything that waited on the batch. The semaphores order the
/// two threads' memory accesses, so the store and the batch are never shared while in use.
final class CommitPipeline: @unchecked Sendable {
    /// Polled by the broker thread: readable when the commit in flight has finished.
    let wake = WakePipe()
    private let store: any EventStore
    private let requested = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    // Handed over through the semaphores; never read by both threads at once.
    private var batch: WriteBatch?
    private var failure: (any Error)?
    private var stopping = false
    private var started = false
    /// Whether a commit has failed (broker thread only, after `finish`).
    var failed: Bool { !inFlight && failure != nil }
    /// Whether a batch was submitted and not yet finished (broker thread only).
    private(set) var inFlight = false

    init(store: any EventStore) {
        self.store = store
    }

    /// Starts the writer thread (on first use, so a broker that never runs has no thread).
    private func start() {
        started = true
        let thread = Thread { [self] in
            while true {
                requested.wait()
                if stopping { break }
                do {
                    if let batch { try store.commit(batch) }
                } catch {
                    failure = error
                }
                // Emptied here, off the broker thread, and handed back for reuse by `finish`.
                batch?.removeAll()
                wake.wake()
                finished.signal()
            }
        }
        thread.name = "chorus-commit"
        thread.start()
    }

    /// Hands a batch to the writer thread. The previous batch must be finished.
    func submit(_ batch: WriteBatch) {
        precondition(!inFlight && failure == nil, "a commit is in flight or has failed")
        if !started { start() }
        self.batch = batch
        inFlight = true
        requested.signal()
    }

    /// Waits for the batch in flight, if any; throws what its commit threw. A failure sticks: every later call
    /// throws it again, so no caller can miss it and send what was never committed.
    func finish() throws {
        if inFlight {
            finished.wait()
            inFlight = false
            wake.drain()
        }
        if let failure { throw failure }
    }

    /// The last committed batch, emptied but with its storage, for the broker's next batch (nil if none).
    func takeEmptiedBatch() -> WriteBatch? {
        precondition(!inFlight, "the batch is still being committed")
        defer { batch = nil }
        return batch
    }

    /// Ends the writer thread after the batch in flight. The broker calls it when its loop ends.
    func stop() {
        try? finish()
        guard started else { return }
        stopping = true
        requested.signal()
    }
}
