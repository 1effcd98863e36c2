@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Logging
import Testing

/// A lease timer outlives its ack by the whole ack timeout (30 minutes by default). Inside one broker (no client
/// process): deliveries made and acked over and over must not grow the timer heap past twice the live timers, and
/// the sweeps must keep the live ones: leases held all along still expire.
@Suite("Timer heap stays bounded under delivery and ack")
struct TimerSweepTests {
    static let consumer: [UInt8] = [0, 0xC0, 0, 0, 1]
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 2]
    static let holder: [UInt8] = [0, 0xC0, 0, 0, 3]

    @Test func ackedLeasesDoNotAccumulateTimers() throws {
        // A broker with a 60 s ack timeout, as the sweep tests of each timer kind use.
        let (broker, directory) = try TimerSweepKindsTests.broker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let subscribe = ClientCommand.subscribe(
            requestID: Array("s".utf8), group: "g", patterns: ["jobs.>"], properties: Properties([("credit", "10")]))
        broker.handle(from: Self.consumer, subscribe)
        let hold = ClientCommand.subscribe(
            requestID: Array("s".utf8), group: "h", patterns: ["jobs.>"], properties: Properties([("credit", "10")]))
        broker.handle(from: Self.holder, hold)
        var delivered = 0
        var largest = 0
        for round in 0..<1500 {
            let events = (0..<10).map { PublishRequest(topic: "jobs.e", payload: [UInt8($0), UInt8(round & 0xFF)]) }
            broker.handle(from: Self.publisher, .publishMany(requestID: Array("p".utf8), events))
            broker.dispatchDirtyGroups()
            // The loop's order: timers fire and are swept before the next dispatch.
            broker.fireTimers()
            broker.sweepTimersIfDue()
            largest = max(largest, broker.timers.count)
            let leases = try broker.outbox.messages.filter { $0[0] == Self.consumer && $0[2] == BrokerMessage.Name.deliver }
                .map { try Lease.decode(seq: $0[4], token: $0[5]) }
            delivered += leases.count
            broker.outbox.removeAll()
            broker.handle(from: Self.consumer, .ack(requestID: [], group: "g", leases: leases))
        }
        #expect(delivered == 15_000, "every event was delivered and acked")
        #expect(largest <= Broker.timerSweepFloor + 20, "the heap held \(largest) timers for at most 10 live leases")
        #expect(broker.timers.count <= Broker.timerSweepFloor)
        // Group h's member took 10 leases in the first round and never acked them: they expire on time.
        #expect(broker.counters.leaseTimeouts == 0)
        broker.now += 60_001
        broker.fireTimers()
        #expect(broker.counters.leaseTimeouts == 10)
    }
}
