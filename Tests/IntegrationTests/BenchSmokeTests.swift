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
