@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Logging
import Testing

/// A sweep must keep every timer that would still act: a retry after a NACK with a delay, the latest expiry of
/// an extended lease (and only that one), an AWAIT's timeout, a join's deadline and a part's own timeout. Inside
/// one broker (no client process); each test forces a sweep where the loop would only sweep past the floor.
@Suite("Timer sweeps keep the timers that still act")
struct TimerSweepKindsTests {
    static let consumer: [UInt8] = [0, 0xC0, 0, 0, 1]
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 2]

    /// A test broker whose leases last a minute.
    static func broker(_ toml: String = "") throws -> (Broker, String) {
        try makeTestBroker(toml, ackTimeoutMilliseconds: 60_000)
    }

    /// Subscribes the consumer to `jobs.>` in group g, publishes one event and returns its lease.
    static func oneDelivery(_ broker: Broker) throws -> Lease {
        let subscribe = ClientCommand.subscribe(requestID: [], group: "g", patterns: ["jobs.>"], properties: Properties([("credit", "1")]))
        broker.handle(from: consumer, subscribe)
        broker.handle(from: publisher, .publish(requestID: [], request: PublishRequest(topic: "jobs.e", payload: [1])))
        broker.dispatchDirtyGroups()
        let deliver = try #require(broker.outbox.messages.first { $0[0] == consumer && $0[2] == BrokerMessage.Name.deliver })
        broker.outbox.removeAll()
        return try Lease.decode(seq: deliver[4], token: deliver[5])
    }

    static func forceSweep(_ broker: Broker) {
        broker.timerSweepAt = 0
        broker.sweepTimersIfDue()
    }

    static func names(_ broker: Broker) -> [String] {
        broker.outbox.messages.filter { $0[0] == consumer }.map { String(decoding: $0[2], as: UTF8.self) }
    }

    @Test func aDelayedRetryStillComes() throws {
        let (broker, directory) = try Self.broker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lease = try Self.oneDelivery(broker)
        let nack = ClientCommand.nack(requestID: [], group: "g", lease: lease, mode: .delay(milliseconds: 5_000), reason: "busy")
        broker.handle(from: Self.consumer, nack)
        Self.forceSweep(broker)
        broker.now += 5_001
        broker.fireTimers()
        broker.dispatchDirtyGroups()
        let again = try #require(broker.outbox.messages.first { $0[0] == Self.consumer && $0[2] == BrokerMessage.Name.deliver })
        #expect(again[6] == Array("2".utf8), "the retry is attempt 2")
    }

    @Test func anExtendedLeaseKeepsOnlyItsLatestTimerAndStillExpires() throws {
        let (broker, directory) = try Self.broker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lease = try Self.oneDelivery(broker)
        for _ in 0..<3 {
            broker.now += 10
            broker.handle(from: Self.consumer, .extend(requestID: [], group: "g", lease: lease, milliseconds: 100_000))
        }
        #expect(broker.timers.count == 4)
        Self.forceSweep(broker)
        #expect(broker.timers.count == 1, "the timers of the superseded expiries are gone")
        broker.now += 60_001
        broker.fireTimers()
        #expect(broker.counters.leaseTimeouts == 0, "the lease was extended past the ack timeout")
        broker.now += 40_100
        broker.fireTimers()
        #expect(broker.counters.leaseTimeouts == 1)
    }

    @Test func anAwaitStillTimesOut() throws {
        let (broker, directory) = try Self.broker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let waiting = ClientCommand.await(requestID: Array("w".utf8), correlation: "nobody", pattern: "jobs.>", afterSeq: 0, timeoutMilliseconds: 2_000)
        broker.handle(from: Self.consumer, waiting)
        broker.outbox.removeAll()
        Self.forceSweep(broker)
        broker.now += 2_001
        broker.fireTimers()
        let error = try #require(broker.outbox.messages.first { $0[0] == Self.consumer && $0[2] == BrokerMessage.Name.error })
        #expect(error[5] == Array("AWAIT_TIMEOUT".utf8))
    }

    @Test func aJoinDeadlineAndAPartTimeoutStillFire() throws {
        let toml = """
            [joins.media]
            open = "gen.request"
            emit = "gen.merged"
            timeout = "10s"
            [joins.media.parts.text]
            topic = "gen.result.text"
            timeout = "2s"
            [joins.media.parts.image]
            topic = "gen.result.image"
            """
        let (broker, directory) = try Self.broker(toml)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let request = PublishRequest(topic: "gen.request", properties: Properties([("correlation", "c1")]), payload: [1])
        broker.handle(from: Self.publisher, .publish(requestID: [], request: request))
        #expect(broker.openJoins.count == 1)
        Self.forceSweep(broker)
        broker.now += 2_001
        broker.fireTimers()
        #expect(broker.batch.joinParts.contains { $0.part == "text" && $0.status == "timeout" }, "the part's own timeout fired")
        Self.forceSweep(broker)
        broker.now += 8_000
        broker.fireTimers()
        #expect(broker.openJoins.isEmpty, "the join's deadline closed it")
        #expect(broker.counters.joinsClosed["media"]?.values.reduce(0, +) == 1)
    }
}
