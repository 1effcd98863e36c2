import ChorusConfig
import ChorusProtocol
import ChorusStore
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// The broker: one thread that owns the ROUTER and XPUB sockets and all routing state, and a commit thread that
/// writes large batches to the SQLite store while the broker thread goes on (`CommitPipeline`).
///
/// DESIGN. One thread handles every command, like redis, so routing state is never shared or locked; the store is
/// used by one thread at a time (the broker thread waits for the commit in flight before it touches it). Each loop
/// iteration:
///   1. waits (zmq_poll) on the ROUTER, the XPUB, the metrics socket, the stop pipe and the commit thread's wake
///      pipe, at most until the next timer;
///   2. reads messages worth up to `batchSize` commands (a PUBLISHMANY counts as its events) and handles each,
///      collecting writes into one `WriteBatch` and replies into an outbox;
///   3. fires due timers (lease expiry, retries) and dispatches to groups with work;
///   4. commits the batch in one SQLite transaction (group commit), on the commit thread when the batch is large
///      (`CommitPipeline`: the next iteration's work overlaps the commit);
///   5. only then sends the outbox (CONFIRMs, DELIVERs) and republishes new events on the firehose.
/// Nothing is confirmed or delivered before it is committed, so a kill -9 at any point loses no confirmed event
/// and no delivery the broker has not recorded. A failed commit stops the broker (exit status 75 from the CLI):
/// what was confirmed is on disk and a restart recovers every group from it.
public final class Broker {
    let config: BrokerConfig
    let logger: Logger
    /// The store itself. Broker code goes through `store`, which first waits for the commit in flight.
    let storage: any EventStore
    let commits: CommitPipeline
    /// What waits on the commit in flight: sent, or published on the firehose, once it has committed.
    var committing = CommittingBatch()
    /// An emptied `CommittingBatch` whose arrays keep their storage, so each iteration does not regrow them.
    var spareCommitting = CommittingBatch()
    let router: ZMQSocket
    let firehose: ZMQSocket
    /// The endpoints actually bound (with real ports when `*` was asked for).
    public let boundEndpoint: String
    public let boundFirehose: String

    var sessionsByRoutingID: [[UInt8]: Session] = [:]
    var sessionsByNumber: [Int: Session] = [:]
    var nextSessionNumber = 1
    var groups: [String: ConsumerGroup] = [:]
    var groupsByID: [Int64: ConsumerGroup] = [:]
    var dirtyGroups: Set<Int64> = []
    var lastSeq: UInt64
    var recent: RecentEvents
    /// Pages read back from the log for groups behind `recent`, shared by all of them.
    var logPages = LogPageCache()
    var timers = TimerHeap()
    /// The heap size at which dead timers are swept out next.
    var timerSweepAt = Broker.timerSweepFloor
    var random = FastRandom()
    public internal(set) var counters = BrokerCounters()

