import ArgumentParser
import ChorusStore
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure Chorus against raw libzmq on this machine, in one run.",
        discussion: """
            Measures, with 256-byte events on tcp loopback: (a) raw libzmq DEALER->ROUTER throughput, the \
            baseline; (b) Chorus durable publish throughput (confirmed after commit) and delivery throughput to \
            1 group and to 3 groups, once with a message per event (PUBLISH, DELIVER) and once batched \
            (packed PUBLISHMANY and DELIVERMANY of --batch events, packed ACKs); (c) publish-to-deliver latency p50/p99 at a steady rate; (d) broker memory \
            after a backlog of events waiting in the log. Each figure is the median of --runs runs and is also \
            given as a ratio to (a). The broker is this executable, started as a child process.

            --suite joins measures issue 3's figures instead: joins per second with three agents that answer at \
            once (per message, and batched: packed PUBLISHMANY and DELIVERMANY of up to --batch events, packed \
            ACKs) with the broker's CPU per join (all its threads; of that, the broker thread's, which limits \
            throughput, and how long the broker's threads waited for a free CPU, from the kernel's scheduler \
            statistics), request-to-merged-record latency at 1,000 requests/s, and broker memory with \
            --open-joins joins open.

            --profile runs against a broker already running, which may be profiled again and again: each run's \
            clients count only that run's requests and records (they answer or ack what earlier runs left), and \
            settle everything they took before they exit.

            Build in release for meaningful numbers: swift run -c release chorus bench
            """
    )

    @Option(help: "Runs per measurement; the median is reported.") var runs = 3
    @Option(help: "Events per throughput run.") var count = 200_000
    @Option(help: "Payload size in bytes.") var size = 256
    @Option(help: "Steady rate for the latency run, events/s.") var rate = 5000
    @Option(help: "Seconds of the latency run. 0 skips it.") var seconds = 5.0
    @Option(help: "Events in the memory backlog. 0 skips it.") var backlog = 1_000_000
    @Option(help: "Durability for the broker runs: normal or full.") var durability = Durability.normal
    @Option(help: "Events per PUBLISHMANY and per DELIVERMANY in the batched throughput figures, of both suites (1 to 1000). 1 skips them; with --profile, 1 runs the per-message clients instead.") var batch = 100
    @Option(help: "Events the throughput publisher keeps unconfirmed in flight (1 to 100000, at least --batch; core suite only).") var window = 5000
    @Option(help: "Credit each throughput consumer gives: deliveries unacked in flight (1 to 100000; core suite only). Consumers ack every min(256, credit/2) deliveries.") var credit = 5000
    @Option(help: "Groups (one consumer each) in the --profile throughput run (1 to 16; the full suite measures 1 and 3).") var groups = 1
    /// What to measure.
    enum Suite: String, ExpressibleByArgument, CaseIterable {
        case core, joins
    }

    @Option(help: "What to measure: core (broker hop, groups, latency, backlog) or joins.") var suite = Suite.core
    @Option(help: "Joins per throughput run (--suite joins); at most --join-window are open at once (steady state). 0 skips it.") var joins = 20_000
    /// 4,000 by default: ×1.11 to ×1.18 faster than 2,000 (alternating pairs), and 8,000 no faster than 4,000.
    /// Past about 3,000 the broker reads a closing join's request back from SQLite (the recent-events window is
    /// 16,384 events), without waiting for the commit in flight.
    @Option(help: "Joins open at once in the joins throughput runs: requests published and not yet seen merged (100 to 100000). Each agent's credit is at least this.") var joinWindow = 4000
    @Option(help: "Open joins for the memory figure (--suite joins). 0 skips it.") var openJoins = 100_000
    @Option(help: "Profile a running broker at this endpoint: one throughput run, batched unless --batch 1 (--groups groups; or with --suite joins, unless --joins 0, the joins run: that broker needs the bench's media join), then the latency run (skipped with --seconds 0).") var profile: String?

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be 1 or more") }
        guard count >= 1 else { throw ValidationError("--count must be 1 or more") }
        guard (0...(64 << 20)).contains(size) else { throw ValidationError("--size must be 0 to 67108864 bytes") }
        guard (1...1000).contains(batch) else { throw ValidationError("--batch must be 1 to 1000") }
        guard (1...16).contains(groups) else { throw ValidationError("--groups must be 1 to 16") }
        guard (1...100_000).contains(window), (1...100_000).contains(credit) else {
            throw ValidationError("--window and --credit must be 1 to 100000")
        }
        guard (100...100_000).contains(joinWindow) else { throw ValidationError("--join-window must be 100 to 100000") }
        guard window >= batch else { throw ValidationError("--window must be at least --batch: the publisher sends whole batches") }
        if profile == nil && groups != 1 { throw ValidationError("--groups is for --profile runs; the full suite measures 1 and 3 groups") }
        guard rate >= 1 else { throw ValidationError("--rate must be 1 or more events/s") }
        guard seconds >= 0 && seconds <= 3600 else { throw ValidationError("--seconds must be 0 (no latency run) to 3600") }
        guard backlog >= 0, joins >= 0, openJoins >= 0 else { throw ValidationError("--backlog, --joins and --open-joins must be 0 or more") }
    }

    func run() throws {
        Signals.unblockTermination()
        if let profile {
            let bench = BrokerBench(existing: profile)
            if suite == .joins {
                // The broker must have the joins bench's `media` join (JoinBench.config) in its configuration.
                if joins > 0 {
                    let j = batch > 1
                        ? try JoinBench.batchedThroughput(bench, count: joins, batch: batch, window: joinWindow)
                        : try JoinBench.throughput(bench, count: joins, window: joinWindow)
                    Output.line(String(format: "joins %.0f/s%@", j, batch > 1 ? " (batches of \(batch))" : ""))
                }
                if seconds > 0 {
                    let l = try JoinBench.latency(bench, rate: 1000, seconds: seconds)
                    Output.line(String(format: "request->merged at 1000/s: p50 %.0f us, p99 %.0f us", l.0, l.1))
                }
                return
            }
            let t = try bench.throughput(count: count, groups: groups, size: size, run: Int(Date().timeIntervalSince1970), batch: batch, window: window, credit: credit)
            Output.line(String(format: "publish %.0f ev/s, deliver %.0f ev/s%@%@", t.publish, t.deliver, groups > 1 ? " to each of \(groups) groups" : "", batch > 1 ? " (batches of \(batch))" : ""))
            if seconds > 0 {
                let l = try bench.latency(rate: rate, seconds: seconds, size: size)
                Output.line(String(format: "publish->deliver at %d/s: p50 %.0f us, p99 %.0f us", rate, l.p50, l.p99))
            }
            return
        }
        if suite == .joins {
            try runJoins()
            return
        }
        Output.line("chorus bench: \(count) x \(size)-byte events, \(runs) runs each, medians; durability=\(durability.rawValue); window \(window), credit \(credit)")
        var raw: [Double] = []
        for _ in 0..<runs { raw.append(try RawZeroMQBench.throughput(count: count * 2, size: size)) }
        let base = BenchStats.median(raw)
        report("(a) raw libzmq DEALER->ROUTER, tcp", base, "msg/s")

        for perMessage in batch > 1 ? [1, batch] : [1] {
            if perMessage > 1 { Output.line("batched: packed PUBLISHMANY and DELIVERMANY of \(perMessage) events, packed ACKs") }
            for groups in [1, 3] {
                var pub: [Double] = []
                var del: [Double] = []
                for r in 0..<runs {
                    let broker = try BrokerBench(durability: durability)
                    defer { broker.stop() }
                    let t = try broker.throughput(count: count, groups: groups, size: size, run: r, batch: perMessage, window: window, credit: credit)
                    pub.append(t.publish)
                    del.append(t.deliver)
                }
                report("(b) publish, confirmed after commit, \(groups) group(s)", BenchStats.median(pub), "ev/s", ratioTo: base)
                report("(b) deliver to each of \(groups) group(s) (slowest)", BenchStats.median(del), "ev/s", ratioTo: base)
            }
        }

        if seconds > 0 { try coreLatency(base: base) }
        guard backlog > 0 else { return }
        let broker = try BrokerBench(durability: durability)
        defer { broker.stop() }
        let m = try broker.backlogMemory(count: backlog, size: size)
        report("(d) broker RSS idle", m.idle, "MiB")
        report("(d) broker RSS after \(backlog)-event backlog", m.after, "MiB")
        report("(d) broker peak RSS during the backlog", m.peak, "MiB")
    }

    /// Figure (c): publish-to-deliver latency at `--rate`, end to end and inside the broker.
    private func coreLatency(base: Double) throws {
        var p50: [Double] = []
        var p99: [Double] = []
        var inside50: [Double] = []
        var inside99: [Double] = []
        for _ in 0..<runs {
            let broker = try BrokerBench(durability: durability)
            defer { broker.stop() }
            let l = try broker.latency(rate: rate, seconds: seconds, size: size)
            p50.append(l.p50)
            p99.append(l.p99)
            if let b = broker.brokerDeliverBounds() {
                inside50.append(b.p50)
                inside99.append(b.p99)
            }
        }
        let hop = 1e6 / base
        report("(c) publish->deliver latency p50 at \(rate)/s", BenchStats.median(p50), "us")
        report("(c) publish->deliver latency p99 at \(rate)/s", BenchStats.median(p99), "us")
        Output.line(String(format: "    (raw per-message hop time at the (a) rate: %.2f us; p50 = %.0f x that)", hop, BenchStats.median(p50) / hop))
        if !inside99.isEmpty {
            // The rest of the end-to-end figure is the clients' sockets and threads and the scheduler.
            Output.line(String(
                format: "    (inside the broker, PUBLISH read -> DELIVER sent, its histogram: p50 <= %.0f us, p99 <= %.0f us)",
                BenchStats.median(inside50), BenchStats.median(inside99)))
        }
    }

    /// One figure, with its ratio to the raw libzmq baseline of the same run (4 decimals: joins are far below it).
    func report(_ label: String, _ value: Double, _ unit: String, ratioTo base: Double? = nil, note: String? = nil) {
        let ratio = (base.map { String(format: "  (%.4f x raw)", value / $0) } ?? "") + (note.map { "  " + $0 } ?? "")
        // Padded here: Foundation on Linux ignores the width of a `%@`.
        Output.line(label.padding(toLength: max(label.count, 52), withPad: " ", startingAt: 0) + String(format: " %12.0f ", value) + unit + ratio)
    }

    /// Issue 3's figures: joins per second, request-to-merged latency at 1,000 requests/s, memory with joins open.
    func runJoins() throws {
        Output.line("chorus bench --suite joins: 3 agents answering at once, at most \(joinWindow) joins open, \(runs) runs each, medians")
        var raw: [Double] = []
        for _ in 0..<runs { raw.append(try RawZeroMQBench.throughput(count: 400_000, size: size)) }
        let base = BenchStats.median(raw)
        report("raw libzmq DEALER->ROUTER, tcp", base, "msg/s")
        for perMessage in joins > 0 ? (batch > 1 ? [1, batch] : [1]) : [] {
            if perMessage > 1 { Output.line("batched: packed PUBLISHMANY and DELIVERMANY of up to \(perMessage) events, packed ACKs") }
            var rates: [Double] = []
            var cpu: [Double] = []
            var brokerThread: [Double] = []
            var waiting: [Double] = []
            for _ in 0..<runs {
                let broker = try BrokerBench(durability: durability, extraConfig: JoinBench.config)
                defer { broker.stop() }
                let pid = broker.process.processIdentifier
                let before = broker.cpuSeconds
                let threadsBefore = ThreadTimes.snapshot(pid: pid)
                rates.append(
                    perMessage > 1
                        ? try JoinBench.batchedThroughput(broker, count: joins, batch: perMessage, window: joinWindow)
                        : try JoinBench.throughput(broker, count: joins, window: joinWindow))
                cpu.append((broker.cpuSeconds - before) / Double(joins) * 1e6)
                let threadsAfter = ThreadTimes.snapshot(pid: pid)
                // The process's first thread is the broker thread (`Broker.run`).
                brokerThread.append(threadsAfter.secondsRunning(pid, since: threadsBefore) / Double(joins) * 1e6)
                waiting.append(threadsAfter.waitingShare(since: threadsBefore) * 1000)
            }
            let j = BenchStats.median(rates)
            report("joins/s (each: request + 3 results + merged record)", j, "joins/s", ratioTo: base)
            report("  = durable events/s through the broker", j * 5, "ev/s", ratioTo: base)
            // What a join costs the broker, all its threads: steadier than joins/s on a machine whose speed drifts.
            report("  broker CPU per join (all its threads)", BenchStats.median(cpu), "us")
            let perJoin = BenchStats.median(brokerThread)
            if perJoin > 0 {
                // The thread that limits throughput, and the rate it would allow with a core of its own.
                report("  of which the broker thread", perJoin, "us", note: String(format: "(with a core to itself: at most %.0f joins/s)", 1e6 / perJoin))
                report("  broker threads waiting for a free CPU", BenchStats.median(waiting), "ms/s", note: "(the machine's contention: all threads, per second of the run)")
            }
        }
        if seconds > 0 {
            var p50: [Double] = []
            var p99: [Double] = []
            for _ in 0..<runs {
                let broker = try BrokerBench(durability: durability, extraConfig: JoinBench.config)
                defer { broker.stop() }
                let l = try JoinBench.latency(broker, rate: 1000, seconds: seconds)
                p50.append(l.0)
                p99.append(l.1)
            }
            report("request -> merged record p50 at 1,000 req/s", BenchStats.median(p50), "us")
            report("request -> merged record p99 at 1,000 req/s", BenchStats.median(p99), "us")
        }
        guard openJoins > 0 else { return }
        let broker = try BrokerBench(durability: durability, extraConfig: JoinBench.config)
        defer { broker.stop() }
        let m = try JoinBench.openJoinsMemory(broker, count: openJoins)
        report("broker RSS idle", m.0, "MiB")
        report("broker RSS with \(openJoins) joins open", m.1, "MiB")
    }
}

/// `--durability normal|full`: ArgumentParser lists and checks the values.
extension Durability: ExpressibleByArgument {}
