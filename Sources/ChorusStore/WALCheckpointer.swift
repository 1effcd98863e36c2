import Foundation
import Logging
import Synchronization

/// Held by every write transaction of the store, and by the checkpoint thread's last pass before the WAL
/// starts over (see `CheckpointPolicy`). Uncontended except during that pass, which copies at most a few hundred
/// pages.
final class WriteGate: Sendable {
    private let mutex = Mutex(())

    func withLock<T>(_ body: () throws -> T) rethrows -> T {
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
            while !state.stopped.load(ordering: .acquiring) {
                if action == .sleep { usleep(micros) }
                do {
                    let result: (walFrames: Int, checkpointed: Int)?
                    if action == .gatedPass {
                        result = try gate.withLock { try db.checkpointPassive() }
                        // Counted only when every frame was copied: otherwise (another checkpointer, a reader on an
                        // old snapshot) the WAL does not start over this time.
                        if let r = result, r.walFrames > 0, r.checkpointed == r.walFrames {
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
