import ChorusProtocol
import ChorusStore
import Logging
import ZeroMQ

/// Handling of each client command (docs/PROTOCOL.md, "Client commands").
extension Broker {
    /// The longest lease, extension or nack delay accepted: 30 days. Longer values are clamped to it.
    static let maxLeaseMilliseconds: Int64 = 30 * 86_400_000

    /// Handles one message; returns how many commands it counts for in the loop's `batchSize` (a PUBLISHMANY counts
    /// as its events, so an iteration, and its commit, stays about `limits.batch` events however clients group them).
    @discardableResult
    func handle(_ frames: Frames) -> Int {
        let routingID = frames[0]
        // ZMQ_ROUTER_NOTIFY: an empty message after the routing id means the peer disconnected.
        if frames.count == 2 && frames[1].isEmpty {
            if let session = sessionsByRoutingID[routingID] { endSession(session, reason: "disconnected") }
            return 1
        }
        let command: ClientCommand
        do {
            command = try ClientCommand.decode(frames[1...])
        } catch {
            refuse(routingID, error.requestID, error.error)
            return 1
        }
        guard let session = session(for: routingID, requestID: command.requestID) else { return 1 }
        session.lastSeen = now
        switch command {
        case .publish(let requestID, let request):
            publish(session, requestID, request)
        case .publishMany(let requestID, let requests):
            publishMany(session, requestID, requests)
            return requests.count
        case .ack(let requestID, let groupName, let leases):
            ack(session, requestID, groupName, leases)
        case .heartbeat:
            break
        case .hello(let requestID, let properties):
            session.greeted = true
            if let name = properties["name"], !name.isEmpty { session.name = String(name.prefix(64)) }
            var p = Properties()
            p.append("broker", config.name)
            p.append("version", String(ProtocolVersion.current))
            p.append("heartbeat", String(config.heartbeatMilliseconds))
            p.append("heartbeat-misses", String(config.heartbeatMisses))
            p.append("max-payload", String(config.maxPayloadBytes))
            p.append("max-blob", String(config.maxBlobBytes))
            p.append("max-batch", String(ClientCommand.maxBatch))
            p.append("packed", "1")
            p.append("max-frame", String(config.maxFrameBytes))
            p.append("last-seq", String(lastSeq))
            reply(session, .welcome(requestID: requestID, properties: p))
        case .subscribe(let requestID, let group, let patterns, let properties):
            subscribe(session, requestID, group, patterns, properties)
        case .unsubscribe(let requestID, let groupName):
            if let sub = session.subscriptions.removeValue(forKey: groupName), let group = groupsByID[sub.groupID] {
                release(sub, in: group, reason: "unsubscribed")
                group.remove(member: sub)
            }
            reply(session, .unsubscribed(requestID: requestID, group: groupName))
        case .nack(let requestID, let groupName, let lease, var mode, let reason):
            if case .delay(let ms) = mode, ms > UInt64(Self.maxLeaseMilliseconds) { mode = .delay(milliseconds: UInt64(Self.maxLeaseMilliseconds)) }
            settle(session, requestID, groupName, lease, .nack(token: lease.token, mode: mode, reason: reason, now: now))
        case .extend(let requestID, let groupName, let lease, let ms):
            settle(session, requestID, groupName, lease, .extend(token: lease.token, milliseconds: min(Int64(clamping: ms), Self.maxLeaseMilliseconds), now: now))
        case .bye:
            endSession(session, reason: "client said BYE")
        case .await(let requestID, let correlation, let pattern, let after, let ms):
            awaitEvent(session, requestID, correlation, pattern, after, ms)
        case .putBlob(let requestID, let mediaType, let content):
            putBlob(session, requestID, mediaType, content)
        case .getBlob(let requestID, let hash):
            getBlob(session, requestID, hash)
        case .admin(let requestID, let operation, let arguments):
            admin(session, requestID, operation, arguments)
        }
        return 1
    }

    /// The session for a routing id, created on first contact. Nil (and an ERROR sent) when the session limit
    /// is reached.
    func session(for routingID: [UInt8], requestID: [UInt8]) -> Session? {
        if let s = sessionsByRoutingID[routingID] { return s }
        guard sessionsByRoutingID.count < config.maxSessions else {
            refuse(routingID, requestID, ProtocolError(.limitReached, "the broker has reached its limit of \(config.maxSessions) sessions"))
            return nil
        }
        let s = Session(number: nextSessionNumber, routingID: routingID, now: now)
        nextSessionNumber += 1
        sessionsByRoutingID[routingID] = s
        sessionsByNumber[s.number] = s
        return s
    }

