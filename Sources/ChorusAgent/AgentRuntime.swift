import ChorusClient
import ChorusProtocol
import Foundation
import Logging
import ZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Runs an agent: subscribes its group with credit = concurrency, runs the handler for each delivery on worker
/// threads, publishes each result with the request's correlation and causation ids, and acks only after the
/// result is confirmed (at-least-once end to end).
///
/// DESIGN. One thread — the caller of `run` — owns the DEALER socket (through `BrokerConnection`) and all job
/// state; workers never touch the socket, they hand results back through `WorkerPool` and a wake pipe. Each job
/// moves through: running -> (storing its artifact as a blob) -> publishing its result -> acked. Long jobs get
/// their lease extended; a silent broker (no heartbeat for heartbeat x misses) means reconnect with backoff and
/// carry on; so does an `ERROR NOT_SUBSCRIBED`, the broker saying it has ended this session (after a silence, as
/// when the process was stopped past heartbeat x misses) while the socket still works. A job counts as done only
/// when the broker answers its ack with `ACKED`; an ack refused because the lease or the session had ended means
/// the broker has given the request out again. Stopping drains: no new work, in-flight jobs finish (or are released
/// at the drain timeout), BYE.
public final class AgentRuntime {
    final class Job {
        let delivery: Delivery
        let job: AgentJob
        var output: AgentOutput?
        var blobHash: String?
        var lastExtend: Int64

        init(delivery: Delivery, job: AgentJob, now: Int64) {
            self.delivery = delivery
            self.job = job
            self.lastExtend = now
        }
    }

    let manifest: AgentManifest
    let endpoint: String
    let logger: Logger
    let handler: AgentHandler
    private var connection: BrokerConnection?
    private var jobs: [UInt64: Job] = [:]
    private var requests: [[UInt8]: UInt64] = [:]
    /// Jobs whose result is confirmed and whose ACK awaits its answer, by the ack's request id.
    private var acks: [[UInt8]: Job] = [:]
    /// Results made for requests the broker then gave out again (the ack was refused or went unanswered), newest
    /// last, at most `keptResultLimit`: when such a request comes back to this agent, its result is published
    /// again instead of generated again (a model run can take minutes). Kept 5 minutes at most, well inside the
    /// blob store's ten minutes of grace for a blob it names.
    private var keptResults: [(seq: UInt64, output: AgentOutput, blobHash: String?, at: Int64)] = []
    static let keptResultLimit = 32
    private var ackTimeout: Int64 = 30 * 60_000
    private var heartbeat: Int64 = 1000
    private var misses: Int64 = 3
    /// The group's attempt limit in force, from SUBSCRIBED: a retryable failure on this attempt dead-letters.
    private var maxAttempts: UInt32?
    /// The broker's limits from WELCOME: a PUBLISH payload above `maxPayload` is refused, so a larger result goes
    /// by claim check; content above `maxBlob` cannot go at all.
    private var maxPayload = Int.max
    private var maxBlob = Int.max
    private var draining = false
    /// The signal `run` was given: a wait for the broker also watches it.
    private var stopSignal: WakePipe?
    private var drainDeadline: Int64 = 0
    /// Jobs handled (their ack answered `ACKED`), for logs and tests.
    public private(set) var completed = 0
    /// Jobs whose ack the broker refused (`STALE_LEASE`, `NOT_SUBSCRIBED`): the request went to another attempt.
    public private(set) var ackRefused = 0

    public init(manifest: AgentManifest, endpoint: String, logger: Logger, handler: @escaping AgentHandler) {
        self.manifest = manifest
        self.endpoint = endpoint
        self.logger = logger
        self.handler = handler
    }

    static func now() -> Int64 { BrokerConnection.now() }

    /// Runs until `stop` is woken, then drains. Call on the thread that created the runtime.
    public func run(stop: WakePipe) throws {
        let wake = WakePipe()
        let pool = WorkerPool(threads: manifest.concurrency, wake: wake, handler: handler)
        defer { pool.shutdown(threads: manifest.concurrency) }
        stopSignal = stop
        do {
            try serve(stop: stop, wake: wake, pool: pool)
        } catch is StoppedWhileUnreachable {
            logger.warning(
                "stopped while the broker could not be reached; the broker gives the jobs in hand to other members",
                metadata: ["in_hand": "\(jobs.count)", "completed": "\(completed)"])
        }
    }

    /// Thrown out of `connect` when the agent is told to stop (or its drain runs out) while no broker answers.
    private struct StoppedWhileUnreachable: Error {}

