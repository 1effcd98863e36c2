import ChorusClient
import Foundation
import Testing

/// `chorus bench` end to end at a tiny size: every figure is produced by real brokers and clients, so a change
/// that breaks the lean benchmark clients (raw frames in, echoed leases out) or the joins bench fails here, not
/// only when someone measures. The figures themselves are not judged: that is what benchmarks are for.
@Suite struct BenchSmokeTests {
    @Test func theCoreSuiteReportsEveryFigure() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = try ChildProcess(
            ["bench", "--runs", "1", "--count", "3000", "--batch", "10", "--seconds", "0.5", "--rate", "500", "--backlog", "2000",
             "--window", "500", "--credit", "300"],
            directory: dir, label: "bench")
        defer { p.terminate() }
        #expect(p.waitForExit(120) == 0, "bench failed: \(p.stderr)")
        let out = p.stdout
        #expect(out.contains("window 500, credit 300"))
        for figure in ["(a) raw libzmq", "(b) deliver to each of 1 group(s)", "(b) deliver to each of 3 group(s)", "batched: packed PUBLISHMANY and DELIVERMANY of 10 events, packed ACKs", "(c)", "(d) broker RSS after 2000-event backlog"] {
            #expect(out.contains(figure), "missing \(figure) in:\n\(out)")
        }
        // Two per-message and two batched lines for each of 1 and 3 groups, each with its ratio to raw.
        #expect(out.components(separatedBy: "x raw)").count - 1 >= 8, "\(out)")
    }

    @Test func theJoinsSuiteMergesEveryJoin() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = try ChildProcess(
            ["bench", "--suite", "joins", "--runs", "1", "--joins", "300", "--open-joins", "500", "--seconds", "0.5"], directory: dir, label: "bench")
        defer { p.terminate() }
        #expect(p.waitForExit(120) == 0, "bench failed: \(p.stderr)")
        let out = p.stdout
        // Per message, then batched (LeanJoinAgent): each joins/s line with its events/s line, both with ratios.
        #expect(out.contains("batched: packed PUBLISHMANY and DELIVERMANY of up to 100 events"), "\(out)")
        #expect(out.components(separatedBy: "joins/s (each").count - 1 == 2, "\(out)")
        #expect(out.components(separatedBy: "broker CPU per join (all its threads)").count - 1 == 2, "\(out)")
        // The broker thread's share and the machine's contention, from /proc/PID/task/*/schedstat, where the
        // kernel keeps it (Debian's does); without it the bench leaves the two lines out.
        if FileManager.default.fileExists(atPath: "/proc/self/schedstat") {
            let brokerThread = out.split(separator: "\n").filter { $0.contains("of which the broker thread") }
            #expect(brokerThread.count == 2 && brokerThread.allSatisfy { $0.contains("us  (with a core to itself: at most") }, "\(out)")
            #expect(out.components(separatedBy: "broker threads waiting for a free CPU").count - 1 == 2, "\(out)")
        }
        #expect(out.components(separatedBy: "x raw)").count - 1 >= 4, "\(out)")
        #expect(out.contains("p99"), "\(out)")
    }

    /// Profiling a broker that is not there fails with the client's message instead of waiting forever for
    /// agents that could not connect (the joins latency run did).
    @Test(.timeLimit(.minutes(2)))
    func profilingNoBrokerFailsClearly() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = try ChildProcess(["bench", "--suite", "joins", "--profile", "tcp://127.0.0.1:1", "--joins", "0", "--seconds", "1"], directory: dir, label: "bench")
        defer { p.terminate() }
        let status = p.waitForExit(60)
        #expect(status != nil && status != 0, "bench against no broker: \(status.map(String.init) ?? "still running after 60 s")")
        #expect(p.stderr.contains("no answer from the broker"), "\(p.stderr)")
    }

    /// A profiled broker can hold requests that an earlier run left undelivered (a run that failed, or events
    /// published by hand). The next run's agents answer them as well and ack every request they hold before they
    /// leave; its merged-record consumer counts only its own run's records. They used to stop after as many acks as
    /// the run had requests (leaving the last ones to be redelivered to the run after), and count any merged
    /// record, so a run on a used broker could end at once with a figure many times too high.
    /// Per message (`--batch 1`: BrokerConnection clients) and batched (LeanJoinAgent, LeanConsumer).
    @Test(.timeLimit(.minutes(3)), arguments: ["1", "100"])
    func profilingABrokerWithLeftoverRequestsCompletes(batch: String) throws {
        // The bench's media join (JoinBench.config), as the join tests declare it.
        let broker = try BrokerProcess(config: JoinTests.config(timeout: "1h"))
        defer { broker.stop() }
        func profile(_ label: String, window: String = "4000") throws {
            let p = try ChildProcess(
                ["bench", "--suite", "joins", "--profile", broker.endpoint, "--joins", "200", "--seconds", "0", "--batch", batch, "--join-window", window],
                directory: broker.directory, label: label)
            defer { p.terminate() }
            #expect(p.waitForExit(90) == 0, "\(label) did not complete: \(p.stderr)")
            #expect(p.stdout.contains("joins "), "\(p.stdout)")
        }
        try profile("first-run")
        // The agents' groups exist now, with no member: these wait in each group's backlog for the next run.
        let leftovers = (1...150).map { "{\"prompt\":\"left over \($0)\"}" }.joined(separator: "\n") + "\n"
        let publish = try broker.publishLines(leftovers, topic: "gen.request", label: "leftovers")
        #expect(publish.waitForExit(30) == 0, "\(publish.stderr)")
        // Fewer joins open at once than the run has: the requester waits for merged records to send more.
        try profile("second-run", window: "100")
        // Every join completed, the leftovers' too, and every request and merged record was acked: the clients
        // leave nothing behind for a third run (they used to leave the last merged records unacked, and a later
        // run counted them as its own and reported a figure several times too high).
        let c = try broker.connect(name: "check")
        defer { c.close() }
        func stats() -> [String: Any] { (try? c.admin("stats")) ?? [:] }
        func open() -> Int? { (stats()["joins"] as? [[String: Any]])?.first?["open"] as? Int }
        func unsettled() -> [String: Int] {
            var left: [String: Int] = [:]
            for g in stats()["groups"] as? [[String: Any]] ?? [] {
                left[g["name"] as? String ?? "?"] = (g["backlog"] as? Int ?? -1) + (g["in_flight"] as? Int ?? -1)
            }
            return left
        }
        #expect(waitUntil(10) { open() == 0 }, "joins still open: \(String(describing: open()))")
        #expect(waitUntil(10) { let u = unsettled(); return u.count == 4 && u.values.allSatisfy { $0 == 0 } }, "\(unsettled())")
    }

    /// A client that cannot subscribe (here the merged-record group exists with other patterns) fails the run with
    /// the broker's reason; the agents that did subscribe are told to stop instead of waiting for the run forever.
    @Test(.timeLimit(.minutes(2)), arguments: ["1", "100"])
    func aRefusedSubscriptionFailsTheRunClearly(batch: String) throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let c = try broker.connect(name: "squatter")
        try c.subscribe(group: "bench-merged", patterns: ["other.>"], credit: 1)
        c.close()
        let p = try ChildProcess(
            ["bench", "--suite", "joins", "--profile", broker.endpoint, "--joins", "100", "--seconds", "0", "--batch", batch],
            directory: broker.directory, label: "bench")
        defer { p.terminate() }
        let status = p.waitForExit(60)
        #expect(status != nil && status != 0, "bench with a refused SUBSCRIBE: \(status.map(String.init) ?? "still running after 60 s")")
        #expect(p.stderr.contains("GROUP_MISMATCH"), "\(p.stderr)")
    }

    /// A credit below the consumers' usual ACK size (256) must not stall them: they ack every credit/2.
    @Test func aSmallCreditStillCompletes() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let p = try ChildProcess(
            ["bench", "--runs", "1", "--count", "2000", "--batch", "10", "--seconds", "0", "--backlog", "0", "--window", "100", "--credit", "7"],
            directory: dir, label: "bench")
        defer { p.terminate() }
        #expect(p.waitForExit(120) == 0, "bench failed: \(p.stderr)")
        #expect(p.stdout.components(separatedBy: "x raw)").count - 1 >= 8, "\(p.stdout)")
    }
}
