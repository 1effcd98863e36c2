import ChorusProtocol
import ChorusStore
import Foundation

/// Delivery: moving events from the log to group members within their credit, and what happens when a
/// delivery fails (docs/PROTOCOL.md, "Delivery").
extension Broker {
    /// How many log events one group may look at per loop iteration, so one group far behind with a pattern
    /// that matches little cannot stall the loop for everyone else.
    static let scanBudget = 4096

    /// At most this many first deliveries per group are kept in its list (`groups.in_flight`); more get pending rows.
    static let firstDeliveriesListLimit = 16_384

    func dispatchDirtyGroups() {
        if newEventsAppended {
            newEventsAppended = false
            for id in groupsByID.keys { dirtyGroups.insert(id) }
        }
        guard !dirtyGroups.isEmpty else { return }
        let ids = dirtyGroups
        dirtyGroups.removeAll(keepingCapacity: true)
        for id in ids {
            guard let group = groupsByID[id] else { continue }
            if dispatch(group) { dirtyGroups.insert(id) }
        }
    }

    /// Delivers to members with credit: due redeliveries first, then new events from the cursor.
    /// Returns true when the group still has work it could not finish within its budget.
    func dispatch(_ group: ConsumerGroup) -> Bool {
        var budget = Self.scanBudget
        while budget > 0, let member = group.nextMemberWithCredit() {
            budget -= 1
            if let seq = group.popReady() {
                guard var entry = group.pending[seq], case .waiting(let notBefore) = entry.phase, notBefore <= now else { continue }
                guard let entry0 = fetchEvent(seq) else {
                    // Gone from the log (removed by retention): nothing left to deliver.
                    group.pending[seq] = nil
                    forget(seq, in: group)
                    continue
                }
                if let deadline = entry0.event.deadline, deadline <= now {
                    deadLetter(entry0.event, entry: entry, in: group, reason: "expired: deadline \(deadline) passed before redelivery")
                    counters.expired += 1
                    continue
                }
                deliver(entry0, &entry, to: member, in: group)
                continue
            }
            guard group.pending.count < group.maxPending, group.cursor <= lastSeq else { return false }
            guard let next = nextEvent(for: group) else { return false }
            group.cursor = next.seq + 1
            group.cursorDirty = true
            guard group.patterns.matches(next.topic) else {
                // Not for this group: the member keeps its credit.
                continue
            }
            var entry = PendingDelivery(seq: next.seq, attempt: 0, phase: .waiting(notBefore: 0))
            if let deadline = next.event.deadline, deadline <= now {
                deadLetter(next.event, entry: entry, in: group, reason: "expired: deadline \(deadline) passed before delivery")
                counters.expired += 1
                continue
            }
            deliver(next, &entry, to: member, in: group)
        }
        return budget == 0
    }

    func deliver(_ log: LogEntry, _ entry: inout PendingDelivery, to member: Subscription, in group: ConsumerGroup) {
        let seq = log.seq
        let token = random.token()
        let expires = PendingDelivery.add(now, group.ackTimeout)
        entry.dispatch(session: member.session.number, consumer: member.session.name, token: token, expires: expires)
        group.pending[seq] = entry
        member.hold(seq, bytes: log.payloadCount)
        timers.push(expires, .lease(groupID: group.id, seq: seq, token: token))
        persist(entry, in: group)
        if member.batch > 1 {
            stage(log, token: token, attempt: entry.attempt, to: member)
        } else {
            outbox.appendDeliver(
                routedTo: member.session.routingID, group: group.nameBytes, lease: Lease(seq: seq, token: token), attempt: entry.attempt, entry: log)
        }
        group.delivered += 1
        counters.delivered += 1
        if measuring && entry.attempt == 1 { firstDeliveries.append((seq, log.event.time)) }
        if entry.attempt > 1 {
            group.redelivered += 1
            counters.redelivered += 1
        }
    }

