import ChorusProtocol
import ChorusStore

/// An AWAIT request waiting for an event (docs/PROTOCOL.md, "AWAIT"): the long poll behind `chorus request --wait`.
struct Waiter {
    let session: Int
    let requestID: [UInt8]
    let correlation: String
    let pattern: TopicPattern
    let afterSeq: UInt64
    /// For `@reply` to an event that opened no join: the event id an answer must name as its causation.
    let causation: String?

    func matches(_ e: Event, topic: [UInt8]) -> Bool {
        e.seq > afterSeq && pattern.matches(topic) && (causation == nil || e.causation == causation)
    }
}

extension Broker {
    func awaitEvent(_ session: Session, _ requestID: [UInt8], _ correlation: String, _ patternText: String, _ after: UInt64, _ ms: UInt64) {
        var pattern: TopicPattern
        var causation: String?
        if patternText == ClientCommand.replyPattern {
            guard let request = fetchEvent(after)?.event else {
                refuse(session, requestID, .notFound, "@reply: no event \(after) in the log")
                return
            }
            if let join = config.joins.first(where: { $0.open.matches(Array(request.topic.utf8)) }) {
                pattern = (try? TopicPattern(join.emit)) ?? (try! TopicPattern(">"))
            } else {
                pattern = try! TopicPattern(">")
                causation = request.id
            }
        } else {
            guard let p = try? TopicPattern(patternText) else { return }  // validated by the decoder
            pattern = p
        }
        let waiter = Waiter(session: session.number, requestID: requestID, correlation: correlation, pattern: pattern, afterSeq: after, causation: causation)
        // Already in the log, the commit in flight or this batch? Answer at once. The log is read through the
        // read-only connection, which does not wait for the commit in flight (the store does).
        let found: Event?
        do {
            var match: Event?
            var cursor = after
            while match == nil {
                let page = try readThroughReader("events of correlation \(correlation)", { try $0.events(correlation: correlation, after: cursor, limit: 1000) })
                    ?? store.events(correlation: correlation, after: cursor, limit: 1000)
                match = page.first { waiter.matches($0, topic: Array($0.topic.utf8)) }
                guard let last = page.last, page.count == 1000 else { break }
                cursor = last.seq
            }
            let unlogged = { (e: LogEntry) in e.event.correlation == correlation && waiter.matches(e.event, topic: e.topic) }
            found = match ?? committing.entries.first(where: unlogged)?.event ?? batch.events.first(where: unlogged)?.event
        } catch {
            refuse(session, requestID, .storageFailed, "reading the log failed: \(error)")
            return
        }
        if let found {
            reply(session, .event(requestID: requestID, event: found))
            return
        }
        guard waiters.count < config.maxWaiters else {
            refuse(session, requestID, .limitReached, "the broker has \(config.maxWaiters) AWAIT requests waiting (limits.max_waiters)")
            return
        }
        let id = nextWaiterID
        nextWaiterID += 1
        waiters[id] = waiter
        session.waiting += 1
        waitersByCorrelation[correlation, default: []].append(id)
        timers.push(PendingDelivery.add(now, Int64(clamping: min(ms, UInt64(Self.maxLeaseMilliseconds)))), .waiter(id: id))
    }

    /// Answers the waiters an appended event satisfies (sent after the commit, with the rest of the outbox).
    func wakeWaiters(_ entry: LogEntry) {
        guard !waiters.isEmpty, let correlation = entry.event.correlation, let ids = waitersByCorrelation[correlation] else { return }
        var remaining: [Int] = []
        for id in ids {
            guard let w = waiters[id] else { continue }
            if w.matches(entry.event, topic: entry.topic), let session = sessionsByNumber[w.session] {
                reply(session, .event(requestID: w.requestID, event: entry.event))
                waiters[id] = nil
                session.waiting -= 1
            } else {
                remaining.append(id)
            }
        }
        waitersByCorrelation[correlation] = remaining.isEmpty ? nil : remaining
    }

    func waiterTimedOut(_ id: Int) {
        guard let w = waiters.removeValue(forKey: id) else { return }
        waitersByCorrelation[w.correlation]?.removeAll { $0 == id }
        if waitersByCorrelation[w.correlation]?.isEmpty == true { waitersByCorrelation[w.correlation] = nil }
        if let session = sessionsByNumber[w.session] {
            session.waiting -= 1
            refuse(session, w.requestID, .awaitTimeout, "no event with correlation '\(w.correlation)' on '\(w.pattern.text)' arrived in time")
        }
    }

    func dropWaiters(of session: Session) {
        for (id, w) in waiters where w.session == session.number {
            waiters[id] = nil
            waitersByCorrelation[w.correlation]?.removeAll { $0 == id }
        }
    }

    // MARK: Blobs

    func putBlob(_ session: Session, _ requestID: [UInt8], _ mediaType: String, _ content: [UInt8]) {
        guard content.count <= config.maxBlobBytes else {
            refuse(session, requestID, .blobTooLarge, "blob of \(content.count) bytes exceeds the limit of \(config.maxBlobBytes) bytes (storage.max_blob)")
            return
        }
        do {
            let hash = try blobs.write(content)
            batch.blobs.append(BlobRecord(hash: hash, size: Int64(content.count), mediaType: mediaType, created: now))
            counters.blobsStored += 1
            reply(session, .blob(requestID: requestID, hash: hash, size: UInt64(content.count), mediaType: mediaType, content: []))
        } catch {
            logger.error("blob write failed", metadata: ["error": "\(error)"])
            refuse(session, requestID, .storageFailed, "the blob could not be stored: \(error)")
        }
    }

    /// Answers with the blob. Its bytes stay in the broker until libzmq has written them to the client, which the
    /// broker cannot otherwise see; so they are counted per client from here until then, and a request that would
    /// take a client past `limits.max_blob_reply_bytes` is refused. One reply is always allowed when none waits,
    /// so every blob can be fetched.
    func getBlob(_ session: Session, _ requestID: [UInt8], _ hash: String) {
        guard let size = blobs.size(hash) else {
            refuse(session, requestID, .notFound, "no blob \(hash)")
            return
        }
        let waiting = session.blobReplyBytes.current
        if waiting > 0 && waiting + size > config.maxBlobReplyBytes {
            counters.blobRepliesRefused += 1
            refuse(
                session, requestID, .limitReached,
                "\(waiting) bytes of blob replies to this client are not yet sent and this blob has \(size) (limits.max_blob_reply_bytes = \(config.maxBlobReplyBytes)); read the replies before asking for more")
            return
        }
        guard let content = blobs.read(hash) else {
            refuse(session, requestID, .notFound, "no blob \(hash)")
            return
        }
        let mediaType = (try? store.blob(hash: hash))?.mediaType ?? "application/octet-stream"
        reply(session, .blob(requestID: requestID, hash: hash, size: UInt64(content.count), mediaType: mediaType, content: []))
        session.blobReplyBytes.add(content.count)
        counters.blobsServed += 1
        blobBodies[outbox.count - 1] = CountedFrame(bytes: content, queued: session.blobReplyBytes, count: content.count)
    }
}