    // Per-iteration state.
    var batch = WriteBatch()
    /// The entries of `batch.events`, for the firehose after commit.
    var batchEntries: [LogEntry] = []
    /// Events were appended this iteration: every group may have work.
    var newEventsAppended = false
    /// Observers subscribed to the firehose (XPUB subscribe minus unsubscribe messages); 0 skips encoding.
    var firehoseSubscriptions = 0
    var outbox = MessageBatch()
    /// Members with deliveries staged for a DELIVERMANY this iteration (`Broker+Batching.swift`).
    var membersWithStaged: [Subscription] = []
    var batchKeys: [String: UInt64] = [:]
    /// This iteration's `BLOB` reply contents, by outbox message index (`CommittingBatch.blobBodies`).
    var blobBodies: [Int: CountedFrame] = [:]
    /// Sessions whose connections held `delivery.max_in_flight_bytes` of unsent large messages when last sent one.
    var sessionsWithUnsentBytes: Set<Int> = []
    /// The bytes of the last accepted event's topic, validated (`accept`).
    var lastAcceptedTopic: [UInt8]?
    var now: Int64 = 0
    var lastHousekeeping: Int64 = 0
    var lastHeartbeat: Int64 = 0
    // Joins (Broker+Joins.swift).
    var openJoins: [JoinKey: JoinState] = [:]
    /// The lowest opening event of the joins left open in the log whose join is no longer configured: retention
    /// keeps everything from it, so those joins can finish if their sections come back.
    var unconfiguredOpenJoinFloor: UInt64?
    var openJoinCount: [String: Int] = [:]
    /// Joins closed by writes not yet committed, which the read-only connection cannot see yet.
    var uncommittedJoinCloses = UncommittedJoinCloses()
    // AWAIT requests (Broker+Await.swift).
    var waiters: [Int: Waiter] = [:]
    var waitersByCorrelation: [String: [Int]] = [:]
    var nextWaiterID = 1
    let blobs: BlobStore
    let startedAt = nowMilliseconds()
    /// (time, last sequence number) once a second, for event rates.
    var rateSamples: [(time: Int64, seq: UInt64)] = []
    var lastCompaction: Int64 = 0
    /// A read-only connection for `log.read` (remote tail), join and idempotency-key lookups, reads of single old
    /// events and AWAIT's search, opened on first use (`readOnlyLog`). Those reads need not wait for the commit in
    /// flight, as reads through the store do.
    var logReader: LogReader?
    /// The read-only connection failed a lookup or a read: until this time (ms) they go to the store, which is
    /// correct but waits for the commit in flight; then a fresh connection is tried (`readThroughReader`).
    var readerRetryAt: Int64?
    /// How long reads go to the store after the read-only connection failed.
    static let readerRetryMilliseconds: Int64 = 10_000
    // Metrics (BrokerMetrics.swift, MetricsEndpoint.swift).
    let metrics = BrokerMetrics()
    let metricsEndpoint: MetricsEndpoint?
    let renderMetrics: (@Sendable () -> String)?
    /// Monotonic time the current iteration started reading messages.
    var iterationStart: UInt64 = 0
    /// Events published this iteration (for publish-to-commit) and first deliveries (for publish-to-deliver).
    var publishedThisIteration = 0
    var firstDeliveries: [(seq: UInt64, time: Int64)] = []
    /// Whether the latency histograms are recorded: only when the metrics endpoint can serve them.
    let measuring: Bool
    /// The bound metrics address, when the endpoint is on.
    public var boundMetrics: String? { metricsEndpoint?.address }
    var lastKeyPrune: Int64 = 0
    var hasMoreWork = false
    /// Iterations that handled fewer commands than this (a PUBLISHMANY counts as its events) commit on the broker
    /// thread; larger ones on the commit thread.
    static let inlineCommitLimit = 16
    /// An iteration stops reading commands once it has read this many bytes of messages (it always reads one).
    /// Its commit is what every other client's reply waits behind: at 32 MiB, a small publish made during a flood
    /// of 1 MB events waited 0.2 to 1.6 s; at 8 MiB, 14 to 320 ms, and the flood itself went no slower (64 KB
    /// events: x1.09 throughput, x0.81 broker CPU, 6 alternating pairs).
    static let maxBytesPerIteration = 8 << 20