    private func serve(stop: WakePipe, wake: WakePipe, pool: WorkerPool) throws {
        try connect(backoffFrom: 100)
        while true {
            guard let c = connection else { try connect(backoffFrom: 100); continue }
            if !draining && stop.drain() {
                beginDrain()
                // Credit 0 pauses this member: it keeps its jobs and the broker sends it nothing new, so no
                // request bounces between the broker and a stopping agent, burning its attempts.
                try? c.send(.subscribe(requestID: [], group: manifest.group, patterns: manifest.topics, properties: Properties([("credit", "0")])))
                logger.info("draining: no new work", metadata: ["in_flight": "\(jobs.count)"])
            }
            if draining && ((jobs.isEmpty && acks.isEmpty) || Self.now() >= drainDeadline) {
                releaseAll(reason: "agent stopped before finishing")
                c.close()
                logger.info("stopped", metadata: ["completed": "\(completed)", "ack_refused": "\(ackRefused)"])
                return
            }
            let message: BrokerMessage?
            do {
                message = try c.receive(timeoutMilliseconds: 100, wakeFD: draining ? wake.readFD : (jobs.isEmpty ? stop.readFD : wake.readFD))
            } catch {
                logger.warning("connection error; reconnecting", metadata: ["error": "\(error)"])
                try reconnect()
                continue
            }
            if let message { try handle(message, pool: pool) }
            wake.drain()
            for finished in pool.takeFinished() { try finish(finished) }
            try extendLongJobs()
            // `handle` may have reconnected: judge the silence of the connection in use now.
            if let c = connection, Self.now() - c.lastHeard > heartbeat * misses + 500 {
                logger.warning("broker silent; reconnecting", metadata: ["silent_ms": "\(Self.now() - c.lastHeard)"])
                try reconnect()
            }
        }
    }

    // MARK: Connection

    private func connect(backoffFrom initial: UInt32) throws {
        var backoff = initial
        while true {
            do {
                let c = try BrokerConnection(endpoint: endpoint)
                let welcome = try c.hello(name: manifest.name, timeoutMilliseconds: 2000)
                heartbeat = welcome["heartbeat"].flatMap(Int64.init) ?? 1000
                misses = welcome["heartbeat-misses"].flatMap(Int64.init) ?? 3
                maxPayload = welcome["max-payload"].flatMap(Int.init) ?? Int.max
                maxBlob = welcome["max-blob"].flatMap(Int.init) ?? Int.max
                var extra: [(String, String)] = []
                if let m = manifest.maxAttempts { extra.append(("max-attempts", String(m))) }
                if let t = manifest.ackTimeoutMilliseconds { extra.append(("ack-timeout", String(t))) }
                // A member that is draining comes back paused (credit 0): it only finishes and reports what it holds.
                let props = try c.subscribe(
                    group: manifest.group, patterns: manifest.topics, credit: draining ? 0 : manifest.concurrency,
                    start: try StartPosition(manifest.start),
                    extra: extra, timeoutMilliseconds: 5000)
                ackTimeout = props["ack-timeout"].flatMap(Int64.init) ?? ackTimeout
                maxAttempts = props["max-attempts"].flatMap(UInt32.init)
                connection = c
                logger.info("subscribed", metadata: ["group": "\(manifest.group)", "topics": "\(manifest.topics.joined(separator: ","))", "endpoint": "\(endpoint)"])
                // Results that were on their way when the connection dropped are sent again.
                for (seq, job) in jobs where job.output != nil { try advance(seq, job) }
                return
            } catch let error as ChorusClientError {
                if case .refused = error { throw error }  // a configuration problem: retrying will not help
                logger.info("broker not reachable; retrying", metadata: ["in_ms": "\(backoff)", "error": "\(error)"])
                // The wait is also a wait for SIGTERM: a stopping agent must not retry forever for a broker that is
                // gone. With jobs in hand it keeps trying until its drain timeout, to report them.
                if waitForStop(milliseconds: Int32(backoff)), !draining { beginDrain() }
                if draining && (jobs.isEmpty || Self.now() >= drainDeadline) { throw StoppedWhileUnreachable() }
                backoff = min(backoff * 2, 5000)
            }
        }
    }

    /// From now on the agent takes no new work and has `drain_timeout` to finish or release what it holds.
    private func beginDrain() {
        draining = true
        drainDeadline = Self.now() + manifest.drainTimeoutMilliseconds
    }

    /// Waits up to `milliseconds` for the stop signal; true if it came (and is consumed).
    private func waitForStop(milliseconds: Int32) -> Bool {
        guard let stop = stopSignal else {
            usleep(UInt32(milliseconds) * 1000)
            return false
        }
        var item = pollfd(fd: stop.readFD, events: Int16(POLLIN), revents: 0)
        _ = poll(&item, 1, milliseconds)
        return stop.drain()
    }

