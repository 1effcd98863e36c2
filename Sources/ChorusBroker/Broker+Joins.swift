import ChorusProtocol
import ChorusStore
import Foundation

/// The join coordinator (docs/JOINS.md): opening joins, collecting parts, timeouts, and emitting one merged
/// record per join in the same transaction that closes it, so a crash yields exactly one record after restart.
extension Broker {
    /// The join a publish would open when that join is at its limit, to refuse the publish before it is logged.
    /// Only an event that would open a new join is refused: a repeat of an open one is not.
    func joinAtCapacity(forTopic topic: [UInt8], correlation: String) -> JoinDefinition? {
        for d in config.joins where d.open.matches(topic) && (openJoinCount[d.name] ?? 0) >= d.maxOpen {
            if openJoins[JoinKey(name: d.name, correlation: correlation)] == nil { return d }
        }
        return nil
    }

    /// Looks at every appended event: does it open a join, or is it a part of one?
    func observeForJoins(_ entry: LogEntry) {
        guard !config.joins.isEmpty else { return }
        let e = entry.event
        for d in config.joins {
            if d.open.matches(entry.topic) {
                openJoin(d, opening: e)
            }
            if let correlation = e.correlation, let index = d.partIndex(for: entry.topic) {
                receivePart(d, JoinKey(name: d.name, correlation: correlation), index, seq: e.seq, producer: e.producer,
                            attempt: e.header("attempt").flatMap { Int($0) }, error: Self.partError(e))
            }
        }
    }

    func openJoin(_ d: JoinDefinition, opening e: Event) {
        let key = JoinKey(name: d.name, correlation: e.correlation ?? e.id)
        // A repeated request (same correlation) does not open a second join.
        if openJoins[key] != nil || uncommittedJoinCloses.contains(key) || joinRecorded(key) { return }
        let state = JoinState(
            correlation: key.correlation, openSeq: e.seq, openedAt: now, deadline: PendingDelivery.add(now, d.timeoutMilliseconds),
            partCount: d.parts.count)
        openJoins[key] = state
        openJoinCount[d.name, default: 0] += 1
        batch.joins.append(JoinRecord(name: d.name, correlation: key.correlation, status: "open", openSeq: e.seq, openedAt: now, deadline: state.deadline))
        scheduleJoinTimers(d, key, state)
        counters.joinsOpened += 1
    }

    /// Whether the log records this join, open or closed, from a read-only connection so that the commit in
    /// flight need not be waited for: a join opened or closed in that commit is in `openJoins` or
    /// `uncommittedJoinCloses`, and everything older is committed, so the reader sees it.
    /// While the reader is failing, lookups go to the store (correct, but they wait for the commit in flight).
    func joinRecorded(_ key: JoinKey) -> Bool {
        if let found = readThroughReader("join \(key.name) \(key.correlation)", { try $0.hasJoin(name: key.name, correlation: key.correlation) }) {
            return found
        }
        do {
            return try store.join(name: key.name, correlation: key.correlation) != nil
        } catch {
            // Unknown counts as recorded: a join not opened is a request without a record, which its requester
            // sees; a join opened twice would emit two records for one correlation.
            logger.error("join lookup failed; treating the join as recorded", metadata: ["chorus.join": "\(key.name)", "correlation": "\(key.correlation)", "error": "\(error)"])
            return true
        }
    }

    func scheduleJoinTimers(_ d: JoinDefinition, _ key: JoinKey, _ state: JoinState) {
        timers.push(state.deadline, .join(key))
        for (i, part) in d.parts.enumerated() {
            if let t = part.timeoutMilliseconds, state.parts[i].isPending {
                timers.push(PendingDelivery.add(state.openedAt, t), .joinPart(key, part: i))
            }
        }
    }

