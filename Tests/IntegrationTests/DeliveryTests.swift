import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// Acks, nacks, leases, redelivery, dead letters, deadlines and credit, against a real broker process.
@Suite struct DeliveryTests {
    func refusedCode(_ error: any Error) -> ErrorCode? {
        if case ChorusClientError.refused(let code, _) = error { return code }
        return nil
    }

    @Test func nackRequeueAndDelayRedeliverWithTheNextAttempt() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "worker")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1)
        let seq = try broker.connect().publish(topic: "work", payload: [1]).seq

        let first = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(first.lease.seq == seq && first.attempt == 1)
        try consumer.nack(group: "g", lease: first.lease, mode: .requeue, reason: "try again")

        let second = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(second.lease.seq == seq && second.attempt == 2)
        #expect(second.lease.token != first.lease.token)

        let nackedAt = nowMs()
        try consumer.nack(group: "g", lease: second.lease, mode: .delay(milliseconds: 400), reason: "later")
        let third = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(third.attempt == 3)
        #expect(nowMs() - nackedAt >= 380, "a delayed nack must not come back before its delay")
        try consumer.ack(group: "g", leases: [third.lease], confirm: true)
        #expect(try consumer.drain(for: 0.3).isEmpty)
    }

    @Test func unackedWorkReturnsAfterTheVisibilityTimeoutAndAStaleAckIsRefused() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "slow")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1, extra: [("ack-timeout", "300")])
        _ = try broker.connect().publish(topic: "work", payload: [1])
        let first = try #require(try consumer.deliveries(1, within: 10).first)
        let second = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(second.lease.seq == first.lease.seq)
        #expect(second.attempt == 2)
        // The first attempt's ack must not settle the second attempt.
        #expect { try consumer.ack(group: "g", leases: [first.lease], confirm: true) } throws: { refusedCode($0) == .staleLease }
        try consumer.ack(group: "g", leases: [second.lease], confirm: true)
        #expect { try consumer.ack(group: "g", leases: [second.lease], confirm: true) } throws: { refusedCode($0) == .staleLease }
    }

    @Test func extendingALeaseKeepsTheDeliveryPastItsTimeout() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "gpu")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1, extra: [("ack-timeout", "300")])
        _ = try broker.connect().publish(topic: "work", payload: [1])
        let d = try #require(try consumer.deliveries(1, within: 10).first)
        let until = try consumer.extend(group: "g", lease: d.lease, milliseconds: 3000)
        #expect(Int64(until) > nowMs() + 2000)
        #expect(try consumer.drain(for: 0.8).isEmpty, "an extended lease must not be redelivered")
        try consumer.ack(group: "g", leases: [d.lease], confirm: true)
    }

    @Test func aKilledConsumersWorkGoesToAnotherMember() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let doomed = try broker.client(["subscribe", "jobs", "--group", "g", "--no-ack", "--credit", "5", "--json"], label: "doomed")
        let publisher = try broker.connect()
        let joined = try waitUntil(15, pollMilliseconds: 100) {
            _ = try publisher.publish(topic: "jobs", payload: Array("probe".utf8))
            return !doomed.stdout.isEmpty
        }
        #expect(joined)
        for i in 0..<10 { _ = try publisher.publish(topic: "jobs", payload: Array("job-\(i)".utf8)) }
        #expect(waitUntil(10) { FanOutTests.seqs(in: doomed).count >= 5 })
        let held = Set(FanOutTests.seqs(in: doomed))
        let survivor = try broker.connect(name: "survivor")
        try survivor.subscribe(group: "g", patterns: ["jobs"], credit: 100)
        let killedAt = nowMs()
        doomed.kill9()
        var redelivered: [Delivery] = []
        #expect(
            try waitUntil(10) {
                redelivered += try survivor.drain(for: 0.05)
                return held.isSubset(of: Set(redelivered.map(\.lease.seq)))
            })
        let elapsed = nowMs() - killedAt
        // At the latest when the broker has heard nothing for heartbeat x misses (sooner with ROUTER_NOTIFY), plus
        // room for a loaded machine.
        let bound = Int64(BrokerProcess.heartbeatMilliseconds * BrokerProcess.heartbeatMisses + 2500)
        #expect(elapsed < bound, "work of a dead consumer must return within a few heartbeats, took \(elapsed) ms")
        for d in redelivered where held.contains(d.lease.seq) { #expect(d.attempt == 2) }
        // The broker's log says which consumer went, why, and how much work went back.
        #expect(
            waitUntil(5) { broker.stderr.contains("consumer session ended; its deliveries go back to their groups") && broker.stderr.contains("released=5") },
            "\(broker.stderr.suffix(2000))")
    }

    @Test func afterMaxAttemptsAnEventIsDeadLetteredWithItsHistory() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let dlq = try broker.connect(name: "dlq-watcher")
        try dlq.subscribe(group: "dlq", patterns: ["$dlq.>"], credit: 10)
        let consumer = try broker.connect(name: "flaky")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1, extra: [("max-attempts", "2")])
        let seq = try broker.connect().publish(topic: "work", payload: Array("payload".utf8), properties: Properties([("correlation", "c-7")])).seq
        for attempt in 1...2 {
            let d = try #require(try consumer.deliveries(1, within: 10).first)
            #expect(d.attempt == UInt32(attempt))
            try consumer.nack(group: "g", lease: d.lease, mode: .requeue, reason: "boom \(attempt)")
        }
        let dead = try #require(try dlq.deliveries(1, within: 10).first)
        #expect(dead.event.topic == "$dlq.g")
        #expect(dead.event.correlation == "c-7")
        #expect(dead.event.payload == Array("payload".utf8))
        let headers = Dictionary(dead.event.headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a })
        #expect(headers["dlq-seq"] == String(seq))
        #expect(headers["dlq-attempts"] == "2")
        #expect(headers["dlq-reason"]?.contains("boom 2") == true)
        #expect(try consumer.drain(for: 0.3).isEmpty, "a dead-lettered event is not delivered again")
    }

    @Test func eventsPastTheirDeadlineAreDeadLetteredNotDelivered() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect()
        let deadline = nowMs() + 300
        let expiring = try publisher.publish(topic: "work", payload: [1], properties: Properties([("deadline", String(deadline))])).seq
        let lasting = try publisher.publish(topic: "work", payload: [2]).seq
        // A deadline already past is refused at publish time.
        #expect {
            _ = try publisher.publish(topic: "work", payload: [3], properties: Properties([("deadline", String(nowMs() - 1000))]))
        } throws: { refusedCode($0) == .deadlinePassed }
        #expect(waitUntil(5) { nowMs() > deadline + 50 })
        let dlq = try broker.connect(name: "dlq")
        try dlq.subscribe(group: "dlq", patterns: ["$dlq.>"], credit: 10)
        let consumer = try broker.connect(name: "late")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 10, start: .first)
        let got = try consumer.deliveries(1, within: 10)
        #expect(got.map(\.lease.seq) == [lasting])
        let dead = try #require(try dlq.deliveries(1, within: 10).first)
        #expect(dead.event.header("dlq-reason")?.hasPrefix("expired") == true, "\(dead.event.headers)")
        #expect(dead.event.header("dlq-seq") == String(expiring))
    }

    @Test func creditIsNeverExceeded() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "gpu")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 3)
        let publisher = try broker.connect()
        for i in 0..<40 { _ = try publisher.publish(topic: "work", payload: [UInt8(i)]) }
        var inFlight: [Lease] = []
        var maxInFlight = 0
        var total = 0
        while total < 40 {
            let batch = try consumer.drain(for: 0.15)
            inFlight += batch.map(\.lease)
            total += batch.count
            maxInFlight = max(maxInFlight, inFlight.count)
            #expect(inFlight.count <= 3, "credit 3 exceeded: \(inFlight.count) unacked")
            if batch.isEmpty && inFlight.isEmpty { break }
            // Ack one at a time: exactly one more may arrive per ack.
            if let first = inFlight.first {
                try consumer.ack(group: "g", leases: [first], confirm: true)
                inFlight.removeFirst()
            }
        }
        #expect(total == 40)
        #expect(maxInFlight == 3)
    }

    @Test func idempotentRetriesGetTheFirstSequenceNumberEvenAfterARestart() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect()
        let first = try publisher.publish(topic: "orders", payload: [1], properties: Properties([("key", "order-17")]))
        let retry = try publisher.publish(topic: "orders", payload: [1], properties: Properties([("key", "order-17")]))
        #expect(!first.duplicate && retry.duplicate && retry.seq == first.seq)
        broker.kill9()
        try broker.start()
        let again = try broker.connect().publish(topic: "orders", payload: [1], properties: Properties([("key", "order-17")]))
        #expect(again.duplicate && again.seq == first.seq)
        let other = try broker.connect().publish(topic: "orders", payload: [1], properties: Properties([("key", "order-18")]))
        #expect(!other.duplicate && other.seq > first.seq)
    }

    @Test func creditZeroPausesAMemberWithoutTakingBackWhatItHolds() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "draining")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1)
        let p = try broker.connect()
        _ = try p.publish(topic: "work", payload: [1])
        let held = try #require(try consumer.deliveries(1, within: 10).first)
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 0)
        _ = try p.publish(topic: "work", payload: [2])
        try consumer.ack(group: "g", leases: [held.lease], confirm: true)
        #expect(try consumer.drain(for: 0.5).isEmpty, "a paused member gets nothing new")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1)
        #expect(try consumer.deliveries(1, within: 10).map(\.attempt) == [1], "the waiting event was never bounced")
    }
}