    private func reconnect() throws {
        connection?.close()
        connection = nil
        requests.removeAll()
        for (_, job) in acks {
            // Its answer would have come on the old socket: whether the broker settled it is unknown.
            logger.warning("connection lost before the ack was answered; the request may be delivered again", metadata: Self.describe(job))
            keep(job)
        }
        acks.removeAll()
        try connect(backoffFrom: 100)
    }

    // MARK: Messages

    private func handle(_ message: BrokerMessage, pool: WorkerPool) throws {
        switch message {
        case .deliver(let d):
            if draining {
                try connection?.send(.nack(requestID: [], group: d.group, lease: d.lease, mode: .requeue, reason: "agent draining"))
                return
            }
            if let existing = jobs[d.lease.seq] {
                // Redelivered while we still work on it (a lease lost across a reconnect): keep working, new lease.
                jobs[d.lease.seq] = Job(delivery: d, job: existing.job, now: Self.now())
                jobs[d.lease.seq]?.output = existing.output
                jobs[d.lease.seq]?.blobHash = existing.blobHash
                if existing.output != nil { try advance(d.lease.seq, jobs[d.lease.seq]!) }
                return
            }
            let job = AgentJob(event: d.event, attempt: d.attempt, group: d.group, cancellation: CancellationFlag())
            let entry = Job(delivery: d, job: job, now: Self.now())
            jobs[d.lease.seq] = entry
            if let kept = keptResults.lastIndex(where: { $0.seq == d.lease.seq && Self.now() - $0.at < 300_000 }) {
                entry.output = keptResults[kept].output
                entry.blobHash = keptResults[kept].blobHash
                keptResults.remove(at: kept)
                logger.info("given out again; publishing the result already made", metadata: Self.describe(entry))
                try advance(d.lease.seq, entry)
                return
            }
            pool.submit(d.lease.seq, job)
        case .blob(let r, let hash, _, _, _):
            guard let seq = requests.removeValue(forKey: r), let job = jobs[seq] else { return }
            job.blobHash = hash
            try advance(seq, job)
        case .confirm(let r, _, _):
            guard let seq = requests.removeValue(forKey: r), let job = jobs.removeValue(forKey: seq), let c = connection else { return }
            // With a request id, so the broker says whether the ack settled the request (ACKED) or came too late.
            let a = c.makeRequestID()
            acks[a] = job
            try c.send(.ack(requestID: a, group: job.delivery.group, leases: [job.delivery.lease]))
        case .acked(let r, _):
            guard let job = acks.removeValue(forKey: r) else { return }
            completed += 1
            logger.info("done", metadata: Self.describe(job))
        case .error(let r, let code, let text):
            if let job = acks.removeValue(forKey: r) {
                // The result is in the log, but the attempt was no longer this agent's: its session or lease had
                // ended, and the broker has given the request out again (possibly to this agent, after a reconnect).
                ackRefused += 1
                keep(job)
                var m = Self.describe(job)
                m["code"] = "\(code.name)"
                logger.warning("ack refused: the request was given out again", metadata: m)
                if code != .notSubscribed { return }
            }
            if code == .notSubscribed {
                // The only group this agent names is its own: the broker has ended this session (a silence longer
                // than heartbeat x misses, say while this process was stopped) and answers a newcomer on the same
                // socket. Its leases are gone; join again at once rather than wait for the silence timer.
                logger.warning("the broker has forgotten this session; reconnecting", metadata: ["message": "\(text)"])
                try reconnect()
                return
            }
            if code == .staleLease { return }  // our lease was lost (reconnect, timeout); the broker redelivered
            guard let seq = requests.removeValue(forKey: r), let job = jobs.removeValue(forKey: seq) else {
                logger.warning("broker refused", metadata: ["code": "\(code.name)", "message": "\(text)"])
                return
            }
            if [.payloadTooLarge, .blobTooLarge, .invalidProperty, .invalidTopic, .reservedTopic].contains(code), job.output?.headers["status"] != "error" {
                // The result itself is unacceptable and will be every time: report the failure as the result.
                logger.error("the broker refused the result; publishing the error instead", metadata: ["code": "\(code.name)", "message": "\(text)"])
                job.output = AgentOutput(payload: [], contentType: "text/plain", headers: ["status": "error", "error": "\(code.name): \(text)"])
                job.blobHash = nil
                jobs[seq] = job
                try advance(seq, job)
                return
            }
            logger.error("could not publish the result; releasing the job", metadata: ["code": "\(code.name)", "message": "\(text)"])
            try connection?.send(
                .nack(requestID: [], group: job.delivery.group, lease: job.delivery.lease, mode: .delay(milliseconds: 1000), reason: "\(code.name): \(text)"))
        default:
            break
        }
    }