    func receivePart(_ d: JoinDefinition, _ key: JoinKey, _ index: Int, seq: UInt64, producer: String?, attempt: Int?, error: String?) {
        let part = d.parts[index].name
        func record(_ status: String) {
            batch.joinParts.append(
                JoinPartRecord(name: d.name, correlation: key.correlation, part: part, seq: seq, status: status, producer: producer,
                               attempt: attempt, receivedAt: now, error: error))
        }
        // Changed in place: a copy out of the map and back would also copy the state's array of parts.
        guard let decision = openJoins[key]?.receive(part: index, seq: seq, at: now, error: error, definition: d) else {
            // Not open: a late part of a closed join is recorded; a result for no join at all is not ours.
            if uncommittedJoinCloses.contains(key) || joinRecorded(key) {
                record("late")
                counters.joinLateParts += 1
            }
            return
        }
        switch decision {
        case .duplicate:
            record("duplicate")
            counters.joinDuplicateParts += 1
        case .late:
            record("late")
            counters.joinLateParts += 1
        // An accepted success writes no row: its event is in this commit, found by correlation if the join must be
        // recovered, and named in the join's row when it closes (docs/STORAGE.md, schema version 5).
        case .wait:
            if error != nil { record("failed") }
        case .close(let outcome, let reason):
            if error != nil { record("failed") }
            closeJoin(d, key, outcome, reason: reason, timedOut: false)
        }
    }

    /// A dead-lettered event that opened a join fails the part whose `group` gave up on it.
    func joinPartsFailedByDeadLetter(_ event: Event, group: String, reason: String) {
        for d in config.joins where d.open.matches(Array(event.topic.utf8)) {
            guard let index = d.parts.firstIndex(where: { $0.group == group }) else { continue }
            receivePart(d, JoinKey(name: d.name, correlation: event.correlation ?? event.id), index, seq: 0, producer: "chorus",
                        attempt: nil, error: "dead-lettered in group \(group): \(reason)")
        }
    }

    func joinTimerFired(_ kind: TimerHeap.Kind) {
        switch kind {
        case .join(let key):
            guard let d = config.joins.first(where: { $0.name == key.name }), let state = openJoins[key], now >= state.deadline else { return }
            if case .close(let outcome, let reason) = state.overallTimeout(definition: d) {
                closeJoin(d, key, outcome, reason: reason, timedOut: true)
            }
        case .joinPart(let key, let index):
            guard let d = config.joins.first(where: { $0.name == key.name }), openJoins[key]?.parts[index].isPending == true,
                let decision = openJoins[key]?.partTimedOut(index, at: now, definition: d)
            else { return }
            batch.joinParts.append(
                JoinPartRecord(name: key.name, correlation: key.correlation, part: d.parts[index].name, seq: 0, status: "timeout", producer: nil,
                               attempt: nil, receivedAt: now, error: "no result within \(d.parts[index].timeoutMilliseconds ?? 0) ms"))
            if case .close(let outcome, let reason) = decision { closeJoin(d, key, outcome, reason: reason, timedOut: true) }
        default:
            break
        }
    }

    /// Closes a join: emits its merged record (per the timeout policy) and records the close, in this batch.
    func closeJoin(_ d: JoinDefinition, _ key: JoinKey, _ outcome: JoinState.Outcome, reason: String, timedOut: Bool) {
        guard let state = openJoins.removeValue(forKey: key) else { return }
        openJoinCount[d.name, default: 1] -= 1
        uncommittedJoinCloses.insert(key)
        var status = outcome.rawValue
        var resultSeq: UInt64?
        // The record reads the opening event and every part; keep them, for its causation and its blob references.
        var fetched: [LogEntry] = []
        let record = MergedRecord.build(definition: d, state: state, outcome: outcome, reason: reason, closedAt: now) { seq in
            let entry = self.fetchEvent(seq)
            if let entry { fetched.append(entry) }
            return entry
        }
        let opening = fetched.first { $0.seq == state.openSeq }?.event
        var merged = Event(
            id: makeEventID(), topic: d.emit, correlation: key.correlation, causation: opening?.id, producer: "chorus.join",
            contentType: "application/json", headers: [("join", d.name), ("status", status)], payload: record)
        if outcome == .partial && timedOut {
            switch d.onTimeout {
            case .partial: break
            case .discard:
                status = "discarded"
                merged.topic = ""
            case .deadletter:
                status = "deadlettered"
                merged.topic = "$dlq.join.\(d.name)"
            }
        }
        if !merged.topic.isEmpty {
            let seq = append(merged)
            resultSeq = seq
            // The record names its parts' blobs in its payload: keep them while the record is in the log, even
            // after retention removed the part results themselves.
            for part in fetched where part.seq != state.openSeq {
                for hash in part.event.blobHashes { batch.blobRefs.append((seq, hash)) }
            }
        }
        batch.joins.append(
            JoinRecord(name: d.name, correlation: key.correlation, status: status, openSeq: state.openSeq, openedAt: state.openedAt,
                       deadline: state.deadline, closedAt: now, resultSeq: resultSeq, reason: reason, parts: state.okPartsJSON(d)))
        counters.joinsClosed[d.name, default: [:]][status, default: 0] += 1
        if measuring { metrics.joinDuration.recordMilliseconds(now - state.openedAt) }
        logger.debug("join closed", metadata: ["chorus.join": "\(d.name)", "correlation": "\(key.correlation)", "status": "\(status)", "reason": "\(reason)"])
    }