    func reply(_ session: Session, _ message: BrokerMessage) {
        closeStaged(of: session)
        outbox.append(message, routedTo: session.routingID)
    }

    /// Refuses a message that may have no session yet (it could not be decoded, or the session limit is reached).
    func refuse(_ routingID: [UInt8], _ requestID: [UInt8], _ error: ProtocolError) {
        if let session = sessionsByRoutingID[routingID] { return refuse(session, requestID, error) }
        count(error)
        outbox.append(.error(requestID: requestID, code: error.code, message: error.message), routedTo: routingID)
    }

    func refuse(_ session: Session, _ requestID: [UInt8], _ error: ProtocolError) {
        count(error)
        reply(session, .error(requestID: requestID, code: error.code, message: error.message))
    }

    func refuse(_ session: Session, _ requestID: [UInt8], _ code: ErrorCode, _ message: String) {
        refuse(session, requestID, ProtocolError(code, message))
    }

    /// Counts a refusal by its code (`chorus stats`, metrics).
    func count(_ error: ProtocolError) {
        counters.errors[error.code.number, default: 0] += 1
        logger.debug("refused", metadata: ["chorus.code": "\(error.code.name)", "chorus.reason": "\(error.message)"])
    }

    // MARK: PUBLISH

    func publish(_ session: Session, _ requestID: [UInt8], _ request: PublishRequest) {
        do throws(ProtocolError) {
            let accepted = try accept(request, from: session)
            reply(session, .confirm(requestID: requestID, seq: accepted.seq, duplicate: accepted.duplicate))
        } catch {
            refuse(session, requestID, error)
        }
    }

    // MARK: PUBLISHMANY

    /// Each event goes in as its own PUBLISH would, in order; one CONFIRMMANY answers them all. It waits in the
    /// outbox like a CONFIRM, so it leaves only after the commit that holds every event it confirms.
    func publishMany(_ session: Session, _ requestID: [UInt8], _ requests: [Result<PublishRequest, ProtocolError>]) {
        var outcomes: [PublishOutcome] = []
        outcomes.reserveCapacity(requests.count)
        for request in requests {
            do throws(ProtocolError) {
                let accepted = try accept(request.get(), from: session)
                outcomes.append(accepted.duplicate ? .duplicate(seq: accepted.seq) : .new(seq: accepted.seq))
            } catch {
                count(error)
                outcomes.append(.refused(error))
            }
        }
        reply(session, .confirmMany(requestID: requestID, outcomes: outcomes))
    }

    /// Validates one event and appends it to this iteration's batch, or finds the earlier event with its
    /// idempotency key (`duplicate`). Throws what refuses it; a refused event is not stored.
    func accept(_ request: PublishRequest, from session: Session) throws(ProtocolError) -> (seq: UInt64, duplicate: Bool) {
        // One byte copy of the topic serves validation, the join check and the log entry; the same topic as the
        // last accepted event (most of a batch) shares that one's bytes, already validated.
        let topic: [UInt8]
        // Compared byte for byte: String's == treats canonically equivalent text as equal, so a topic with a Kelvin
        // sign would pass as the "K" one before it and skip validation.
        if let last = lastAcceptedTopic, request.topic.utf8.elementsEqual(last) {
            topic = last
        } else {
            topic = Array(request.topic.utf8)
            try Topic.validate(topic)
            lastAcceptedTopic = topic
        }
        guard request.payload.count <= config.maxPayloadBytes else {
            throw ProtocolError(
                .payloadTooLarge,
                "payload of \(request.payload.count) bytes exceeds the inline limit of \(config.maxPayloadBytes) bytes")
        }
        var (event, key) = try request.makeEvent(generateID: makeEventID)
        if let deadline = event.deadline, deadline <= now {
            throw ProtocolError(.deadlinePassed, "the event's deadline \(deadline) is already past (now \(now))")
        }
        if event.producer == nil { event.producer = session.name }
        if let key {
            let found: UInt64?
            do { found = try existingSeq(forKey: key) } catch {
                logger.error("idempotency lookup failed", metadata: ["error": "\(error)"])
                throw ProtocolError(.storageFailed, "the idempotency key could not be checked; retry later")
            }
            if let seq = found {
                counters.duplicates += 1
                return (seq, true)
            }
        }
        if !config.joins.isEmpty, let full = joinAtCapacity(forTopic: topic, correlation: event.correlation ?? event.id) {
            throw ProtocolError(.limitReached, "join '\(full.name)' has \(full.maxOpen) open joins (joins.\(full.name).max_open); retry when some close")
        }
        let seq = append(event, topic: topic)
        if let key {
            batch.keys.append((key, seq, now))
            batchKeys[key] = seq
        }
        counters.published += 1
        publishedThisIteration += 1
        return (seq, false)
    }

