import ChorusProtocol
import ChorusStore
import Foundation
import Logging
import Testing

/// Under commits with no gap between them a passive checkpoint never copies the last frames, and SQLite starts
/// the WAL over only when every frame is copied: without the gated pass the WAL grows for as long as the writes
/// go on.
@Suite("SQLiteEventStore: the WAL stays bounded")
final class WALSizeTests {
    let dir: TemporaryDirectory

    init() throws { dir = try TemporaryDirectory() }

    func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? NSNumber)?.intValue ?? 0
    }

    @Test func continuousCommitsDoNotGrowTheWALWithoutEnd() throws {
        let path = dir.path("chorus.sqlite")
        // 256 frames (1 MiB) before the WAL must start over; a checkpoint pass every 5 ms.
        let store = try SQLiteEventStore(
            path: path, durability: .normal, logger: Logger(label: "chorus.tests.wal"),
            checkpoints: CheckpointPolicy(restartFrames: 256, gatedPassFrames: 64), checkpointInterval: .milliseconds(5))
        let payload = String(repeating: "x", count: 6000)  // two overflow pages and a leaf page per commit
        var largest = 0
        var written = 0
        var seq: UInt64 = 0
        let deadline = Date().addingTimeInterval(60)
        // At least 60 MiB of frames, and at least two restarts, back to back with no pause between commits.
        while written < 60 << 20 || store.walRestarts < 2 {
            try #require(Date() < deadline, "the checkpoint thread never let the WAL start over")
            seq += 1
            try store.commit(batch(events: [event(seq, payload: payload)]))
            written += 3 * 4096
            if seq % 64 == 0 { largest = max(largest, walBytes(path)) }
        }
        #expect(store.walRestarts >= 2)
        // 1 MiB to trigger, plus what is written while the catch-up and gated passes run (typically a few MiB;
        // the margin is for a checkpoint thread kept off a busy CI machine's cores). Without the gated pass the WAL
        // holds all 60 MiB.
        #expect(largest < 24 << 20, "largest WAL seen: \(largest) bytes")
        #expect(try store.lastSequence() == seq)
    }
}