    /// Opens the store, recovers groups and binds the sockets. Call on the thread that will call `run`.
    /// `renderMetrics` turns the metrics backend's registry into Prometheus text; with `metrics.address` set in
    /// the config, the broker serves it on `GET /metrics`.
    public init(config: BrokerConfig, logger: Logger, renderMetrics: (@Sendable () -> String)? = nil) throws {
        self.renderMetrics = renderMetrics
        self.config = config
        self.logger = logger
        try Self.makeDirectory(config.dataDirectory)
        storage = try SQLiteEventStore(path: config.logPath, durability: config.durability, logger: logger)
        commits = CommitPipeline(store: storage)
        lastSeq = try storage.lastSequence()
        recent = RecentEvents(capacity: config.recentEvents, maxBytes: config.recentBytes)

        router = try ZMQSocket(.router)
        try router.setOption(ZMQOption.routerMandatory, 1)
        try router.setOption(ZMQOption.sendHighWaterMark, 100_000)
        // What one client can park in the broker (`limits.connection_queue`). The default, 1,000, is libzmq's own;
        // the 100,000 set here before let a publisher with a deep window of large events park gigabytes. Lower
        // bounds memory tighter but costs small events: at 100, 12% of per-message publish throughput.
        try router.setOption(ZMQOption.receiveHighWaterMark, Int32(config.connectionQueue))
        // Frames far above the payload limit are cut off by libzmq (the peer is disconnected) so a hostile
        // client cannot make the broker allocate gigabytes; below this, oversized payloads get an ERROR reply.
        try router.setOption(ZMQOption.maxMessageSize, int64: Int64(config.maxFrameBytes))
        // Where libzmq has draft APIs, a disconnecting peer produces an empty message: its work returns at once.
        if (try? router.setOption(ZMQOption.routerNotify, ZMQOption.notifyDisconnect)) == nil {
            logger.debug("ZMQ_ROUTER_NOTIFY unavailable; dead consumers are found by heartbeats")
        }
        try router.bind(config.endpoint)
        boundEndpoint = router.lastEndpoint

        firehose = try ZMQSocket(.xpub)
        try firehose.setOption(ZMQOption.sendHighWaterMark, Int32(clamping: config.firehoseHighWaterMark))
        try firehose.bind(config.firehoseEndpoint)
        boundFirehose = firehose.lastEndpoint

        blobs = BlobStore(directory: config.dataDirectory + "/blobs")
        metricsEndpoint = try config.metricsAddress.map { try MetricsEndpoint(address: $0) }
        measuring = metricsEndpoint != nil
        try recover()
    }