    /// The first sequence number published with `key` within the idempotency window, if any: from this
    /// iteration's keys or the commit in flight's, else from the read-only connection, which sees every older key
    /// without waiting for that commit. (Through the store, every iteration with a keyed PUBLISH waited for the
    /// commit in flight, so keyed publishing ran at 0.4 of the unkeyed rate.)
    func existingSeq(forKey key: String) throws -> UInt64? {
        if let seq = batchKeys[key] ?? committing.keys[key] { return seq }
        let since = now - config.idempotencyWindowMilliseconds
        // `found` is the reader's answer, nil for "no such key" included; only a failed reader (outer nil) falls
        // through to the store.
        if let found = readThroughReader("idempotency key \(key)", { try $0.lookupKey(key, since: since) }) { return found }
        return try store.lookupKey(key, since: since)
    }

    /// Assigns the next sequence number and queues the event for this iteration's commit.
    @discardableResult
    func append(_ event: consuming Event, topic: [UInt8]? = nil) -> UInt64 {
        lastSeq += 1
        let seq = lastSeq
        event.seq = seq
        event.time = now
        let entry = LogEntry(event, topic: topic)
        batch.events.append(entry)
        batchEntries.append(entry)
        recent.append(entry)
        newEventsAppended = true
        // May append more (the merged record of a join this event closes): `lastSeq` is theirs afterwards.
        observeForJoins(entry)
        wakeWaiters(entry)
        return seq
    }

    func makeEventID() -> String {
        // Time first so ids sort by creation; 64 random bits so they do not collide. Hex, written by hand:
        // String(radix:) was a visible share of the publish path.
        // Written into the string's own storage: one allocation, where building bytes first cost three.
        var t = UInt64(bitPattern: now)
        var r = random.next()
        return String(unsafeUninitializedCapacity: 3 + 12 + 1 + 16) { bytes in
            func hex(_ v: UInt64) -> UInt8 { v < 10 ? 0x30 + UInt8(v) : 0x57 + UInt8(v) }
            bytes[0] = 0x65; bytes[1] = 0x76; bytes[2] = 0x2D  // "ev-"
            for i in stride(from: 14, through: 3, by: -1) { bytes[i] = hex(t & 0xF); t >>= 4 }
            bytes[15] = 0x2D
            for i in stride(from: 31, through: 16, by: -1) { bytes[i] = hex(r & 0xF); r >>= 4 }
            return 32
        }
    }

    // MARK: SUBSCRIBE

