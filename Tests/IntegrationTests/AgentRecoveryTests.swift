import ChorusClient
import ChorusProtocol
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Real agent processes (`chorus agent`) recovering from what a real system does to them: a process stopped past
/// the heartbeat timeout, and a generator that keeps failing until the group's last attempt.
@Suite struct AgentRecoveryTests {
    /// The group's entry in the broker's `stats`.
    static func group(_ c: BrokerConnection, _ name: String) throws -> [String: Any]? {
        (try c.admin("stats")["groups"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    static func number(_ c: BrokerConnection, _ group: String, _ key: String) -> Int? {
        (try? Self.group(c, group))??[key] as? Int
    }

    /// The agent's log lines whose message (after the `[ChorusAgent]` source) is exactly `message`.
    static func lines(_ agent: ChildProcess, _ message: String) -> [String] {
        agent.stderr.split(separator: "\n").map(String.init).filter { $0.hasSuffix("] " + message) }
    }

    /// `kill -STOP` an agent holding a job for longer than heartbeat x misses: the broker ends its session and
    /// releases the job. After `kill -CONT` the agent publishes its stale attempt-1 result (the log keeps it) and
    /// acks it; the broker no longer knows the session as a member and answers `NOT_SUBSCRIBED`. The agent must
    /// take that as the broker having forgotten it and subscribe again at once (not after its own silence timer of
    /// heartbeat x misses + 0.5 s), log the ack as refused rather than the job as done, and answer attempt 2.
    @Test func anAgentStoppedPastTheHeartbeatTimeoutSubscribesAgainAtOnceAndSaysItsAckWasRefused() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let manifest = try AgentTests.writeManifest(broker, "frozen", """
            [agent]
            name = "frozen"
            group = "frozen"
            topics = ["frozen.request"]
            result_topic = "frozen.result"
            max_attempts = 5
            [generator]
            kind = "command"
            content_type = "text/plain"
            command = ["/bin/sh", "-c", "echo run >> \(broker.directory.file("runs.txt")); sleep 1; echo answer"]
            """)
        let agent = try AgentTests.agent(broker, manifest: manifest, label: "frozen")
        let pid = agent.process.processIdentifier
        defer {
            kill(pid, SIGCONT)  // a failed expectation must not leave a stopped process behind
            agent.terminate()
        }
        #expect(AgentTests.waitSubscribed([agent]), "\(agent.stderr)")
        let c = try broker.connect()
        let seq = try c.publish(topic: "frozen.request", payload: Array("{\"prompt\":\"x\"}".utf8), properties: Properties([("correlation", "frozen-1")])).seq
        // The agent holds the job (attempt 1); then it stops answering anything, heartbeats included.
        try #require(waitUntil(10) { Self.number(c, "frozen", "in_flight") == 1 }, "the agent never took the job")
        kill(pid, SIGSTOP)
        // 300 ms x 5 misses later (plus the broker's check interval) the broker ends the session and releases the job.
        let dropped = waitUntil(10) { Self.number(c, "frozen", "consumers") == 0 && Self.number(c, "frozen", "in_flight") == 0 }
        kill(pid, SIGCONT)
        try #require(dropped, "the broker did not end the stopped agent's session: \(broker.stderr)")

        // The job's child process ran on while the agent was stopped: its attempt-1 result goes out at once.
        let stale = try #require(try c.awaitEvent(correlation: "frozen-1", pattern: "frozen.result", afterSeq: seq, timeoutMilliseconds: 10_000))
        let staleAt = nowMs()
        #expect(stale.header("attempt") == "1")
        // Subscribed again promptly: well under the agent's silence timer (300 x 5 + 500 = 2000 ms here).
        let resubscribed = waitUntil(10) { Self.lines(agent, "subscribed").count >= 2 }
        let after = nowMs() - staleAt
        #expect(resubscribed, "\(agent.stderr)")
        #expect(after < 1000, "subscribed again \(after) ms after the stale result: \(agent.stderr)")
        #expect(!agent.stderr.contains("broker silent"), "\(agent.stderr)")

        // The request is answered by attempt 2, on the new session.
        let answer = try #require(try c.awaitEvent(correlation: "frozen-1", pattern: "frozen.result", afterSeq: stale.seq, timeoutMilliseconds: 15_000))
        #expect(answer.header("attempt") == "2")
        #expect(String(decoding: answer.payload, as: UTF8.self).contains("answer"))
        // The log says the attempt-1 ack was refused, and calls only attempt 2 done.
        #expect(waitUntil(5) { Self.lines(agent, "done").contains { $0.contains("attempt=2") } }, "\(agent.stderr)")
        let refused = Self.lines(agent, "ack refused: the request was given out again")
        #expect(refused.count == 1 && refused.allSatisfy { $0.contains("attempt=1") && $0.contains("code=NOT_SUBSCRIBED") }, "\(agent.stderr)")
        #expect(!Self.lines(agent, "done").contains { $0.contains("attempt=1") }, "\(agent.stderr)")
        #expect(Self.number(c, "frozen", "acked") == 1)
        // Attempt 2 came back to this agent, which still had the result: published again, not generated again.
        #expect(Self.lines(agent, "given out again; publishing the result already made").count == 1, "\(agent.stderr)")
        let runs = (try? String(contentsOfFile: broker.directory.file("runs.txt"), encoding: .utf8)) ?? ""
        #expect(runs.split(separator: "\n").count == 1, "the generator ran \(runs.split(separator: "\n").count) times")
    }

    /// A generator failing in a way a retry may fix (an OpenAI-compatible server that is not there) on the group's
    /// last allowed attempt: the broker dead-letters the request, and the agent's log says so instead of "will be
    /// retried", which stays for the earlier attempts.
    @Test func aRetryableFailureOnTheLastAttemptIsLoggedAsDeadLettered() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let manifest = try AgentTests.writeManifest(broker, "unreachable", """
            [agent]
            name = "unreachable"
            group = "unreachable"
            topics = ["unreachable.request"]
            result_topic = "unreachable.result"
            max_attempts = 2
            [generator]
            kind = "openai-chat"
            url = "http://127.0.0.1:9"
            timeout = "5s"
            """)
        let agent = try AgentTests.agent(broker, manifest: manifest, label: "unreachable")
        defer { agent.terminate() }
        #expect(AgentTests.waitSubscribed([agent]), "\(agent.stderr)")
        let c = try broker.connect()
        _ = try c.publish(topic: "unreachable.request", payload: Array("{\"prompt\":\"x\"}".utf8), properties: Properties([("correlation", "u-1")]))
        // Attempt 1 fails, the NACK delays it by 1 s, attempt 2 fails: dead-lettered.
        #expect(waitUntil(20) { Self.number(c, "unreachable", "dead_lettered") == 1 }, "\(agent.stderr)")
        let last = "job failed on its last attempt (2 of 2); the broker dead-letters the request"
        #expect(waitUntil(5) { !Self.lines(agent, last).isEmpty }, "\(agent.stderr)")
        let lastLines = Self.lines(agent, last)
        #expect(lastLines.count == 1 && lastLines.allSatisfy { $0.contains("warning") && $0.contains("attempt=2") }, "\(agent.stderr)")
        let retried = Self.lines(agent, "job failed; will be retried")
        #expect(retried.count == 1 && retried.allSatisfy { $0.contains("attempt=1") && $0.contains("no OpenAI-compatible server") }, "\(agent.stderr)")
    }

    /// An agent draining when its broker restarts reconnects to report what it holds, but paused (credit 0): new
    /// requests go to other members, not to it to be bounced back with "agent draining".
    @Test func anAgentDrainingThroughABrokerRestartComesBackWithNoCredit() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let manifest = try AgentTests.writeManifest(broker, "drainer", """
            [agent]
            name = "drainer"
            group = "slow"
            topics = ["slow.request"]
            result_topic = "slow.result"
            drain_timeout = "30s"
            [generator]
            kind = "command"
            content_type = "text/plain"
            command = ["/bin/sh", "-c", "sleep 4; echo late"]
            """)
        let agent = try AgentTests.agent(broker, manifest: manifest, label: "drainer")
        defer { agent.terminate() }
        #expect(AgentTests.waitSubscribed([agent]), "\(agent.stderr)")
        let c = try broker.connect()
        _ = try c.publish(topic: "slow.request", payload: Array("{\"prompt\":\"one\"}".utf8), properties: Properties([("correlation", "dr-1")]))
        #expect(waitUntil(10) { Self.number(c, "slow", "in_flight") == 1 })
        kill(agent.process.processIdentifier, SIGTERM)
        #expect(waitUntil(10) { agent.stderr.contains("draining: no new work") })
        broker.kill9()
        try broker.start()
        #expect(waitUntil(20) { agent.stderr.components(separatedBy: "] subscribed").count == 3 }, "\(agent.stderr)")
        let after = try broker.connect()
        _ = try after.publish(topic: "slow.request", payload: Array("{\"prompt\":\"two\"}".utf8), properties: Properties([("correlation", "dr-2")]))
        // The agent finishes its job and exits 0; the new request (and the released old one) wait for another member.
        #expect(agent.waitForExit(30) == 0, "\(agent.stderr)")
        #expect(!agent.stderr.contains("agent draining"), "\(agent.stderr)")
        let g = try #require(try Self.group(after, "slow"))
        #expect(g["delivered"] as? Int == 0, "a draining member was given work: \(g)")
    }
}