    static func makeDirectory(_ path: String) throws {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw ConfigError(file: path, key: "broker.data_dir", message: "cannot create directory \(current): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Rebuilds groups and their pending deliveries from the store. Deliveries that were in flight when the
    /// broker stopped are released (their attempt counts and history kept) and go out again.
    func recover() throws {
        now = nowMilliseconds()
        // Joins first: a delivery released below on its last attempt is dead-lettered, and a dead-lettered
        // request fails its part of an open join, which must be known by then (else the part counts as late).
        try recoverJoins()
        for record in try store.loadGroups() {
            let patterns = try TopicPatternSet(texts: record.patterns.split(separator: "\n").map(String.init))
            var r = record
            if let o = config.groups[record.name] {
                r.maxAttempts = o.maxAttempts ?? r.maxAttempts
                r.ackTimeoutMilliseconds = o.ackTimeoutMilliseconds ?? r.ackTimeoutMilliseconds
            }
            let group = ConsumerGroup(record: r, patterns: patterns, maxPending: config.maxPendingPerGroup)
            groups[group.name] = group
            groupsByID[group.id] = group
            var released = 0
            // Every delivery in flight when the broker stopped goes back to its group as a failed attempt.
            func release(_ entry: PendingDelivery) {
                var entry = entry
                let action = entry.handle(.released(reason: "broker restarted", now: now), maxAttempts: group.maxAttempts)
                apply(action, to: entry, in: group, holder: nil)
                released += 1
            }
            let rows = try store.loadPending(groupID: group.id)
            let withRows = Set(rows.map(\.seq))
            // First deliveries in flight have no row: from their release on they have one (a failed attempt is
            // recorded). Who held them is not kept.
            for seq in record.firstDeliveriesInFlight where !withRows.contains(seq) {
                release(PendingDelivery(seq: seq, attempt: 1, phase: .inFlight(session: 0, token: random.token(), expires: now)))
            }
            if !record.firstDeliveriesInFlight.isEmpty { group.firstDeliveriesDirty = true }
            for row in rows {
                if row.token != 0 {
                    release(PendingDelivery(
                        seq: row.seq, attempt: row.attempt, phase: .inFlight(session: 0, token: row.token, expires: row.due),
                        history: row.history, consumer: row.consumer))
                } else {
                    let entry = PendingDelivery(seq: row.seq, attempt: row.attempt, phase: .waiting(notBefore: row.due), history: row.history, consumer: row.consumer)
                    group.pending[row.seq] = entry
                    scheduleRetry(group, row.seq, notBefore: row.due)
                }
            }
            logger.info(
                "recovered group",
                metadata: ["chorus.group": "\(group.name)", "cursor": "\(group.cursor)", "pending": "\(group.pending.count)", "released": "\(released)"])
        }
        queueGroupPositions()
        try store.commit(batch)
        uncommittedJoinCloses.batchCommittedInline()
        batch = WriteBatch()
        dirtyGroups = Set(groupsByID.keys)
    }

    /// Runs until `stop` is signalled. Must be called on the thread that created the broker.
    public func run(stop: StopSignal) throws {
        logger.info(
            "broker ready",
            metadata: ["chorus.endpoint": "\(boundEndpoint)", "chorus.firehose": "\(boundFirehose)", "chorus.metrics": "\(boundMetrics ?? "off")", "chorus.log": "\(config.logPath)", "last_seq": "\(lastSeq)"])
        var poller = ZMQPoller()
        poller.add(.socket(router))
        let firehoseIndex = poller.add(.socket(firehose))
        let stopIndex = poller.add(.fd(stop.readFD))
        let metricsIndex = metricsEndpoint.map { poller.add(.socket($0.socket)) }
        let commitIndex = poller.add(.fd(commits.wake.readFD))
        defer { commits.stop() }
        while true {
            let timeout = pollTimeout()
            let ready = try poller.poll(timeoutMilliseconds: timeout)
            if ready[stopIndex] && stop.isStopRequested { break }
            now = nowMilliseconds()
            iterationStart = measuring ? monotonicNanoseconds() : 0
            // A commit finished while we waited: send what waited on it now, not after this iteration.
            if ready[commitIndex] { try settleCommit() }
            if ready[firehoseIndex] { drainFirehoseSubscriptions() }
            if let metricsIndex, ready[metricsIndex] { serveMetrics() }
            var handled = 0
            var bytesRead = 0
            // Bounded in bytes as well as in commands: 2,048 PUBLISHes of 1 MiB made one 2 GiB batch (and commit),
            // and the broker's memory followed it.
            while handled < config.batchSize && bytesRead < Self.maxBytesPerIteration, let frames = try router.receive(dontWait: true) {
                for frame in frames { bytesRead += frame.count }
                handled += handle(frames)
            }
            hasMoreWork = handled >= config.batchSize || bytesRead >= Self.maxBytesPerIteration
            fireTimers()
            sweepTimersIfDue()
            dispatchDirtyGroups()
            housekeeping()
            unblockMembersWithUnsentBytes()
            sampleRates()
            do { try compact(force: false) } catch { logger.error("compaction failed", metadata: ["error": "\(error)"]) }
            // An iteration that handled few commands commits here: handing its batch to the commit thread and back
            // costs two thread wake-ups, more than a small commit, and at low rates latency is what matters. (The
            // batch can still be large, from timers or a backlog dispatched; the command count is the cheap proxy.)
            try flush(inline: handled < Self.inlineCommitLimit)
        }
        try flush()
        logger.info("broker stopped", metadata: ["last_seq": "\(lastSeq)"])
        router.close()
        firehose.close()
    }

    func pollTimeout() -> Int {
        if hasMoreWork || !dirtyGroups.isEmpty { return 0 }
        let tick = Int64(min(config.heartbeatMilliseconds, 250))
        var wait = tick
        if let due = timers.nextDue { wait = min(wait, max(0, due - nowMilliseconds())) }
        return Int(wait)
    }

    /// The store, once the commit in flight has finished (its messages sent): the broker thread never uses the
    /// store while the commit thread does.
    var store: any EventStore {
        get throws {
            // Waits only: the messages that waited on that commit go out at the next flush or loop turn, never
            // in the middle of a command (a failed send ends a session, which must not happen mid-command).
            try waitForCommit()
            return storage
        }
    }

    /// Queues the cursors and the lists of first deliveries in flight that changed, for the next commit.
    func queueGroupPositions() {
        for g in groupsByID.values where g.cursorDirty || g.firstDeliveriesDirty {
            if g.cursorDirty { batch.cursors[g.id] = g.cursor }
            if g.firstDeliveriesDirty { batch.firstDeliveriesInFlight[g.id] = g.firstDeliveriesInFlight.ascending }
            g.cursorDirty = false
            g.firstDeliveriesDirty = false
        }
    }

    /// Commits the iteration's writes, on this thread (`inline`) or the commit thread; what waited on them is sent
    /// when that commit has finished. The previous iteration's commit is settled first, so messages leave in order.
    func flush(inline: Bool = true) throws {
        // Settling first: sending the previous commit's messages can end a session whose deliveries then go back
        // to their groups, and the lists queued must include that.
        try settleCommit()
        closeAllStaged()
        queueGroupPositions()
        var next = spareCommitting
        spareCommitting = CommittingBatch()
        swap(&next.outbox, &outbox)
        swap(&next.entries, &batchEntries)
        swap(&next.firstDeliveries, &firstDeliveries)
        next.published = publishedThisIteration
        next.iterationStart = iterationStart
        publishedThisIteration = 0
        swap(&next.keys, &batchKeys)
        swap(&next.blobBodies, &blobBodies)
        if batch.isEmpty {
            committing = next
            sendCommitted()
        } else if inline {
            committing = next
            try commitInline()
        } else {
            let recycled = commits.takeEmptiedBatch()
            commits.submit(batch)
            uncommittedJoinCloses.batchSubmitted()
            batch = recycled ?? WriteBatch()
            committing = next
        }
    }

    /// Commits the batch on this thread (nothing is in flight) and sends what waited on it.
    private func commitInline() throws {
        do {
            try storage.commit(batch)
        } catch {
            throw commitFailed(error)
        }
        uncommittedJoinCloses.batchCommittedInline()
        batch.removeAll()
        committed()
        sendCommitted()
    }

    /// Counts a finished commit and records its events' publish-to-commit time.
    private func committed() {
        counters.commits += 1
        guard measuring, committing.published > 0 else { return }
        let elapsed = Int64(monotonicNanoseconds() - committing.iterationStart)
        for _ in 0..<committing.published { metrics.publishToCommit.recordNanoseconds(elapsed) }
    }

    /// A failed commit stops the broker: nothing that waited on it is sent. Confirms that waited on it are dropped;
    /// their publishers time out and retry against the restarted broker, and idempotency keys make that safe.
    private func commitFailed(_ error: any Error) -> any Error {
        logger.critical("log commit failed; stopping so that nothing unconfirmed is sent", metadata: ["error": "\(error)"])
        return error
    }

    /// Waits for the commit in flight, if any, then sends what waited on it. A failed commit stops the broker.
    func settleCommit() throws {
        try waitForCommit()
        sendCommitted()
    }

    /// Waits for the commit in flight, if any; what waited on it stays in `committing` until it is sent.
    private func waitForCommit() throws {
        if commits.inFlight || commits.failed {
            do {
                try commits.finish()
            } catch {
                throw commitFailed(error)
            }
            uncommittedJoinCloses.commitFinished()
            committed()
        }
    }

    /// Sends the committed batch's messages and republishes its events on the firehose.
    private func sendCommitted() {
        guard !committing.isEmpty else { return }
        var done = spareCommitting
        spareCommitting = CommittingBatch()
        swap(&done, &committing)
        defer {
            // The arrays' storage serves the next iteration's outbox.
            done.removeAll()
            spareCommitting = done
        }
        for message in 0..<done.outbox.count {
            if !done.blobBodies.isEmpty, let body = done.blobBodies[message] {
                send(message, of: done.outbox, body: body)
            } else if done.outbox.byteCount(of: message) >= Self.countedMessageBytes,
                let session = sessionsByRoutingID[done.outbox.frame(0, of: message)]
            {
                sendCounted(message, of: done.outbox, to: session)
            } else {
                send(message, of: done.outbox)
            }
        }
        if !done.firstDeliveries.isEmpty {
            // Events of that iteration (at or after its first new seq): measured from when their PUBLISH was read
            // (monotonic); older ones from their accept time (milliseconds).
            let sentNanos = monotonicNanoseconds()
            let wall = nowMilliseconds()
            let firstNew = done.entries.first?.seq ?? .max
            for d in done.firstDeliveries {
                metrics.publishToDeliver.recordNanoseconds(d.seq >= firstNew ? Int64(sentNanos - done.iterationStart) : (wall - d.time) * 1_000_000)
            }
        }
        if firehoseSubscriptions > 0 {
            for entry in done.entries { publishFirehose(entry) }
        }
    }

    /// Messages from this size on are counted against their client until libzmq has written them
    /// (`Session.unsentBytes`); below it, what a member can hold is bounded by credit and leases alone.
    static let countedMessageBytes = 64 * 1024

    /// Sends a large message counted in its session's unsent bytes; a member whose connection holds enough of them
    /// gets no more deliveries until libzmq has written them, which no command announces: so its groups are
    /// looked at again at each tick until then (`unblockMembersWithUnsentBytes`).
    func sendCounted(_ message: Int, of batch: MessageBatch, to session: Session) {
        let bytes = batch.byteCount(of: message)
        session.unsentBytes.add(bytes)
        if session.unsentBytes.current >= config.maxInFlightBytes { sessionsWithUnsentBytes.insert(session.number) }
        send(message, of: batch, body: CountedFrame(bytes: nil, queued: session.unsentBytes, count: bytes))
    }

    /// Marks the groups of sessions whose connections held too many unsent bytes, once they hold fewer.
    func unblockMembersWithUnsentBytes() {
        guard !sessionsWithUnsentBytes.isEmpty else { return }
        for number in sessionsWithUnsentBytes {
            guard let session = sessionsByNumber[number] else {
                sessionsWithUnsentBytes.remove(number)
                continue
            }
            guard session.unsentBytes.current < config.maxInFlightBytes else { continue }
            sessionsWithUnsentBytes.remove(number)
            for s in session.subscriptions.values { dirtyGroups.insert(s.groupID) }
        }
    }

    /// Sends one message (routing id first), its last frame counted when `body` says so. A peer that is gone or
    /// not reading loses its session.
    func send(_ message: Int, of batch: MessageBatch, body: CountedFrame? = nil) {
        do {
            if let body {
                if try router.send(message: message, of: batch, lastFrame: body.bytes, counting: body.queued, count: body.count, dontWait: true) { return }
            } else if try router.send(message: message, of: batch, dontWait: true) {
                return
            }
            logger.warning("client is not reading; closing its session", metadata: ["chorus.client": "\(hex(batch.frame(0, of: message)))"])
        } catch let error as ZMQError where error.hostUnreachable {
            logger.debug("client gone", metadata: ["chorus.client": "\(hex(batch.frame(0, of: message)))"])
        } catch {
            logger.error("send failed", metadata: ["error": "\(error)"])
        }
        if let session = sessionsByRoutingID[batch.frame(0, of: message)] { endSession(session, reason: "client unreachable") }
    }

    func publishFirehose(_ entry: LogEntry) {
        let frames: Frames = [entry.topic, FrameCoding.number(entry.seq), entry.encodeProperties(), entry.event.payload]
        if (try? firehose.send(frames, dontWait: true)) != true { counters.firehoseDropped += 1 }
    }

    func drainFirehoseSubscriptions() {
        // XPUB hands subscription messages up: byte 1 subscribes, byte 0 unsubscribes. Only the count matters,
        // so that a broker nobody observes does not encode every event twice.
        while let message = try? firehose.receive(dontWait: true) {
            guard let first = message.first?.first else { continue }
            if first == 1 { firehoseSubscriptions += 1 } else if first == 0 { firehoseSubscriptions = max(0, firehoseSubscriptions - 1) }
        }
    }

    /// Answers scrapes: the counters become gauges first, so a scrape sees this instant's state.
    func serveMetrics() {
        guard let endpoint = metricsEndpoint else { return }
        endpoint.serve {
            let joins = config.joins.map { d in
                (name: d.name, open: openJoinCount[d.name] ?? 0, closed: counters.joinsClosed[d.name] ?? [:])
            }
            metrics.publish(
                counters, groups: Array(groups.values), joins: joins, lastSeq: lastSeq, sessions: sessionsByNumber.count,
                logBytes: (try? store.fileBytes()) ?? 0)
            return renderMetrics?() ?? "# no metrics backend\n"
        }
    }

    func hex(_ bytes: [UInt8]) -> String { SHA256.hex(bytes) }
}