    func subscribe(_ session: Session, _ requestID: [UInt8], _ groupName: String, _ patternTexts: [String], _ properties: Properties) {
        do throws(ProtocolError) {
            let patterns = try TopicPatternSet(texts: patternTexts)
            var credit = config.defaultCredit
            if let c = properties["credit"] {
                // 0 pauses a member: it keeps what it holds and gets nothing new (a draining agent).
                guard let n = Int(c), n >= 0, n <= 100_000 else { throw ProtocolError(.invalidProperty, "credit must be 0 to 100000, got '\(c)'") }
                credit = n
            }
            var batchSize = 1
            if let b = properties["batch"] {
                guard let n = Int(b), n >= 1, n <= ClientCommand.maxBatch else {
                    throw ProtocolError(.invalidProperty, "batch must be 1 to \(ClientCommand.maxBatch), got '\(b)'")
                }
                batchSize = n
            }
            var packed = false
            if let v = properties["packed"] {
                guard v == "0" || v == "1" else { throw ProtocolError(.invalidProperty, "packed must be 0 or 1, got '\(v)'") }
                packed = v == "1"
            }
            let start = try StartPosition(properties["start"] ?? "new")
            if session.subscriptions[groupName] == nil && session.subscriptions.count >= config.maxSubscriptionsPerSession {
                throw ProtocolError(.limitReached, "a session may hold at most \(config.maxSubscriptionsPerSession) subscriptions")
            }
            var created = false
            let group: ConsumerGroup
            if let existing = groups[groupName] {
                guard Set(existing.patterns.patterns) == Set(patterns.patterns) else {
                    throw ProtocolError(
                        .groupMismatch,
                        "group '\(groupName)' exists with patterns [\(existing.patterns.text.replacingNewlines)]; subscribe with the same patterns or use another group"
                    )
                }
                group = existing
            } else {
                guard groups.count < config.maxGroups else {
                    throw ProtocolError(.limitReached, "the broker has reached its limit of \(config.maxGroups) groups")
                }
                group = try createGroup(groupName, patterns, start, properties)
                created = true
            }
            if let sub = session.subscriptions[groupName] {
                closeStaged(sub)
                sub.credit = credit
                sub.batch = batchSize
                sub.packed = packed
            } else {
                let sub = Subscription(
                    session: session, groupID: group.id, credit: credit, maxInFlightBytes: config.maxInFlightBytes, batch: batchSize, packed: packed)
                session.subscriptions[groupName] = sub
                group.members.append(sub)
            }
            dirtyGroups.insert(group.id)
            var p = Properties()
            p.append("created", created ? "yes" : "no")
            p.append("cursor", String(group.cursor))
            p.append("credit", String(credit))
            p.append("max-attempts", String(group.maxAttempts))
            p.append("ack-timeout", String(group.ackTimeout))
            p.append("batch", String(batchSize))
            p.append("packed", packed ? "1" : "0")
            reply(session, .subscribed(requestID: requestID, group: groupName, properties: p))
        } catch {
            refuse(session, requestID, error)
        }
    }

    func createGroup(_ name: String, _ patterns: TopicPatternSet, _ start: StartPosition, _ p: Properties) throws(ProtocolError) -> ConsumerGroup {
        var maxAttempts = config.maxAttempts
        var ackTimeout = config.ackTimeoutMilliseconds
        if let v = p["max-attempts"] {
            guard let n = Int(v), n >= 1, n <= 1000 else { throw ProtocolError(.invalidProperty, "max-attempts must be 1 to 1000, got '\(v)'") }
            maxAttempts = n
        }
        if let v = p["ack-timeout"] {
            guard let n = Int64(v), n >= 1, n <= Self.maxLeaseMilliseconds else {
                throw ProtocolError(.invalidProperty, "ack-timeout must be 1 to \(Self.maxLeaseMilliseconds) milliseconds (30 days), got '\(v)'")
            }
            ackTimeout = n
        }
        if let o = config.groups[name] {
            maxAttempts = o.maxAttempts ?? maxAttempts
            ackTimeout = o.ackTimeoutMilliseconds ?? ackTimeout
        }
        let cursor: UInt64
        switch start {
        case .new: cursor = lastSeq + 1
        case .first: cursor = 1
        case .sequence(let n): cursor = max(n, 1)
        }
        let id = (groupsByID.keys.max() ?? 0) + 1
        let record = GroupRecord(
            id: id, name: name, patterns: patterns.text, cursor: cursor, created: now, maxAttempts: maxAttempts,
            ackTimeoutMilliseconds: ackTimeout)
        batch.newGroups.append(record)
        let group = ConsumerGroup(record: record, patterns: patterns, maxPending: config.maxPendingPerGroup)
        groups[name] = group
        groupsByID[id] = group
        logger.info("group created", metadata: ["chorus.group": "\(name)", "patterns": "\(patterns.text.replacingNewlines)", "cursor": "\(cursor)"])
        return group
    }

    // MARK: ACK, NACK, EXTEND

