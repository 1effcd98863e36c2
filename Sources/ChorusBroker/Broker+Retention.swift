import ChorusStore
import Foundation

/// Retention (docs/CONFIGURATION.md, "[retention]"): events older than `max_age` or beyond the newest
/// `max_events` are removed — but never one still needed: not yet looked at by a group that exists, unsettled
/// (in flight or waiting), or part of an open join. Blobs no remaining event references go with them.
extension Broker {
    /// The lowest sequence number something still needs; everything below it may go.
    func retentionFloor() -> UInt64 {
        var floor = lastSeq + 1
        for g in groups.values {
            floor = min(floor, g.cursor)
            if let lowest = g.pending.keys.min() { floor = min(floor, lowest) }
        }
        // An open join of a join no longer configured waits for its section to come back: its events, its
        // successes among them (they have no row), stay.
        if let lowest = unconfiguredOpenJoinFloor { floor = min(floor, lowest) }
        for state in openJoins.values {
            floor = min(floor, state.openSeq)
            for part in state.parts {
                switch part {
                case .ok(let seq, _), .failed(let seq, _, _): if seq > 0 { floor = min(floor, seq) }
                default: break
                }
            }
        }
        return floor
    }

    /// Runs a compaction pass when one is due (or now, when forced). Returns what it removed.
    @discardableResult
    func compact(force: Bool) throws -> [String: Any] {
        guard force || (config.retentionConfigured && now - lastCompaction >= config.retentionIntervalMilliseconds) else { return [:] }
        lastCompaction = now
        let floor = retentionFloor()
        var removed = 0
        // In slices, so a large first compaction does not hold the loop for long.
        for _ in 0..<(force ? 1000 : 10) {
            let n = try store.removeEvents(
                below: floor, olderThan: config.retentionMaxAgeMilliseconds.map { now - $0 }, keepNewest: config.retentionMaxEvents, limit: 10_000)
            removed += n
            if n < 10_000 { break }
        }
        counters.eventsRemoved += UInt64(removed)
        if removed > 0 {
            // The in-memory window and read-ahead pages may hold removed events; a new group starting at
            // `first` must begin at the oldest event that is really kept.
            recent.removeAll()
            logPages.removeAll()
            for g in groups.values {
                g.lookahead.removeAll()
                g.lookaheadHead = 0
            }
        }
        // A blob is kept while any event names it, and for ten minutes after it was stored (its result event
        // may still be on the way).
        let oldest = (try? store.readEvents(from: 0, limit: 1).first?.time) ?? now
        let blobs = try store.removeUnreferencedBlobs(createdBefore: min(oldest, now - 600_000))
        for hash in blobs { try? FileManager.default.removeItem(atPath: self.blobs.path(hash)) }
        if removed > 0 || !blobs.isEmpty {
            logger.info("compacted", metadata: ["events": "\(removed)", "blobs": "\(blobs.count)", "floor": "\(floor)"])
        }
        return ["events_removed": removed, "blobs_removed": blobs.count, "floor": floor]
    }
}