    /// Rebuilds open joins after a restart; their timers keep their original times (past ones fire at once).
    ///
    /// A part's state is its first accepted input. Failures and timeouts have rows; a success has none and is the
    /// first result event of the part since the join opened (logs before schema version 5 have rows for them too).
    /// So the rows go first, then the events: a part a row settled took no event after it (those were `late` or
    /// `duplicate`), and a part an event settled took no row-only input after it (a dead-letter failure was a
    /// `duplicate`, and a part's own timeout is not written once the part has its result).
    func recoverJoins() throws {
        for (record, parts) in try store.openJoins() {
            guard let d = config.joins.first(where: { $0.name == record.name }) else {
                logger.warning("open join of a join no longer configured is left as is", metadata: ["chorus.join": "\(record.name)"])
                unconfiguredOpenJoinFloor = min(unconfiguredOpenJoinFloor ?? record.openSeq, record.openSeq)
                continue
            }
            var state = JoinState(correlation: record.correlation, openSeq: record.openSeq, openedAt: record.openedAt, deadline: record.deadline, partCount: d.parts.count)
            for p in parts {
                guard let index = d.parts.firstIndex(where: { $0.name == p.part }) else { continue }
                switch p.status {
                case "ok": _ = state.receive(part: index, seq: p.seq, at: p.receivedAt, error: nil, definition: d)
                case "failed": _ = state.receive(part: index, seq: p.seq, at: p.receivedAt, error: p.error ?? "failed", definition: d)
                case "timeout": _ = state.partTimedOut(index, at: p.receivedAt, definition: d)
                default: break
                }
            }
            try replayPartEvents(d, &state)
            let key = JoinKey(name: d.name, correlation: record.correlation)
            openJoins[key] = state
            openJoinCount[d.name, default: 0] += 1
            scheduleJoinTimers(d, key, state)
        }
        if !openJoins.isEmpty { logger.info("recovered open joins", metadata: ["count": "\(openJoins.count)"]) }
    }

    /// Gives the parts still pending their first result event since the join opened (the opening event included:
    /// it can be a part of its own join), read through the correlation index in pages, as `observeForJoins`
    /// saw them.
    func replayPartEvents(_ d: JoinDefinition, _ state: inout JoinState) throws {
        var after = max(state.openSeq, 1) - 1
        while state.parts.contains(where: \.isPending) {
            let page = try store.events(correlation: state.correlation, after: after, limit: 512)
            for e in page {
                guard let index = d.partIndex(for: Array(e.topic.utf8)), state.parts[index].isPending else { continue }
                _ = state.receive(part: index, seq: e.seq, at: e.time, error: Self.partError(e), definition: d)
            }
            guard page.count == 512, let last = page.last else { break }
            after = last.seq
        }
    }

    /// The error a result event reports (`h.status=error`), nil for a success.
    static func partError(_ e: Event) -> String? {
        e.header("status") == "error" ? (e.header("error") ?? "the agent reported an error") : nil
    }
}