    /// Queues what the log must know about `entry` now: a first delivery in flight goes in its group's list of
    /// them; anything else (a failed attempt behind it, a wait for a retry) is its pending row.
    func persist(_ entry: PendingDelivery, in group: ConsumerGroup) {
        // The list is rewritten whole at each change, so it is kept short: past `firstDeliveriesListLimit` a first
        // delivery gets a row like any other (`forget` finds it there).
        if entry.isUnfailedFirstDelivery && group.firstDeliveriesInFlight.count < Self.firstDeliveriesListLimit {
            if group.firstDeliveriesInFlight.insert(entry.seq) { group.firstDeliveriesDirty = true }
        } else {
            if group.firstDeliveriesInFlight.remove(entry.seq) { group.firstDeliveriesDirty = true }
            batch.pending.append(.upsert(record(entry, group)))
        }
    }

    /// Queues the removal of `seq` from what the log keeps of `group`'s unsettled deliveries (acked, dead-lettered,
    /// gone from the log): out of the list of first deliveries, or its pending row deleted.
    func forget(_ seq: UInt64, in group: ConsumerGroup) {
        if group.firstDeliveriesInFlight.remove(seq) {
            group.firstDeliveriesDirty = true
        } else {
            batch.pending.append(.delete(groupID: group.id, seq: seq))
        }
    }

    func record(_ entry: PendingDelivery, _ group: ConsumerGroup) -> PendingRecord {
        let due: Int64
        switch entry.phase {
        case .inFlight(_, _, let expires): due = expires
        case .waiting(let notBefore): due = notBefore
        }
        return PendingRecord(
            groupID: group.id, seq: entry.seq, attempt: entry.attempt, token: entry.token, due: due, consumer: entry.consumer,
            history: entry.history)
    }

    /// Carries out what the state machine decided after a failure (nack, timeout, release).
    func apply(_ action: PendingDelivery.Action, to entry: PendingDelivery, in group: ConsumerGroup, holder: Subscription?) {
        holder?.drop(entry.seq)
        switch action {
        case .retry(let notBefore):
            group.pending[entry.seq] = entry
            persist(entry, in: group)
            scheduleRetry(group, entry.seq, notBefore: notBefore)
        case .deadLetter(let reason):
            if let log = fetchEvent(entry.seq) {
                deadLetter(log.event, entry: entry, in: group, reason: reason)
            } else {
                group.pending[entry.seq] = nil
                forget(entry.seq, in: group)
            }
        case .settle:
            group.pending[entry.seq] = nil
            forget(entry.seq, in: group)
        case .stale, .none, .extended:
            group.pending[entry.seq] = entry
        }
        dirtyGroups.insert(group.id)
    }

    func scheduleRetry(_ group: ConsumerGroup, _ seq: UInt64, notBefore: Int64) {
        if notBefore <= now {
            group.markReady(seq)
            dirtyGroups.insert(group.id)
        } else {
            timers.push(notBefore, .retry(groupID: group.id, seq: seq))
        }
    }

    /// Records a dead letter and republishes the event on `$dlq.GROUP` with the reason in its headers.
    func deadLetter(_ event: Event, entry: PendingDelivery, in group: ConsumerGroup, reason: String) {
        if group.pending.removeValue(forKey: event.seq) != nil || entry.attempt > 0 {
            forget(event.seq, in: group)
        }
        batch.deadLetters.append(
            DeadLetterRecord(groupName: group.name, seq: event.seq, reason: reason, attempts: entry.attempt, history: entry.history, time: now))
        var dlq = Event(
            id: makeEventID(), topic: "$dlq.\(group.name)", correlation: event.correlation, causation: event.id,
            producer: "chorus", contentType: event.contentType, headers: event.headers, payload: event.payload)
        dlq.headers.append(("dlq-group", group.name))
        dlq.headers.append(("dlq-seq", String(event.seq)))
        dlq.headers.append(("dlq-topic", event.topic))
        dlq.headers.append(("dlq-attempts", String(entry.attempt)))
        dlq.headers.append(("dlq-reason", Self.headerValue(reason)))
        append(dlq)
        joinPartsFailedByDeadLetter(event, group: group.name, reason: reason)
        group.deadLettered += 1
        counters.deadLettered += 1
        logger.info(
            "dead-lettered", metadata: ["chorus.group": "\(group.name)", "seq": "\(event.seq)", "attempts": "\(entry.attempt)", "reason": "\(reason)"])
    }

