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

    /// Joins per second, steady state: `count` requests with at most `window` joins open at once (requests
    /// published and not yet seen merged), so the measurement does not turn into draining a backlog.
    /// Each agent's credit is at least the window, so the agents never hold the rate below it.
    static func throughput(_ broker: BrokerBench, count: Int, window: Int) throws -> Double {
        let progress = Progress()
        defer { progress.stopped.store(true, ordering: .releasing) }
        let credit = max(2000, window)
        let agents = ["text", "image", "audio"].map { startAgent(broker.endpoint, part: $0, credit: credit, progress: progress) }
        let endpoint = broker.endpoint
        let run = progress.run
        let merged = onThread { () -> UInt64 in
            let c = try progress.subscribing {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-merged")
                try c.subscribe(group: "bench-merged", patterns: ["gen.merged"], credit: credit)
                return c
            }
            var seen = 0
            var acks = BatchedAcks(group: "bench-merged", every: 256)
            while seen < count {
                let d = try nextDelivery(c, seen: seen)
                // Records of earlier runs (left by a run that failed) are acked but not counted.
                if d.event.correlation?.hasPrefix("j\(run)-") == true {
                    seen += 1
                    progress.merged.store(seen, ordering: .releasing)
                }
                try acks.add(d.lease, on: c)
            }
            try acks.flush(on: c)
            c.close()
            return BenchStats.nanos()
        }
        try awaitSubscribed(agents + [{ @Sendable in _ = try merged() }], progress: progress)
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
        let end = try finish(merged, agents: agents, progress: progress)
        return Double(count) / (Double(end - start) / 1e9)
    }

    /// Joins per second as `throughput`, with every client batched: the requester sends packed PUBLISHMANY of
    /// `batch` requests, each agent takes packed DELIVERMANY of up to `batch` requests and answers each with one
    /// packed PUBLISHMANY of results (LeanJoinAgent), and the merged records come in packed DELIVERMANY.
    static func batchedThroughput(_ broker: BrokerBench, count: Int, batch: Int, window: Int) throws -> Double {
        let progress = Progress()
        defer { progress.stopped.store(true, ordering: .releasing) }
        let run = progress.run
        let endpoint = broker.endpoint
        let credit = max(2000, window)
        let packedForms = [("batch", String(batch)), ("packed", "1")]
        @Sendable func connect(_ name: String) throws -> BrokerConnection {
            let c = try BrokerConnection(endpoint: endpoint)
            guard try c.hello(name: name)["packed"] == "1" else { throw ValidationFailure("the broker does not take the packed forms") }
            return c
        }
        let agents = ["text", "image", "audio"].map { part in
            onThread {
                let c = try progress.subscribing {
                    let c = try connect("bench-\(part)")
                    try c.subscribe(group: "bench-\(part)", patterns: ["gen.request"], credit: credit, extra: packedForms)
                    return c
                }
                var agent = LeanJoinAgent(connection: c, group: "bench-\(part)", part: part)
                try agent.run(until: progress)
                c.close()
            }
        }
        let merged = onThread { () -> UInt64 in
            let c = try progress.subscribing {
                let c = try connect("bench-merged")
                try c.subscribe(group: "bench-merged", patterns: ["gen.merged"], credit: credit, extra: packedForms)
                return c
            }
            var consumer = LeanConsumer(connection: c, group: "bench-merged", credit: credit, packedAcks: true, countingCorrelationPrefix: "j\(run)-")
            let last = try consumer.run(until: count) { progress.merged.store($0, ordering: .releasing) }
            c.close()
            return last
        }
        try awaitSubscribed(agents + [{ @Sendable in _ = try merged() }], progress: progress)
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
        let agents = ["text", "image", "audio"].map { startAgent(broker.endpoint, part: $0, credit: 2000, progress: progress) }
        let endpoint = broker.endpoint
        let run = progress.run
        let merged = onThread { () -> [Double] in
            let c = try progress.subscribing {
                let c = try BrokerConnection(endpoint: endpoint)
                try c.hello(name: "bench-merged")
                try c.subscribe(group: "bench-latency", patterns: ["gen.merged"], credit: 2000)
                return c
            }
            var samples: [Double] = []
            var acks = BatchedAcks(group: "bench-latency", every: 64)
            while samples.count < total {
                let d = try nextDelivery(c, seen: samples.count)
                // Records of earlier runs (a profiled broker keeps them) are acked but not timed.
                let parts = d.event.correlation?.split(separator: "-") ?? []
                if parts.count == 4, parts[0] == "L", parts[1] == run, let sentAt = Int64(parts[2]) {
                    samples.append(Double(BenchStats.wallMicros() - sentAt))
                }
                try acks.add(d.lease, on: c)
            }
            try acks.flush(on: c)
            c.close()
            return samples
        }
        try awaitSubscribed(agents + [{ @Sendable in _ = try merged() }], progress: progress)
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
        let samples = try finish(merged, agents: agents, progress: progress)
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