    private func finish(_ finished: WorkerPool.Finished) throws {
        guard let job = jobs[finished.seq] else { return }
        switch finished.result {
        case .success(let output):
            job.output = output
        case .failure(.retryable(let reason)):
            jobs[finished.seq] = nil
            var m = Self.describe(job)
            m["reason"] = "\(reason)"
            if let limit = maxAttempts, job.delivery.attempt >= limit {
                logger.warning(
                    "job failed on its last attempt (\(job.delivery.attempt) of \(limit)); the broker dead-letters the request", metadata: m)
            } else {
                logger.warning("job failed; will be retried", metadata: m)
            }
            try connection?.send(
                .nack(requestID: [], group: job.delivery.group, lease: job.delivery.lease, mode: .delay(milliseconds: 1000), reason: reason))
            return
        case .failure(.permanent(let reason)):
            logger.warning("job failed for good; publishing the error", metadata: ["seq": "\(finished.seq)", "reason": "\(reason)"])
            job.output = AgentOutput(payload: [], contentType: "text/plain", headers: ["status": "error", "error": String(reason.prefix(1000))])
        }
        try advance(finished.seq, job)
    }

    /// Sends the next step of a finished job: store the artifact, or publish the result.
    private func advance(_ seq: UInt64, _ job: Job) throws {
        guard let c = connection, let output = job.output else { return }
        let r = c.makeRequestID()
        requests[r] = seq
        // Binary artifacts above the manifest's inline limit go by claim check; so does anything the broker
        // would refuse inline (PROTOCOL 10.4: a payload MUST NOT exceed max-payload).
        let inlineLimit = output.isBinary ? min(manifest.inlineLimit, maxPayload) : maxPayload
        if output.payload.count > inlineLimit && job.blobHash == nil {
            guard output.payload.count <= maxBlob else {
                // BLOB_TOO_LARGE would refuse it; far enough above, libzmq would drop the connection instead.
                logger.warning("result too large for the blob store; publishing the error", metadata: ["seq": "\(seq)", "bytes": "\(output.payload.count)"])
                job.output = AgentOutput(
                    payload: [], contentType: "text/plain",
                    headers: ["status": "error", "error": "the result is \(output.payload.count) bytes, over the broker's max-blob of \(maxBlob)"])
                requests[r] = nil
                return try advance(seq, job)
            }
            try c.send(.putBlob(requestID: r, mediaType: output.contentType, content: output.payload))
            return
        }
        let request = job.job.event
        var p = Properties()
        p.append("correlation", request.correlation ?? request.id)
        p.append("causation", request.id)
        p.append("producer", manifest.name)
        p.append("content-type", output.contentType)
        p.append("h.attempt", String(job.delivery.attempt))
        if output.headers["status"] == nil { p.append("h.status", "ok") }
        for (k, v) in output.headers.sorted(by: { $0.key < $1.key }) { p.append("h." + k, v.replacingOccurrences(of: "\n", with: " ")) }
        var payload = output.payload
        if let hash = job.blobHash {
            p.append("h.blob", hash)
            p.append("h.blob-size", String(output.payload.count))
            p.append("h.blob-type", output.contentType)
            payload = []
        }
        try c.send(.publish(requestID: r, request: PublishRequest(topic: manifest.resultTopic, properties: p, payload: payload)))
    }

    /// Extends the lease of jobs running longer than a third of the ack timeout, so long jobs are not redelivered.
    private func extendLongJobs() throws {
        let now = Self.now()
        for (_, job) in jobs where now - job.lastExtend > ackTimeout / 3 {
            job.lastExtend = now
            try connection?.send(.extend(requestID: [], group: job.delivery.group, lease: job.delivery.lease, milliseconds: UInt64(ackTimeout)))
            if let deadline = job.job.event.deadline, now > deadline { job.job.cancellation.cancel() }
        }
    }

    /// Keeps a job's result in case its request comes back (`keptResults`).
    private func keep(_ job: Job) {
        guard let output = job.output else { return }
        keptResults.append((job.delivery.lease.seq, output, job.blobHash, Self.now()))
        if keptResults.count > Self.keptResultLimit { keptResults.removeFirst() }
    }

    /// The log metadata naming a job.
    private static func describe(_ job: Job) -> Logger.Metadata {
        ["seq": "\(job.delivery.lease.seq)", "correlation": "\(job.job.event.correlation ?? "-")", "attempt": "\(job.delivery.attempt)"]
    }

    private func releaseAll(reason: String) {
        for (_, job) in jobs {
            job.job.cancellation.cancel()
            try? connection?.send(.nack(requestID: [], group: job.delivery.group, lease: job.delivery.lease, mode: .requeue, reason: reason))
        }
        jobs.removeAll()
    }
}