    /// A reason made safe as a property value: one line, at most 1024 bytes (cut at a character boundary).
    static func headerValue(_ text: String) -> String {
        var s = text.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\r", with: " ")
        while s.utf8.count > 1024 { s.removeLast() }
        return s
    }

    /// An event by sequence number: from memory when recent, in this iteration's batch or the commit in flight, or
    /// read lately; else from the read-only connection, which sees every older event without waiting for that
    /// commit. (Through the store, a join closing for a request older than the recent window stalled the broker
    /// thread until the commit finished: with 8,000 joins in flight, reading without that wait ran ×1.47 faster,
    /// 4 alternating pairs.)
    func fetchEvent(_ seq: UInt64) -> LogEntry? {
        if let e = recent.entry(seq) ?? Self.entry(seq, in: batchEntries) ?? Self.entry(seq, in: committing.entries) { return e }
        if let e = logPages.entry(seq) { return e }
        // One row, not a page: a single fetch of an old event should not read up to a page of payloads.
        if let read = readThroughReader("event \(seq)", { try $0.event(seq: seq) }) { return read.map { LogEntry($0) } }
        do {
            return try store.readEvent(seq: seq).map { LogEntry($0) }
        } catch {
            logger.error("reading the log failed", metadata: ["seq": "\(seq)", "error": "\(error)"])
            return nil
        }
    }

    /// The entry `seq` of `entries`, which hold consecutive sequence numbers (an iteration's new events).
    static func entry(_ seq: UInt64, in entries: [LogEntry]) -> LogEntry? {
        guard let first = entries.first, seq >= first.seq, seq - first.seq < UInt64(entries.count) else { return nil }
        return entries[Int(seq - first.seq)]
    }

    /// The aligned page of the log that holds `seq`: from the page cache, else read from the store and cached.
    /// Only committed events are read (the store waits for the commit in flight).
    func readPage(at seq: UInt64) throws -> [LogEntry] {
        if let page = logPages.page(containing: seq) { return page }
        let start = logPages.pageStart(seq)
        let page = try store.readEvents(from: start, limit: logPages.pageSize).map { LogEntry($0) }
        logPages.insert(page, start: start)
        return page
    }

    /// The event at or after the group's cursor: from memory when recent, else from a page of the log.
    func nextEvent(for group: ConsumerGroup) -> LogEntry? {
        if let e = recent.entry(group.cursor) {
            group.lookahead.removeAll()
            group.lookaheadHead = 0
            return e
        }
        while group.lookaheadHead < group.lookahead.count {
            let e = group.lookahead[group.lookaheadHead]
            group.lookaheadHead += 1
            if e.seq >= group.cursor { return e }
        }
        // Pages until one has an event at or after the cursor. Only committed events are read: this
        // iteration's are in `recent`, which the group reaches once it catches up.
        var from = group.cursor
        while from <= lastSeq {
            let page: [LogEntry]
            do {
                page = try readPage(at: from)
            } catch {
                logger.error("reading the log failed; the group waits", metadata: ["chorus.group": "\(group.name)", "error": "\(error)"])
                break
            }
            if let index = page.firstIndex(where: { $0.seq >= group.cursor }) {
                group.lookahead = page
                group.lookaheadHead = index + 1
                return page[index]
            }
            guard let last = page.last else { break }  // nothing at or after `from` is committed yet
            from = max(last.seq + 1, logPages.pageStart(from) + UInt64(logPages.pageSize))
        }
        group.lookahead.removeAll()
        group.lookaheadHead = 0
        return nil
    }

