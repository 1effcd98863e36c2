/// Decides what the checkpoint thread does after each pass, so the WAL file stays bounded under a constant
/// stream of commits.
///
/// WHY. A passive checkpoint copies WAL frames into the database file without ever blocking the writer, but
/// SQLite only starts the WAL over from its beginning when a write transaction begins while *every* frame has
/// been copied. With commits every millisecond or so, a pass that takes longer than the gap between two commits
/// never catches up, and the WAL grows without end (about 80 MB a second under the joins benchmark). So, once
/// the WAL is long, the thread catches up without blocking anyone and then runs one last, short pass while
/// holding the store's write gate, when no commit can add frames: that pass copies everything, and the next
/// commit starts the WAL over.
///
/// A pure value, tested cell by cell: `after(_:)` takes the result of a pass and returns what to do next.
public struct CheckpointPolicy: Sendable, Equatable {
    /// What the checkpoint thread does next.
    public enum Action: Equatable, Sendable {
        /// Wait for the next interval.
        case sleep
        /// Another passive pass at once, without the write gate: the WAL is long and much of it is still to copy.
        case catchUp
        /// A last pass holding the write gate, so it copies every frame and the next commit restarts the WAL.
        case gatedPass
    }

    /// The result of one checkpoint pass, from `sqlite3_wal_checkpoint_v2`.
    public struct Pass: Equatable, Sendable {
        /// Frames in the WAL when the pass ended.
        public var walFrames: Int
        /// How many of those are now copied into the database file.
        public var checkpointed: Int
        /// Whether the pass held the write gate.
        public var gated: Bool

        public init(walFrames: Int, checkpointed: Int, gated: Bool = false) {
            self.walFrames = walFrames
            self.checkpointed = checkpointed
            self.gated = gated
        }
    }

    /// A WAL of at least this many frames is made to start over (4,096 frames = 16 MiB with 4 KiB pages).
    public var restartFrames: Int
    /// Frames still to copy below which the gated pass is short enough to run (each frame is one page write).
    public var gatedPassFrames: Int
    /// Passive passes in a row, without the gate, before the gated pass runs anyway.
    public var maxCatchUpPasses: Int

    /// SQLite's `journal_size_limit`: a WAL file that grew past four times the restart size (64 MiB by default,
    /// with SQLite's default 4 KiB pages) is cut back to it when it starts over.
    public var journalSizeLimitBytes: Int64 { Int64(restartFrames) * 4096 * 4 }

    /// Passes without the gate since the last sleep.
    public private(set) var catchUpPasses = 0

    public init(restartFrames: Int = 4096, gatedPassFrames: Int = 256, maxCatchUpPasses: Int = 4) {
        self.restartFrames = restartFrames
        self.gatedPassFrames = gatedPassFrames
        self.maxCatchUpPasses = maxCatchUpPasses
    }

    /// What to do after `pass`; nil when the pass could not run (another checkpoint held the lock): sleep.
    public mutating func after(_ pass: Pass?) -> Action {
        guard let pass, !pass.gated, pass.walFrames >= restartFrames else {
            catchUpPasses = 0
            return .sleep
        }
        let left = pass.walFrames - pass.checkpointed
        if left > gatedPassFrames && catchUpPasses < maxCatchUpPasses {
            catchUpPasses += 1
            return .catchUp
        }
        catchUpPasses = 0
        return .gatedPass
    }
}