    func ack(_ session: Session, _ requestID: [UInt8], _ groupName: String, _ leases: [Lease]) {
        guard let group = groups[groupName], session.subscriptions[groupName] != nil else {
            refuse(session, requestID, .notSubscribed, "this session is not subscribed to group '\(groupName)'")
            return
        }
        var settled: UInt64 = 0
        var stale: [Lease] = []
        for lease in leases {
            guard var entry = group.pending[lease.seq] else {
                stale.append(lease)
                continue
            }
            let holder = entry.session
            switch entry.handle(.ack(token: lease.token), maxAttempts: group.maxAttempts) {
            case .settle:
                group.pending[lease.seq] = nil
                if let holder { sessionsByNumber[holder]?.subscriptions[groupName]?.drop(lease.seq) }
                forget(lease.seq, in: group)
                group.acked += 1
                counters.acked += 1
                settled += 1
            default:
                stale.append(lease)
            }
        }
        if settled > 0 { dirtyGroups.insert(group.id) }
        if !stale.isEmpty {
            counters.staleAcks += UInt64(stale.count)
            refuse(
                session, requestID, .staleLease,
                "\(stale.count) lease(s) are not current deliveries (acked already, redelivered, or unknown): \(stale.prefix(8).map(\.description).joined(separator: " "))"
            )
        } else if !requestID.isEmpty {
            reply(session, .acked(requestID: requestID, count: settled))
        }
    }

    func settle(_ session: Session, _ requestID: [UInt8], _ groupName: String, _ lease: Lease, _ input: PendingDelivery.Input) {
        guard let group = groups[groupName], session.subscriptions[groupName] != nil else {
            refuse(session, requestID, .notSubscribed, "this session is not subscribed to group '\(groupName)'")
            return
        }
        guard var entry = group.pending[lease.seq] else {
            counters.staleAcks += 1
            refuse(session, requestID, .staleLease, "lease \(lease) is not a current delivery")
            return
        }
        let holder = entry.session.flatMap { sessionsByNumber[$0]?.subscriptions[groupName] }
        let action = entry.handle(input, maxAttempts: group.maxAttempts)
        switch action {
        case .stale:
            counters.staleAcks += 1
            refuse(session, requestID, .staleLease, "lease \(lease) is not a current delivery")
            return
        case .extended(let until):
            group.pending[lease.seq] = entry
            timers.push(until, .lease(groupID: group.id, seq: lease.seq, token: lease.token))
            if !requestID.isEmpty { reply(session, .extended(requestID: requestID, expiresAt: UInt64(max(0, until)))) }
            return
        default:
            counters.nacked += 1
            apply(action, to: entry, in: group, holder: holder)
            if !requestID.isEmpty { reply(session, .nacked(requestID: requestID)) }
        }
    }

    // MARK: Sessions

    func endSession(_ session: Session, reason: String) {
        var released = 0
        let groupNames = session.subscriptions.keys.sorted()
        for (_, sub) in session.subscriptions {
            guard let group = groupsByID[sub.groupID] else { continue }
            released += sub.inFlight.count
            release(sub, in: group, reason: reason)
            group.remove(member: sub)
        }
        session.subscriptions.removeAll()
        dropWaiters(of: session)
        sessionsByRoutingID[session.routingID] = nil
        sessionsByNumber[session.number] = nil
        let metadata: Logger.Metadata = ["chorus.client": "\(session.name ?? hex(session.routingID))", "reason": "\(reason)"]
        if groupNames.isEmpty {
            logger.debug("session ended", metadata: metadata)
        } else {
            // A consumer going away is what an operator looks for when work stops or comes back late.
            var m = metadata
            m["chorus.groups"] = "\(groupNames.joined(separator: ","))"
            m["released"] = "\(released)"
            if released > 0 { logger.warning("consumer session ended; its deliveries go back to their groups", metadata: m) }
            else { logger.info("consumer session ended", metadata: m) }
        }
    }

    /// Returns every delivery a member holds to its group.
    func release(_ sub: Subscription, in group: ConsumerGroup, reason: String) {
        dropStaged(sub)
        for seq in sub.inFlight.keys.sorted() {
            guard var entry = group.pending[seq] else { continue }
            let action = entry.handle(.released(reason: reason, now: now), maxAttempts: group.maxAttempts)
            apply(action, to: entry, in: group, holder: sub)
        }
        sub.dropAll()
    }
}

extension String {
    var replacingNewlines: String { split(separator: "\n").joined(separator: ", ") }
}
