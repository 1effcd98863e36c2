import ChorusClient
import ChorusProtocol
import Dispatch
import Foundation
import Synchronization

/// Joins end to end: a broker with the media join, three agent threads that answer at once, and a requester.
enum JoinBench {
    static let config = """
        [joins.media]
        open = "gen.request"
        emit = "gen.merged"
        timeout = "1h"
        max_open = 1000000
        [joins.media.parts.text]
        topic = "gen.result.text"
        [joins.media.parts.image]
        topic = "gen.result.image"
        [joins.media.parts.audio]
        topic = "gen.result.audio"
        """

    /// A request as `chorus request` sends it: a JSON prompt, typed application/json (the merged record embeds it).
    static let request = Array(#"{"prompt":"a lighthouse at dusk"}"#.utf8)

    /// An agent that answers every request at once with a small result, acking after each confirm. It runs until
    /// `progress.stopped` is set and every result it sent is confirmed and its request acked: a count of its own
    /// would end too early when a broker kept requests of an earlier, failed run for its group. It fails on an
    /// ERROR other than a stale lease (a broker that ended its session says so on the next ack) instead of waiting
    /// for work that will not come, and when its results are still unconfirmed 30 s after the run ended.
    static func startAgent(_ endpoint: String, part: String, ready: DispatchSemaphore, progress: Progress) -> @Sendable () throws -> Int {
        onThread {
            let c = try progress.subscribing(ready) {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-\(part)")
                try c.subscribe(group: "bench-\(part)", patterns: ["gen.request"], credit: 2000)
                return c
            }
            var pending: [[UInt8]: Lease] = [:]
            var answered = 0
            let payload = [UInt8](repeating: 0x61, count: 256)
            var stoppedAt: UInt64?
            while true {
                if stoppedAt == nil && progress.stopped.load(ordering: .acquiring) { stoppedAt = BenchStats.nanos() }
                if let stoppedAt {
                    if pending.isEmpty { break }
                    if BenchStats.nanos() - stoppedAt > 30_000_000_000 {
                        throw ValidationFailure("agent \(part): \(pending.count) results unconfirmed 30 s after the run ended")
                    }
                }
                guard let m = try c.receive(timeoutMilliseconds: 200) else { continue }
                switch m {
                case .deliver(let d):
                    let r = c.makeRequestID()
                    let p = Properties([("correlation", d.event.correlation ?? d.event.id), ("causation", d.event.id), ("h.status", "ok")])
                    try c.send(.publish(requestID: r, request: PublishRequest(topic: "gen.result.\(part)", properties: p, payload: payload)))
                    pending[r] = d.lease
                    answered += 1
                case .confirm(let r, _, _):
                    if let lease = pending.removeValue(forKey: r) {
                        try c.send(.ack(requestID: [], group: "bench-\(part)", leases: [lease]))
                    }
                case .error(_, let code, let message):
                    // An ack of a lease that expired meanwhile (a very slow run): the request went to someone else.
                    if code == .staleLease { continue }
                    throw ValidationFailure("agent \(part): \(code.name): \(message)")
                default: break
                }
            }
            c.close()
            return answered
        }
    }

    /// Waits for the clients (three agents and the merged-record consumer) to subscribe, up to 20 s each. One that
    /// cannot (no broker, a refused SUBSCRIBE) has thrown: its error is rethrown here at once, so the run fails
    /// with the reason instead of waiting.
    /// The clients that did subscribe are stopped first (`progress.stopped`): they would otherwise wait for the run.
    static func awaitSubscribed(_ ready: DispatchSemaphore, clients: [() throws -> Void], progress: Progress) throws {
        for _ in clients {
            let timedOut = ready.wait(timeout: .now() + 20) == .timedOut
            guard timedOut || progress.failedToSubscribe.load(ordering: .acquiring) else { continue }
            progress.stopped.store(true, ordering: .releasing)
            for client in clients { try client() }
            throw ValidationFailure(timedOut ? "a bench client did not subscribe within 20 s" : "a bench client could not subscribe")
        }
    }

    /// Shared by the clients of one run.
    final class Progress: Sendable {
        /// Merged records of this run seen so far (the merged-record consumer counts, the requester reads).
        let merged = Atomic<Int>(0)
        /// Set when the run is over or failed: the agents finish what they hold and leave.
        let stopped = Atomic<Bool>(false)
        /// Set by a client that could not connect or subscribe.
        let failedToSubscribe = Atomic<Bool>(false)

        /// Runs a client's connect-and-subscribe, then signals `ready` whether it worked or not (a failure is
        /// noted first), so `awaitSubscribed` learns of a failure at once rather than after its timeout.
        func subscribing<T>(_ ready: DispatchSemaphore, _ body: () throws -> T) throws -> T {
            do {
                let result = try body()
                ready.signal()
                return result
            } catch {
                failedToSubscribe.store(true, ordering: .releasing)
                ready.signal()
                throw error
            }
        }
    }

    /// The merged-record consumer's result, once the agents have finished too. When the consumer failed, an agent
    /// that failed is usually why: its error is added.
    static func finish<T>(_ merged: () throws -> T, agents: [@Sendable () throws -> Void], progress: Progress) throws -> T {
        let result: T
        do {
            result = try merged()
        } catch {
            progress.stopped.store(true, ordering: .releasing)
            let agentErrors = agents.compactMap { a -> String? in
                do { try a() } catch { return "\(error)" }
                return nil
            }
            throw ValidationFailure("\(error)" + (agentErrors.isEmpty ? "" : "; " + agentErrors.joined(separator: "; ")))
        }
        progress.stopped.store(true, ordering: .releasing)
        for a in agents { try a() }
        return result
    }

    /// Waits for the next delivery, skipping heartbeats, for up to 60 s: a broker that stopped sending records
    /// still sends heartbeats, and a plain receive timeout would then never fire.
    static func nextDelivery(_ c: BrokerConnection, seen: Int) throws -> Delivery {
        let deadline = BenchStats.nanos() + 60_000_000_000
        while BenchStats.nanos() < deadline {
            switch try c.receive(timeoutMilliseconds: 1000) {
            case .deliver(let d): return d
            case .error(_, let code, let message): throw ValidationFailure("merged-record consumer: \(code.name): \(message)")
            default: continue
            }
        }
        throw ValidationFailure("merged records stopped at \(seen)")
    }

    /// Joins per second, steady state: `count` requests with at most `window` joins open at once (requests
    /// published and not yet seen merged), so the measurement does not turn into draining a backlog.
    static func throughput(_ broker: BrokerBench, count: Int, window: Int = 2000) throws -> Double {
        let progress = Progress()
        defer { progress.stopped.store(true, ordering: .releasing) }
        let ready = DispatchSemaphore(value: 0)
        let agents = ["text", "image", "audio"].map { startAgent(broker.endpoint, part: $0, ready: ready, progress: progress) }
        let endpoint = broker.endpoint
        // Correlation ids unique to this run: a broker profiled several times still has earlier runs' joins as
        // recently closed, and a request reusing one of their ids would not open a join.
        let run = String(BenchStats.wallMicros(), radix: 36)
        let merged = onThread { () -> UInt64 in
            let c = try progress.subscribing(ready) {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-merged")
                try c.subscribe(group: "bench-merged", patterns: ["gen.merged"], credit: 2000)
                return c
            }
            var seen = 0
            var acks: [Lease] = []
            while seen < count {
                let d = try nextDelivery(c, seen: seen)
                // Records of earlier runs (left by a run that failed) are acked but not counted.
                if d.event.correlation?.hasPrefix("j\(run)-") == true {
                    seen += 1
                    progress.merged.store(seen, ordering: .releasing)
                }
                acks.append(d.lease)
                if acks.count >= 256 {
                    try c.ack(group: "bench-merged", leases: acks)
                    acks.removeAll()
                }
            }
            // Unacked records would be delivered again to the next run on a profiled broker.
            if !acks.isEmpty { try c.ack(group: "bench-merged", leases: acks) }
            c.close()
            return BenchStats.nanos()
        }
        try awaitSubscribed(ready, clients: agents.map { a in { _ = try a() } } + [{ _ = try merged() }], progress: progress)
        let c = try BrokerConnection(endpoint: endpoint)
        defer { c.close() }
        let start = BenchStats.nanos()
        var sent = 0
        var confirmed = 0
        var lastProgress = BenchStats.nanos()
        while confirmed < count {
            while sent < count && sent - progress.merged.load(ordering: .acquiring) < window {
                try c.send(.publish(requestID: [], request: PublishRequest(topic: "gen.request", properties: Properties([("correlation", "j\(run)-\(sent)"), ("content-type", "application/json")]), payload: request)))
                sent += 1
            }
            // With every request confirmed and the window full, wait briefly for merged records instead.
            if let m = try c.receive(timeoutMilliseconds: sent > confirmed ? 30_000 : 1) {
                if case .confirm = m {
                    confirmed += 1
                    lastProgress = BenchStats.nanos()
                }
            } else if sent > confirmed || BenchStats.nanos() - lastProgress > 60_000_000_000 {
                throw ValidationFailure("no progress: \(confirmed) confirmed, \(progress.merged.load(ordering: .acquiring)) merged")
            }
        }
        let end = try finish(merged, agents: agents.map { a in { @Sendable in _ = try a() } }, progress: progress)
        return Double(count) / (Double(end - start) / 1e9)
    }

    /// Joins per second as `throughput`, with every client batched: the requester sends packed PUBLISHMANY of
    /// `batch` requests, each agent takes packed DELIVERMANY of up to `batch` requests and answers each with one
    /// packed PUBLISHMANY of results (LeanJoinAgent), and the merged records come in packed DELIVERMANY.
    ///
    /// A larger `window` is slower, not faster: past the broker's recent-events cache (16,384 events, about 3,000
    /// joins) the merged record's request is read back from SQLite.
    static func batchedThroughput(_ broker: BrokerBench, count: Int, batch: Int, window: Int = 2000) throws -> Double {
        let progress = Progress()
        defer { progress.stopped.store(true, ordering: .releasing) }
        // Correlation ids unique to this run (see `throughput`); the merged-record consumer counts only these.
        let run = String(BenchStats.wallMicros(), radix: 36)
        let ready = DispatchSemaphore(value: 0)
        let endpoint = broker.endpoint
        let credit = 2000
        let packedForms = [("batch", String(batch)), ("packed", "1")]
        @Sendable func connect(_ name: String) throws -> BrokerConnection {
            let c = try BrokerConnection(endpoint: endpoint)
            guard try c.hello(name: name)["packed"] == "1" else { throw ValidationFailure("the broker does not take the packed forms") }
            return c
        }
        let agents = ["text", "image", "audio"].map { part in
            onThread {
                let c = try progress.subscribing(ready) {
                    let c = try connect("bench-\(part)")
                    try c.subscribe(group: "bench-\(part)", patterns: ["gen.request"], credit: credit, extra: packedForms)
                    return c
                }
                var agent = LeanJoinAgent(connection: c, group: "bench-\(part)", part: part)
                try agent.run(until: progress.stopped)
                c.close()
            }
        }
        let merged = onThread { () -> UInt64 in
            let c = try progress.subscribing(ready) {
                let c = try connect("bench-merged")
                try c.subscribe(group: "bench-merged", patterns: ["gen.merged"], credit: credit, extra: packedForms)
                return c
            }
            var consumer = LeanConsumer(connection: c, group: "bench-merged", credit: credit, packedAcks: true, countingCorrelationPrefix: "j\(run)-")
            let last = try consumer.run(until: count) { progress.merged.store($0, ordering: .releasing) }
            c.close()
            return last
        }
        try awaitSubscribed(ready, clients: agents.map { a in { _ = try a() } } + [{ _ = try merged() }], progress: progress)
        let c = try connect("bench-requester")
        defer { c.close() }
        let start = BenchStats.nanos()
        var sent = 0
        var confirmed = 0
        var lastProgress = start
        while confirmed < count {
            while sent < count && sent - progress.merged.load(ordering: .acquiring) < window {
                let n = min(batch, count - sent)
                let requests = (sent..<(sent + n)).map {
                    PublishRequest(topic: "gen.request", properties: Properties([("correlation", "j\(run)-\($0)"), ("content-type", "application/json")]), payload: request)
                }
                try c.sendRaw(ClientCommand.encodePackedPublishMany(requestID: [], requests))
                sent += n
            }
            if let f = try c.receiveRaw(timeoutMilliseconds: sent > confirmed ? 1000 : 1) {
                if f.count == 4 && f[1] == BrokerMessage.Name.confirmMany {
                    let outcomes = try PublishOutcome.decode(f[3])
                    for case .refused(let error) in outcomes {
                        throw ValidationFailure("request refused: \(error.code.name): \(error.message)")
                    }
                    confirmed += outcomes.count
                    lastProgress = BenchStats.nanos()
                } else if f.count > 1 && f[1] == BrokerMessage.Name.error {
                    throw ValidationFailure("requester got \(try BrokerMessage.decode(f))")
                }
            }
            if BenchStats.nanos() - lastProgress > 60_000_000_000 {
                throw ValidationFailure("no progress: \(confirmed) confirmed, \(progress.merged.load(ordering: .acquiring)) merged")
            }
        }
        let end = try finish(merged, agents: agents, progress: progress)
        return Double(count) / (Double(end - start) / 1e9)
    }

    /// Request-to-merged-record latency at a steady rate: (p50 µs, p99 µs).
    static func latency(_ broker: BrokerBench, rate: Int, seconds: Double) throws -> (Double, Double) {
        let total = Int(Double(rate) * seconds)
        let progress = Progress()
        defer { progress.stopped.store(true, ordering: .releasing) }
        let ready = DispatchSemaphore(value: 0)
        let agents = ["text", "image", "audio"].map { startAgent(broker.endpoint, part: $0, ready: ready, progress: progress) }
        let endpoint = broker.endpoint
        let run = String(BenchStats.wallMicros(), radix: 36)
        let merged = onThread { () -> [Double] in
            let c = try progress.subscribing(ready) {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-merged")
                try c.subscribe(group: "bench-latency", patterns: ["gen.merged"], credit: 2000)
                return c
            }
            var samples: [Double] = []
            var acks: [Lease] = []
            while samples.count < total {
                let d = try nextDelivery(c, seen: samples.count)
                // Records of earlier runs (a profiled broker keeps them) are acked but not timed.
                let parts = d.event.correlation?.split(separator: "-") ?? []
                if parts.count == 4, parts[0] == "L", parts[1] == run, let sentAt = Int64(parts[2]) {
                    samples.append(Double(BenchStats.wallMicros() - sentAt))
                }
                acks.append(d.lease)
                if acks.count >= 64 {
                    try c.ack(group: "bench-latency", leases: acks)
                    acks.removeAll()
                }
            }
            if !acks.isEmpty { try c.ack(group: "bench-latency", leases: acks) }
            c.close()
            return samples
        }
        try awaitSubscribed(ready, clients: agents.map { a in { _ = try a() } } + [{ _ = try merged() }], progress: progress)
        let c = try BrokerConnection(endpoint: endpoint)
        defer { c.close() }
        let start = BenchStats.nanos()
        var sent = 0
        while sent < total {
            let due = Int(Double(BenchStats.nanos() - start) / 1e9 * Double(rate))
            while sent < min(due, total) {
                let id = "L-\(run)-\(BenchStats.wallMicros())-\(sent)"  // unique: several may leave in one microsecond
                try c.send(.publish(requestID: [], request: PublishRequest(topic: "gen.request", properties: Properties([("correlation", id), ("content-type", "application/json")]), payload: request)))
                sent += 1
            }
            while (try c.receive(timeoutMilliseconds: 0)) != nil {}
            usleep(200)
        }
        let samples = try finish(merged, agents: agents.map { a in { @Sendable in _ = try a() } }, progress: progress)
        let steady = Array(samples.dropFirst(samples.count / 10)).sorted()
        return (BenchStats.percentile(steady, 50), BenchStats.percentile(steady, 99))
    }

    /// Broker memory with `count` joins open (requests nobody answers): (MiB before, MiB after).
    static func openJoinsMemory(_ broker: BrokerBench, count: Int) throws -> (Double, Double) {
        let before = broker.memory.rss
        let c = try BrokerConnection(endpoint: broker.endpoint)
        defer { c.close() }
        var sent = 0
        var confirmed = 0
        while confirmed < count {
            while sent < count && sent - confirmed < 5000 {
                try c.send(.publish(requestID: [], request: PublishRequest(topic: "gen.request", properties: Properties([("correlation", "open-\(sent)")]), payload: [])))
                sent += 1
            }
            guard let m = try c.receive(timeoutMilliseconds: 30_000) else { throw ValidationFailure("no confirm") }
            if case .confirm = m { confirmed += 1 }
            if case .error(_, let code, let text) = m { throw ValidationFailure("\(code.name): \(text)") }
        }
        return (before, broker.memory.rss)
    }
}