    func fireTimers() {
        while let timer = timers.popDue(now) {
            switch timer.kind {
            case .lease(let groupID, let seq, let token):
                guard let group = groupsByID[groupID], var entry = group.pending[seq], entry.token == token else { continue }
                let holder = entry.session.flatMap { sessionsByNumber[$0]?.subscriptions[group.name] }
                let action = entry.handle(.leaseExpired(token: token, now: now), maxAttempts: group.maxAttempts)
                if action == .none { continue }
                counters.leaseTimeouts += 1
                apply(action, to: entry, in: group, holder: holder)
            case .retry(let groupID, let seq):
                guard let group = groupsByID[groupID], let entry = group.pending[seq], case .waiting = entry.phase else { continue }
                group.markReady(seq)
                dirtyGroups.insert(groupID)
            case .join, .joinPart:
                joinTimerFired(timer.kind)
            case .waiter(let id):
                waiterTimedOut(id)
            }
        }
    }

    /// The heap size at which dead timers are next swept out (`sweepTimersIfDue`).
    static let timerSweepFloor = 4096

    /// Sweeps out timers that would do nothing when they fired (acked or extended leases, closed joins, answered
    /// waiters) once the heap has doubled since the last sweep: it stays within twice the timers that were live at
    /// the last sweep, or the floor.
    func sweepTimersIfDue() {
        guard timers.count >= timerSweepAt else { return }
        timers.removeAll { timerIsLive($0) }
        timerSweepAt = max(Self.timerSweepFloor, 2 * timers.count)
    }

    /// Whether a timer would act when it fired: the same checks `fireTimers` (and what it calls) makes first.
    func timerIsLive(_ timer: TimerHeap.Entry) -> Bool {
        switch timer.kind {
        case .lease(let groupID, let seq, let token):
            // An EXTEND pushes a timer for the new expiry; one due before the lease's expiry does nothing when it
            // fires (the lease has not expired then), so only the latest counts. Kept otherwise.
            guard let entry = groupsByID[groupID]?.pending[seq], entry.token == token else { return false }
            if case .inFlight(_, _, let expires) = entry.phase { return timer.due >= expires }
            return true
        case .retry(let groupID, let seq):
            guard let entry = groupsByID[groupID]?.pending[seq], case .waiting = entry.phase else { return false }
            return true
        case .join(let key):
            return openJoins[key] != nil
        case .joinPart(let key, let part):
            return openJoins[key]?.parts[part].isPending ?? false
        case .waiter(let id):
            return waiters[id] != nil
        }
    }

    /// Heartbeats out, silent sessions ended, old idempotency keys pruned.
    func housekeeping() {
        if now - lastHousekeeping < min(config.heartbeatMilliseconds, 250) { return }
        lastHousekeeping = now
        let sendHeartbeats = now - lastHeartbeat >= config.heartbeatMilliseconds
        if sendHeartbeats { lastHeartbeat = now }
        let silentLimit = config.heartbeatMilliseconds * Int64(config.heartbeatMisses)
        var expired: [Session] = []
        for session in sessionsByNumber.values {
            let silent = now - session.lastSeen
            if session.isLive {
                if silent > silentLimit { expired.append(session) }
            } else if silent > max(silentLimit, 60_000) && session.waiting == 0 {
                expired.append(session)  // a publisher that went quiet: nothing to release, just forget it
            }
        }
        for session in expired {
            if session.isLive { counters.sessionsExpired += 1 }
            endSession(session, reason: "no heartbeat for \(now - session.lastSeen) ms")
        }
        if sendHeartbeats {
            for session in sessionsByNumber.values where session.isLive {
                outbox.append(.heartbeat, routedTo: session.routingID)
            }
        }
        if now - lastKeyPrune > 60_000 {
            lastKeyPrune = now
            if let n = try? store.pruneKeys(before: now - config.idempotencyWindowMilliseconds), n > 0 {
                logger.debug("pruned idempotency keys", metadata: ["count": "\(n)"])
            }
        }
    }
}
