import Foundation
import Logging
import Synchronization

/// Held by every write transaction of the store, and by the checkpoint thread's last pass before the WAL
/// starts over (see `CheckpointPolicy`). Uncontended except during that pass, which copies at most a few hundred
/// pages.
final class WriteGate: Sendable {
    private let mutex = Mutex(())
    /// Write transactions begun so far: the checkpoint thread compares it across its gated passes.
    let writes = Atomic<Int>(0)

    /// For a write transaction: holds the gate and counts the write.
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in
            writes.add(1, ordering: .relaxed)
            return try body()
        }
    }

    /// For the checkpoint thread's gated pass: holds the gate without counting a write.
    func withLockForCheckpoint<T>(_ body: () throws -> T) rethrows -> T {
        try mutex.withLock { _ in try body() }
    }
}

/// Copies the WAL back into the database file on a thread of its own, with its own connection, so the broker's
/// commits never wait for a checkpoint (they wait on the write gate only for the short pass that lets a long WAL
/// start over). Runs a passive checkpoint every `interval`, then whatever `CheckpointPolicy` asks for.
final class WALCheckpointer: Sendable {
    /// Shared with the thread.
    final class State: Sendable {
        let stopped = Atomic<Bool>(false)
        /// Gated passes that copied every frame, so that the next commit started the WAL over.
        let restarts = Atomic<Int>(0)
    }

    let state = State()

    /// Ends the thread (at its next wake-up); the store calls it when it goes away.
    func stop() { state.stopped.store(true, ordering: .releasing) }

    init(path: String, gate: WriteGate, policy: CheckpointPolicy, interval: Duration, logger: Logger) {
        let micros = UInt32(clamping: interval.components.seconds * 1_000_000 + interval.components.attoseconds / 1_000_000_000_000)
        let thread = Thread { [state] in
            guard let db = try? SQLiteDatabase(path: path) else {
                logger.error("checkpoint thread could not open the log; SQLite will not checkpoint", metadata: ["path": "\(path)"])
                return
            }
            // A connection learns that the file is in WAL mode when it first reads it; until then the checkpoint
            // call reports "not in WAL mode" and copies nothing.
            try? db.execute("SELECT count(*) FROM sqlite_master")
            // After the WAL starts over, a file that grew past this is cut back to it (SQLite's own limit).
            try? db.execute("PRAGMA journal_size_limit=\(policy.journalSizeLimitBytes)")
            var policy = policy
            var action = CheckpointPolicy.Action.sleep
            // The gate's write count when a gated pass last copied every frame.
            var writesAtFullCopy = -1
            while !state.stopped.load(ordering: .acquiring) {
                if action == .sleep { usleep(micros) }
                do {
                    let result: (walFrames: Int, checkpointed: Int)?
                    if action == .gatedPass && gate.writes.load(ordering: .relaxed) == writesAtFullCopy {
                        // Nothing written since the last gated pass copied everything: the WAL is still all copied
                        // and starts over at the next commit. Another pass would count a restart that has not
                        // happened, every other interval for as long as the store stays idle.
                        result = nil
                    } else if action == .gatedPass {
                        let (pass, writes) = try gate.withLockForCheckpoint { (try db.checkpointPassive(), gate.writes.load(ordering: .relaxed)) }
                        result = pass
                        // Counted only when every frame was copied: otherwise (another checkpointer, a reader on an
                        // old snapshot) the WAL does not start over this time.
                        if let r = result, r.walFrames > 0, r.checkpointed == r.walFrames {
                            writesAtFullCopy = writes
                            state.restarts.add(1, ordering: .relaxed)
                            logger.debug("WAL fully checkpointed; the next commit starts it over", metadata: ["frames": "\(r.walFrames)"])
                        }
                    } else {
                        result = try db.checkpointPassive()
                    }
                    action = policy.after(result.map { .init(walFrames: $0.walFrames, checkpointed: $0.checkpointed, gated: action == .gatedPass) })
                } catch {
                    logger.warning("checkpoint failed", metadata: ["error": "\(error)"])
                    action = .sleep
                }
            }
        }
        thread.name = "chorus-checkpoint"
        thread.start()
    }
}
