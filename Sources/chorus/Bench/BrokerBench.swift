import ChorusClient
import ChorusProtocol
import ChorusStore
import Dispatch
import Foundation
import Synchronization
import ZeroMQ
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Chorus measured end to end: a real broker process, a pipelined publisher and consumers on their own threads.
final class BrokerBench {
    let process = Process()
    let directory: String
    private(set) var endpoint = ""
    /// The broker's metrics endpoint (`tcp://HOST:PORT`), when this benchmark started the broker.
    private(set) var metricsAddress = ""

    /// Starts `chorus broker` (this executable) on loopback with a fresh data directory.
    /// Uses a broker that is already running (for profiling it): nothing is started or stopped.
    init(existing endpoint: String) {
        directory = ""
        self.endpoint = endpoint
    }

    init(durability: Durability, extraConfig: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            [broker]
            log_level = "error"  # a benchmark's clients leave with work in hand; that is not news
            data_dir = "\(directory)/data"
            [storage]
            durability = "\(durability.rawValue)"
            [delivery]
            max_pending = 100000
            [metrics]
            address = "127.0.0.1:*"
            \(extraConfig)
            """
        try config.write(toFile: directory + "/bench.toml", atomically: true, encoding: .utf8)
        let ready = directory + "/ready"
        process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        process.arguments = [
            "broker", "--config", directory + "/bench.toml", "--endpoint", "tcp://127.0.0.1:*", "--firehose", "tcp://127.0.0.1:*",
            "--ready-file", ready,
        ]
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while !FileManager.default.fileExists(atPath: ready) {
            guard Date() < deadline, process.isRunning else { throw ValidationFailure("the broker did not start") }
            usleep(20_000)
        }
        let bound = try ReadyFile.read(ready)
        endpoint = bound.endpoint
        metricsAddress = bound.metrics
    }

    func stop() {
        if directory.isEmpty { return }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }

    var memory: (rss: Double, peak: Double) { BenchStats.memory(pid: process.processIdentifier) }

    /// CPU seconds the broker process has used (user + system), from /proc.
    var cpuSeconds: Double {
        guard let text = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: ")").last?.split(separator: " ") ?? []
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else { return 0 }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Throughput with `groups` groups of one consumer each: (confirmed publishes/s, slowest group's deliveries/s).
    /// With `batch` above 1 the publisher sends PUBLISHMANY of `batch` events and each consumer subscribes with
    /// `batch`, so it receives DELIVERMANY.
    func throughput(count: Int, groups: Int, size: Int, run: Int, batch: Int = 1, window: Int = 5000, credit: Int = 5000) throws -> (publish: Double, deliver: Double) {
        let endpoint = self.endpoint
        let subscribed = DispatchSemaphore(value: 0)
        let topic = "bench.run\(run)"
        var consumers: [() throws -> UInt64] = []
        for g in 0..<groups {
            consumers.append(
                onThread {
                    let c = try BrokerConnection(endpoint: endpoint)
                    let welcome = try c.hello(name: "bench-consumer-\(g)")
                    let group = "bench-\(run)-\(g)"
                    // Batched runs ask for packed DELIVERMANY and ack in packed form where the broker has them
                    // (docs/PROTOCOL.md, section 7.17).
                    let packed = welcome["packed"] == "1"
                    try c.subscribe(
                        group: group, patterns: [topic], credit: credit,
                        extra: batch > 1 ? [("batch", String(batch))] + (packed ? [("packed", "1")] : []) : [])
                    subscribed.signal()
                    var consumer = LeanConsumer(connection: c, group: group, credit: credit, packedAcks: packed)
                    let last = try consumer.run(until: count)
                    c.close()
                    return last
                })
        }
        for _ in 0..<groups where subscribed.wait(timeout: .now() + 20) == .timedOut {
            // A consumer that could not subscribe has thrown: its error says why.
            for c in consumers { _ = try c() }
            throw ValidationFailure("a consumer did not subscribe within 20 s")
        }
        let cpuBefore = cpuSeconds
        let (start, confirmedAt) = try Self.publish(endpoint: endpoint, topic: topic, count: count, size: size, batch: batch, window: window)
        var slowest: UInt64 = 0
        for c in consumers { slowest = max(slowest, try c()) }
        if ProcessInfo.processInfo.environment["CHORUS_BENCH_VERBOSE"] != nil {
            Output.line(String(format: "    broker used %.2f CPU s over %.2f s", cpuSeconds - cpuBefore, Double(slowest - start) / 1e9))
        }
        return (Double(count) / (Double(confirmedAt - start) / 1e9), Double(count) / (Double(slowest - start) / 1e9))
    }

    /// Publishes `count` events pipelined (at most `window` unconfirmed), as PUBLISH or, with `batch` above 1, as
    /// packed PUBLISHMANY of `batch` events; returns (start, last confirm) in monotonic ns.
    static func publish(endpoint: String, topic: String, count: Int, size: Int, batch: Int = 1, window: Int = 5000) throws -> (UInt64, UInt64) {
        let c = try BrokerConnection(endpoint: endpoint)
        defer { c.close() }
        let packed = try c.hello(name: "bench-publisher")["packed"] == "1"
        let payload = [UInt8](repeating: 0x62, count: size)
        // Identical events: encode the frames once, so the benchmark measures the broker, not this client.
        let request = PublishRequest(topic: topic, payload: payload)
        let perMessage = max(1, batch)
        // Batches go packed where the broker takes it (docs/PROTOCOL.md, section 6.14): one frame for all their events.
        func many(_ n: Int) -> [[UInt8]] {
            let requests = Array(repeating: request, count: n)
            return packed
                ? ClientCommand.encodePackedPublishMany(requestID: [], requests) : ClientCommand.publishMany(requestID: [], requests).encode()
        }
        let frames = perMessage == 1 ? ClientCommand.publish(requestID: [], request: request).encode() : many(perMessage)
        var sent = 0
        var confirmed = 0
        let start = BenchStats.nanos()
        // A deadline from the last confirm: heartbeats keep arriving from a broker that is stuck.
        var lastProgress = start
        while confirmed < count {
            while sent < count && sent - confirmed < window {
                if count - sent < perMessage {
                    // The last, short batch: exactly `count` events are published.
                    try c.sendRaw(many(count - sent))
                    sent = count
                } else {
                    try c.sendRaw(frames)
                    sent += perMessage
                }
            }
            guard BenchStats.nanos() - lastProgress < 30_000_000_000 else { throw ValidationFailure("no confirm after \(confirmed)") }
            guard let f = try c.receiveRaw(timeoutMilliseconds: 1000) else { continue }
            if f.count > 1 && f[1] == BrokerMessage.Name.confirm {
                confirmed += 1
                lastProgress = BenchStats.nanos()
            } else if f.count == 4 && f[1] == BrokerMessage.Name.confirmMany {
                lastProgress = BenchStats.nanos()
                // Every line must be "new SEQ": a refused event would make the figure a lie.
                let outcomes = try PublishOutcome.decode(f[3])
                for case .refused(let error) in outcomes {
                    throw ValidationFailure("publish refused: \(error.code.name): \(error.message)")
                }
                confirmed += outcomes.count
            } else if case .error(_, let code, let text) = try BrokerMessage.decode(f) {
                throw ValidationFailure("publish refused: \(code.name): \(text)")
            }
        }
        return (start, BenchStats.nanos())
    }

    /// Publish-to-deliver latency in microseconds at a steady `rate` events/s for `seconds`: (p50, p99).
    func latency(rate: Int, seconds: Double, size: Int) throws -> (p50: Double, p99: Double) {
        let endpoint = self.endpoint
        let total = Int(Double(rate) * seconds)
        let subscribed = DispatchSemaphore(value: 0)
        let consumer = onThread { () -> [Double] in
            let c = try BrokerConnection(endpoint: endpoint)
            try c.hello(name: "bench-latency")
            try c.subscribe(group: "latency", patterns: ["lat.>"], credit: 1000)
            subscribed.signal()
            var samples: [Double] = []
            samples.reserveCapacity(total)
            var acks: [Lease] = []
            var lastProgress = BenchStats.nanos()
            while samples.count < total {
                // A deadline from the last delivery: heartbeats keep arriving from a broker that is stuck.
                guard BenchStats.nanos() - lastProgress < 30_000_000_000 else { throw ValidationFailure("latency consumer stalled at \(samples.count)") }
                guard let m = try c.receive(timeoutMilliseconds: 1000), case .deliver(let d) = m else { continue }
                lastProgress = BenchStats.nanos()
                let sentAt = d.event.payload.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }
                samples.append(Double(BenchStats.wallMicros() - sentAt))
                acks.append(d.lease)
                if acks.count >= 64 {
                    try c.ack(group: "latency", leases: acks)
                    acks.removeAll(keepingCapacity: true)
                }
            }
            c.close()
            return samples
        }
        subscribed.wait()
        let c = try BrokerConnection(endpoint: endpoint)
        defer { c.close() }
        var payload = [UInt8](repeating: 0x63, count: size)
        let start = BenchStats.nanos()
        var sent = 0
        while sent < total {
            let due = Int(Double(BenchStats.nanos() - start) / 1e9 * Double(rate))
            while sent < min(due, total) {
                var stamp = BenchStats.wallMicros()
                withUnsafeBytes(of: &stamp) { raw in for i in 0..<8 { payload[i] = raw[i] } }
                try c.send(.publish(requestID: [], request: PublishRequest(topic: "lat.e", payload: payload)))
                sent += 1
            }
            while (try c.receive(timeoutMilliseconds: 0)) != nil {}  // drain confirms
            usleep(200)
        }
        let samples = try consumer().sorted()
        // The first 10 % warm the broker's caches and the connection; they are not steady state.
        let steady = Array(samples.dropFirst(samples.count / 10)).sorted()
        return (BenchStats.percentile(steady, 50), BenchStats.percentile(steady, 99))
    }

    /// The broker's own share of publish->deliver latency (from reading the PUBLISH to sending the DELIVER), from
    /// its `chorus_publish_to_deliver_seconds` histogram: the smallest bucket bounds, in microseconds, that hold
    /// 50 % and 99 % of its samples. Nil when the metrics endpoint cannot be read.
    func brokerDeliverBounds() -> (p50: Double, p99: Double)? {
        guard !metricsAddress.isEmpty,
            let url = URL(string: metricsAddress.replacingOccurrences(of: "tcp://", with: "http://") + "/metrics")
        else { return nil }
        final class Body: Sendable { let data = Mutex<Data?>(nil) }
        let body = Body()
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: url) { data, _, _ in
            body.data.withLock { $0 = data }
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + 5) == .success, let data = body.data.withLock({ $0 }) else {
            task.cancel()
            return nil
        }
        let prefix = "chorus_publish_to_deliver_seconds_bucket{le=\""
        var buckets: [(bound: Double, count: Double)] = []
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix(prefix) {
            let rest = line.dropFirst(prefix.count)
            guard let quote = rest.firstIndex(of: "\""), let bound = Double(rest[..<quote]),
                let count = Double(rest.split(separator: " ").last ?? "")
            else { continue }
            buckets.append((bound, count))
        }
        guard let total = buckets.map(\.count).max(), total > 0 else { return nil }
        func bound(_ fraction: Double) -> Double {
            (buckets.first { $0.count >= fraction * total }?.bound ?? .infinity) * 1e6
        }
        return (bound(0.5), bound(0.99))
    }

    /// Broker memory after `count` events wait in the log for a group with no consumer: (idle MiB, after MiB, peak MiB).
    func backlogMemory(count: Int, size: Int) throws -> (idle: Double, after: Double, peak: Double) {
        let c = try BrokerConnection(endpoint: endpoint)
        try c.hello(name: "bench-backlog")
        try c.subscribe(group: "backlog", patterns: ["backlog.>"], credit: 1)
        c.close()
        let idle = memory.rss
        _ = try Self.publish(endpoint: endpoint, topic: "backlog.e", count: count, size: size)
        let m = memory
        return (idle, m.rss, m.peak)
    }
}


