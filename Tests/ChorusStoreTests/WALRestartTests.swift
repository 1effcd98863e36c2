import ChorusProtocol
import ChorusStore
import Foundation
import Logging
import Testing

/// `walRestarts` counts the gated checkpoint passes that copied every frame, each letting the next commit start
/// the WAL over: it rises under writes that fill the WAL, counts no restart that did not happen, and stays put
/// while nothing is written.
@Suite("SQLiteEventStore: WAL restarts are counted")
final class WALRestartTests {
    let dir: TemporaryDirectory
    let path: String

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("chorus.sqlite")
    }

    /// 64 frames (256 KiB) before the WAL must start over, a checkpoint pass every `interval`.
    func openSmallWALStore(interval: Duration) throws -> SQLiteEventStore {
        try SQLiteEventStore(
            path: path, durability: .normal, logger: Logger(label: "chorus.tests.wal"),
            checkpoints: CheckpointPolicy(restartFrames: 64, gatedPassFrames: 16), checkpointInterval: interval)
    }

    /// Two overflow pages and a leaf page per event.
    static let payload = String(repeating: "x", count: 6000)

    /// The WAL header's checkpoint sequence number (bytes 12 to 15, big-endian): SQLite adds one each time the
    /// WAL starts over, and writes it with the first frame of the new WAL.
    func walCheckpointSequence() throws -> UInt32 {
        let header = try #require(FileManager.default.contents(atPath: path + "-wal")?.prefix(16))
        try #require(header.count == 16)
        return header.suffix(4).reduce(0) { $0 << 8 | UInt32($1) }
    }

    @Test func writesThatFillTheWALAreCountedAsRestartsThatHappened() throws {
        // A pass every 20 ms: the commit after a gated pass comes long before the next pass, so that pass cannot
        // hold a read lock just when the commit tries to start the WAL over (which it then would not).
        let store = try openSmallWALStore(interval: .milliseconds(20))
        #expect(store.walRestarts == 0)
        var seq: UInt64 = 0
        let deadline = Date().addingTimeInterval(30)
        while store.walRestarts < 3 {
            try #require(Date() < deadline, "no WAL restart counted after \(seq) commits")
            seq += 1
            try store.commit(batch(events: [event(seq, payload: Self.payload)]))
        }
        // Every restart counted so far is followed by at least this commit, which starts the WAL over: SQLite's
        // own count of restarts is at least ours.
        let counted = store.walRestarts
        seq += 1
        try store.commit(batch(events: [event(seq, payload: Self.payload)]))
        let sqliteRestarts = try walCheckpointSequence()
        #expect(Int(sqliteRestarts) >= counted, "SQLite restarted the WAL \(sqliteRestarts) times; counted \(counted)")
        #expect(try store.lastSequence() == seq)
    }

    @Test func aLongWALLeftIdleCountsNoRestarts() throws {
        let store = try openSmallWALStore(interval: .milliseconds(5))
        // One commit of about 300 frames, far past the restart size, then nothing: the checkpoint thread copies
        // it all (one gated pass, counted), and the WAL starts over only at the next commit, which never comes.
        try store.commit(batch(events: (1...100).map { event($0, payload: Self.payload) }))
        // The gated pass that copies the whole WAL is counted once: the checkpoint thread's later gated passes see
        // no write since it and count nothing.
        try #require(waitUntil(10) { store.walRestarts >= 1 }, "the checkpoint thread never copied the whole WAL")
        let settled = store.walRestarts
        #expect(settled == 1)
        Thread.sleep(forTimeInterval: 0.25)  // about 50 more passes of the checkpoint thread
        #expect(store.walRestarts == settled, "counted restarts with no commit to start the WAL over")
    }

    /// Whether this process holds SQLite's shared lock on the log (a READ lock on bytes 0x40000002..., from
    /// /proc/locks). In WAL mode every connection keeps it; without it, another process's connection closing
    /// last would checkpoint and delete the WAL that this process still writes to.
    func holdsSharedLockOnLog() throws -> Bool {
        let inode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.systemFileNumber] as? UInt64)
        let locks = try String(contentsOfFile: "/proc/locks", encoding: .utf8)
        return locks.split(separator: "\n").contains { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1: POSIX  ADVISORY  READ 1234 08:01:5678 1073741826 1073742335"
            return f.count >= 8 && f[1] == "POSIX" && f[3] == "READ" && f[4] == "\(getpid())"
                && f[5].split(separator: ":").last == "\(inode)" && f[6] == "1073741826"
        }
    }

    /// The checkpoint thread never opens the log beside SQLite: a build that synced it before the gated pass
    /// through a descriptor of its own dropped every lock the process held on it when that descriptor closed (a
    /// lock probe after a joins bench found the broker's shared lock gone, and an operator's `sqlite3` shell, run
    /// during the bench, read a "malformed" database and deleted the WAL in use).
    @Test(.enabled(if: FileManager.default.isReadableFile(atPath: "/proc/locks"), "reads /proc/locks (Linux)"))
    func gatedPassesKeepTheProcessLocksOnTheLog() throws {
        let store = try openSmallWALStore(interval: .milliseconds(20))
        var seq: UInt64 = 1
        try store.commit(batch(events: [event(seq, payload: Self.payload)]))
        #expect(try holdsSharedLockOnLog(), "SQLite holds its shared lock while the log is open in WAL mode")
        let deadline = Date().addingTimeInterval(30)
        while store.walRestarts < 2 {
            try #require(Date() < deadline, "no gated pass after \(seq) commits")
            seq += 1
            try store.commit(batch(events: [event(seq, payload: Self.payload)]))
        }
        #expect(try holdsSharedLockOnLog(), "the lock is still held after \(store.walRestarts) gated passes")
    }

    @Test func aStoreWithNoWritesCountsNoRestarts() throws {
        let store = try openSmallWALStore(interval: .milliseconds(2))
        Thread.sleep(forTimeInterval: 0.1)
        #expect(store.walRestarts == 0)
    }
}
