import ChorusProtocol
import ChorusStore
import Foundation

/// Operator commands (docs/PROTOCOL.md, "ADMIN"): stats, dead letters, compaction.
extension Broker {
    func admin(_ session: Session, _ requestID: [UInt8], _ operation: String, _ arguments: [UInt8]) {
        let args = (try? JSONSerialization.jsonObject(with: Data(arguments.isEmpty ? Array("{}".utf8) : arguments))) as? [String: Any] ?? [:]
        do {
            let result: [String: Any]
            switch operation {
            case "stats": result = try stats()
            case "dlq.list": result = try deadLetterList(args)
            case "dlq.redrive": result = try redrive(args)
            case "dlq.purge": result = try purge(args)
            case "log.compact": result = try compact(force: true)
            case "log.read": result = try readLog(args)
            default:
                refuse(session, requestID, .unknownCommand, "unknown ADMIN operation '\(operation)'; known: stats, dlq.list, dlq.redrive, dlq.purge, log.compact, log.read")
                return
            }
            let json = (try? JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])) ?? Data("{}".utf8)
            reply(session, .result(requestID: requestID, json: Array(json)))
        } catch let error as ProtocolError {
            refuse(session, requestID, error)
        } catch {
            refuse(session, requestID, .storageFailed, "\(error)")
        }
    }

    /// How many of the events a group has not looked at yet its patterns match: counted in the in-memory window
    /// of recent events, and only when the whole gap is there, at most 20,000 events long, and within what is left
    /// of the call's budget of 100,000 events examined for all groups (this runs on the broker's thread); nil
    /// otherwise. Without it a stopped group's backlog counts every event of every topic.
    func unexaminedMatching(_ g: ConsumerGroup, budget: inout Int) -> Int? {
        guard g.cursor <= lastSeq else { return 0 }
        guard lastSeq - g.cursor < 20_000, lastSeq - g.cursor < budget, let first = recent.firstSeq, first <= g.cursor else { return nil }
        budget -= Int(lastSeq - g.cursor + 1)
        var count = 0
        for seq in g.cursor...lastSeq {
            guard let e = recent.entry(seq) else { return nil }
            if g.patterns.matches(e.topic) { count += 1 }
        }
        return count
    }

    func stats() throws -> [String: Any] {
        // One budget for the whole call, shared by the groups: stats runs on the broker's thread.
        var budget = 100_000
        let size = try store.size()
        var groupStats: [[String: Any]] = []
        for g in groups.values.sorted(by: { $0.name < $1.name }) {
            let inFlight = g.inFlightCount
            let unexamined = g.unexamined(lastSeq: lastSeq)
            let matching = unexaminedMatching(g, budget: &budget)
            var row: [String: Any] = [
                "name": g.name, "patterns": g.patterns.patterns.map(\.text), "cursor": g.cursor,
                "backlog": (matching ?? unexamined) + (g.pending.count - inFlight), "backlog_exact": matching != nil,
                "unexamined": unexamined, "waiting": g.pending.count - inFlight,
                "in_flight": inFlight, "consumers": g.members.count, "credit": g.members.reduce(0) { $0 + $1.credit },
                "delivered": g.delivered, "acked": g.acked, "redelivered": g.redelivered, "dead_lettered": g.deadLettered,
                "max_attempts": g.maxAttempts, "ack_timeout_ms": g.ackTimeout,
            ]
            if let matching { row["unexamined_matching"] = matching }
            groupStats.append(row)
        }
        var joinStats: [[String: Any]] = []
        for d in config.joins {
            var j: [String: Any] = ["name": d.name, "open": openJoinCount[d.name] ?? 0]
            for status in ["complete", "partial", "failed", "discarded", "deadlettered"] {
                j[status] = counters.joinsClosed[d.name]?[status] ?? 0
            }
            joinStats.append(j)
        }
        let rates = eventRates()
        return [
            "broker": [
                "name": config.name, "endpoint": boundEndpoint, "firehose": boundFirehose, "uptime_ms": now - startedAt,
                "last_seq": lastSeq, "sessions": sessionsByNumber.count, "log_events": size.events, "log_bytes": size.bytes,
                "events_per_second_10s": rates.short, "events_per_second_60s": rates.long, "waiters": waiters.count,
                "blob_reply_bytes": sessionsByNumber.values.reduce(0) { $0 + $1.blobReplyBytes.current },
                "unsent_bytes": sessionsByNumber.values.reduce(0) { $0 + $1.unsentBytes.current },
            ] as [String: Any],
            "counters": [
                "published": counters.published, "duplicates": counters.duplicates, "delivered": counters.delivered,
                "redelivered": counters.redelivered, "acked": counters.acked, "nacked": counters.nacked, "stale_acks": counters.staleAcks,
                "lease_timeouts": counters.leaseTimeouts, "dead_lettered": counters.deadLettered, "expired": counters.expired,
                "commits": counters.commits, "firehose_dropped": counters.firehoseDropped, "sessions_expired": counters.sessionsExpired,
                "joins_opened": counters.joinsOpened, "join_duplicate_parts": counters.joinDuplicateParts,
                "join_late_parts": counters.joinLateParts, "blobs_stored": counters.blobsStored,
                "blobs_served": counters.blobsServed, "blob_replies_refused": counters.blobRepliesRefused, "events_removed": counters.eventsRemoved,
                "reader_failures": counters.readerFailures,
                "errors": Dictionary(uniqueKeysWithValues: counters.errors.map { (ErrorCode.from(number: $0.key).name, $0.value) }),
            ] as [String: Any],
            "groups": groupStats,
            "joins": joinStats,
        ]
    }

    /// Events per second over the last 10 and 60 seconds, from one sample per second.
    func eventRates() -> (short: Double, long: Double) {
        guard let newest = rateSamples.last else { return (0, 0) }
        func rate(_ seconds: Int64) -> Double {
            guard let old = rateSamples.last(where: { newest.time - $0.time >= seconds * 1000 }) ?? rateSamples.first, newest.time > old.time else { return 0 }
            return Double(newest.seq - old.seq) / (Double(newest.time - old.time) / 1000)
        }
        return (rate(10), rate(60))
    }

    func sampleRates() {
        if let last = rateSamples.last, now - last.time < 1000 { return }
        rateSamples.append((now, lastSeq))
        if rateSamples.count > 61 { rateSamples.removeFirst(rateSamples.count - 61) }
    }

    func deadLetterList(_ args: [String: Any]) throws -> [String: Any] {
        let group = args["group"] as? String
        if let group, groups[group] == nil { throw unknownGroup(group) }
        // At least 1: SQLite reads a negative LIMIT as no limit at all, which made every dead letter one reply.
        let limit = min(max(args["limit"] as? Int ?? 100, 1), 10_000)
        let rows = try store.deadLetters(group: group, limit: limit)
        return ["dead_letters": rows.map { d -> [String: Any] in
            var row: [String: Any] = [
                "id": d.id, "group": d.groupName, "seq": d.seq, "reason": d.reason, "attempts": d.attempts, "time": d.time,
                "history": d.history.split(separator: "\n").map { line -> [String: Any] in
                    let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                    return ["attempt": Int(f.first ?? "") ?? 0, "time": Int64(f.count > 1 ? f[1] : "") ?? 0, "consumer": f.count > 2 ? f[2] : "",
                            "outcome": f.count > 3 ? f[3] : "", "reason": f.count > 4 ? f[4] : ""]
                },
            ]
            if let e = fetchEvent(d.seq)?.event {
                row["topic"] = e.topic
                row["correlation"] = e.correlation ?? NSNull()
                row["payload_size"] = e.payload.count
            }
            return row
        }]
    }

    /// The dead letters an operator selected: `group` (required) and `ids` (list) or `all: true`.
    func selectedDeadLetters(_ args: [String: Any]) throws -> (ConsumerGroup, [DeadLetterRecord]) {
        guard let name = args["group"] as? String else { throw ProtocolError(.malformed, "name the group ('group')") }
        guard let group = groups[name] else { throw unknownGroup(name) }
        // --all takes the newest 100,000 at a time (run it again for more); ids are looked up one by one.
        if args["all"] as? Bool == true { return (group, try store.deadLetters(group: name, limit: 100_000)) }
        let ids = Set((args["ids"] as? [Any] ?? []).compactMap { ($0 as? NSNumber)?.int64Value })
        guard !ids.isEmpty else { throw ProtocolError(.malformed, "give 'ids' (a list of dead-letter ids) or 'all': true") }
        guard ids.count <= 100_000 else { throw ProtocolError(.malformed, "at most 100000 ids at a time") }
        let selected = try store.deadLetters(group: name, ids: ids.sorted())
        // All or nothing: an id that is not there is most likely a typo, and acting on the rest would hide it.
        let missing = ids.subtracting(selected.map(\.id)).sorted()
        guard missing.isEmpty else {
            throw ProtocolError(.notFound, "group '\(name)' has no dead letter with id \(missing.map(String.init).joined(separator: ", ")) (see chorus dlq list --group \(name)); nothing was changed")
        }
        return (group, selected)
    }

    /// The refusal for a group name the broker does not know, naming the ones it does.
    func unknownGroup(_ name: String) -> ProtocolError {
        let known = groups.keys.sorted()
        let list = known.isEmpty ? "there are no groups yet" : "groups: " + known.prefix(20).joined(separator: ", ") + (known.count > 20 ? ", ..." : "")
        return ProtocolError(.notSubscribed, "no group named '\(name)' (\(list))")
    }

    /// Puts dead letters back on their group: each becomes a waiting delivery again, with a fresh attempt count.
    func redrive(_ args: [String: Any]) throws -> [String: Any] {
        let (group, rows) = try selectedDeadLetters(args)
        var redriven = 0
        for d in rows {
            batch.deadLetterDeletes.append(d.id)
            guard group.pending[d.seq] == nil, fetchEvent(d.seq) != nil else { continue }  // already back, or removed
            let history = d.history + (d.history.isEmpty ? "" : "\n") + "0\t\(now)\t\tredriven\tby an operator"
            let entry = PendingDelivery(seq: d.seq, attempt: 0, phase: .waiting(notBefore: now), history: history)
            group.pending[d.seq] = entry
            persist(entry, in: group)
            group.markReady(d.seq)
            redriven += 1
        }
        dirtyGroups.insert(group.id)
        logger.info("redrove dead letters", metadata: ["chorus.group": "\(group.name)", "count": "\(redriven)"])
        return ["group": group.name, "redriven": redriven, "removed": rows.count]
    }

    func purge(_ args: [String: Any]) throws -> [String: Any] {
        let (group, rows) = try selectedDeadLetters(args)
        batch.deadLetterDeletes.append(contentsOf: rows.map(\.id))
        return ["group": group.name, "purged": rows.count]
    }

    /// `body` run on the read-only connection, for a read that must not wait for the commit in flight; nil when
    /// that connection failed lately (the caller then reads through the store). A failure closes the connection,
    /// is logged with what was read, and sends reads to the store for `readerRetryMilliseconds`; then a new
    /// connection is tried, so one SQLITE_BUSY does not bring the stall back for good.
    func readThroughReader<T>(_ what: @autoclosure () -> String, _ body: (LogReader) throws -> T) -> T? {
        if let retry = readerRetryAt {
            guard now >= retry else { return nil }
            readerRetryAt = nil
        }
        do {
            return try body(readOnlyLog())
        } catch {
            logReader = nil
            readerRetryAt = now + Self.readerRetryMilliseconds
            counters.readerFailures += 1
            logger.warning(
                "a read through the read-only connection failed; reading through the store for a while",
                metadata: ["read": "\(what())", "error": "\(error)", "retry_in_ms": "\(Self.readerRetryMilliseconds)"])
            return nil
        }
    }

    /// The read-only connection (`log.read`, join and idempotency-key lookups, old events, AWAIT's search), opened
    /// on first use.
    func readOnlyLog() throws -> LogReader {
        if let logReader { return logReader }
        let reader = try LogReader(path: config.logPath)
        logReader = reader
        return reader
    }

    /// A page of the log for `chorus tail` on another host: the same reader and filters as the local tail,
    /// over a read-only connection of its own (WAL lets it read beside the writer).
    /// Arguments: `after` (seq), optional `last` (start at the last N matching), `limit`, and the filters
    /// `topics` (list), `correlation`, `producer`, `since`, `until` (ms).
    func readLog(_ args: [String: Any]) throws -> [String: Any] {
        let reader = try readOnlyLog()
        var filter = LogFilter(
            correlation: args["correlation"] as? String, producer: args["producer"] as? String,
            fromSequence: (args["from"] as? NSNumber)?.uint64Value)
        if let topics = args["topics"] as? [String], !topics.isEmpty { filter.topics = try TopicPatternSet(texts: topics) }
        filter.since = (args["since"] as? NSNumber)?.int64Value
        filter.until = (args["until"] as? NSNumber)?.int64Value
        let through = try reader.lastSequence()
        var after = (args["after"] as? NSNumber)?.uint64Value ?? 0
        if let last = args["last"] as? Int { after = try reader.startOfLast(last, filter: filter, through: through) - 1 }
        let limit = min(max(args["limit"] as? Int ?? 1000, 1), 5000)
        let page = try reader.page(after: after, through: through, filter: filter, limit: limit)
        return [
            "last_seq": through, "scanned_through": page.scannedThrough,
            "events": page.events.map { e -> [String: Any] in
                var o: [String: Any] = ["seq": e.seq, "id": e.id, "topic": e.topic, "time": e.time, "payload_base64": Data(e.payload).base64EncodedString()]
                if let v = e.correlation { o["correlation"] = v }
                if let v = e.causation { o["causation"] = v }
                if let v = e.producer { o["producer"] = v }
                if let v = e.contentType { o["content_type"] = v }
                if let v = e.deadline { o["deadline"] = v }
                if !e.headers.isEmpty { o["headers"] = e.headers.map { [$0.name, $0.value] } }
                return o
            },
        ]
    }
}
