import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// kill -9 of the broker: nothing confirmed is lost, every group resumes, attempts survive.
@Suite struct CrashRecoveryTests {
    @Test func killNineMidStreamLosesNoConfirmedEventForAnyGroup() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let groups = ["g1", "g2", "g3"]
        // Create the groups first (from the beginning), then leave: the log must carry them.
        for g in groups {
            let c = try broker.connect(name: "setup-\(g)")
            try c.subscribe(group: g, patterns: ["stream.>"], credit: 1, start: .first)
            c.close()
        }
        // Pipelined publishing; record every confirm. Kill the broker while publishes are in flight.
        let publisher = try broker.connect()
        var confirmed: Set<UInt64> = []
        var outstanding: [[UInt8]] = []
        var sent = 0
        let killAfter = 3000
        var killed = false
        publishing: while sent < 20_000 {
            while outstanding.count < 500 {
                let r = publisher.makeRequestID()
                try publisher.send(.publish(requestID: r, request: PublishRequest(topic: "stream.e", payload: Array("event-\(sent)".utf8))))
                outstanding.append(r)
                sent += 1
            }
            while let message = try publisher.receive(timeoutMilliseconds: killed ? 300 : 2000) {
                if case .confirm(let r, let seq, _) = message {
                    confirmed.insert(seq)
                    outstanding.removeAll { $0 == r }
                }
                if !killed && confirmed.count >= killAfter {
                    broker.kill9()
                    killed = true
                }
                if outstanding.count < 250 && !killed { continue publishing }
            }
            if killed { break }
        }
        #expect(killed)
        #expect(confirmed.count >= killAfter)
        try broker.start()
        for g in groups {
            let c = try broker.connect(name: "reader-\(g)")
            try c.subscribe(group: g, patterns: ["stream.>"], credit: 1000)
            var seen: Set<UInt64> = []
            let complete = try waitUntil(30) {
                let batch = try c.drain(for: 0.05)
                if !batch.isEmpty { try c.ack(group: g, leases: batch.map(\.lease)) }
                seen.formUnion(batch.map(\.lease.seq))
                return confirmed.isSubset(of: seen)
            }
            #expect(complete, "group \(g) is missing \(confirmed.subtracting(seen).count) confirmed events")
        }
    }

    @Test func inFlightDeliveriesComeBackAfterARestartWithTheirAttemptCount() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "w1")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 1)
        let seq = try broker.connect().publish(topic: "work", payload: [9]).seq
        let d = try #require(try consumer.deliveries(1, within: 10).first)
        try consumer.nack(group: "g", lease: d.lease, mode: .requeue, reason: "first failure")
        let d2 = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(d2.attempt == 2)
        broker.kill9()
        try broker.start()
        let after = try broker.connect(name: "w2")
        try after.subscribe(group: "g", patterns: ["work"], credit: 1)
        let d3 = try #require(try after.deliveries(1, within: 10).first)
        #expect(d3.lease.seq == seq)
        #expect(d3.attempt == 3)
    }

    /// First deliveries have no pending row; the group's list of them (groups.in_flight) is what survives a kill -9.
    /// Those still in flight come back as attempt 2; those acked (confirmed by ACKED) never come back, whatever
    /// order they were acked in.
    @Test func firstDeliveriesInFlightComeBackAsAttemptTwoAndAckedOnesDoNot() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "w1")
        try consumer.subscribe(group: "g", patterns: ["work"], credit: 5)
        let publisher = try broker.connect()
        let seqs = try (0..<5).map { i in try publisher.publish(topic: "work", payload: [UInt8(i)]).seq }
        let first = try consumer.deliveries(5, within: 10)
        #expect(first.map(\.lease.seq).sorted() == seqs)
        #expect(first.allSatisfy { $0.attempt == 1 })
        // Settle the 1st, 3rd and 5th (out of order); keep the 2nd and 4th in flight.
        let acked = [seqs[4], seqs[0], seqs[2]]
        try consumer.ack(group: "g", leases: first.filter { acked.contains($0.lease.seq) }.map(\.lease), confirm: true)
        broker.kill9()
        try broker.start()
        let after = try broker.connect(name: "w2")
        try after.subscribe(group: "g", patterns: ["work"], credit: 10)
        let again = try after.deliveries(2, within: 10)
        #expect(again.map(\.lease.seq).sorted() == [seqs[1], seqs[3]])
        #expect(again.allSatisfy { $0.attempt == 2 })
        try after.ack(group: "g", leases: again.map(\.lease), confirm: true)
        // Nothing else comes: the acked events stay settled.
        #expect(try after.drain(for: 1.5).isEmpty)
        // And once settled after the restart, another kill -9 brings nothing back either.
        broker.kill9()
        try broker.start()
        let last = try broker.connect(name: "w3")
        try last.subscribe(group: "g", patterns: ["work"], credit: 10)
        #expect(try last.drain(for: 1.5).isEmpty)
    }

    /// A first delivery on the group's last attempt (max-attempts 1) in flight at a kill -9 is dead-lettered once
    /// at the restart, and never again however often the broker is killed after that.
    @Test func aFirstDeliveryOnItsLastAttemptIsDeadLetteredOnceAcrossRestarts() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "w1")
        try consumer.subscribe(group: "once", patterns: ["job"], credit: 1, extra: [("max-attempts", "1")])
        let seq = try broker.connect().publish(topic: "job", payload: [7]).seq
        #expect(try consumer.deliveries(1, within: 10).first?.lease.seq == seq)
        func deadLetters() throws -> [[String: Any]] {
            try broker.connect().admin("dlq.list", arguments: ["group": "once"])["dead_letters"] as? [[String: Any]] ?? []
        }
        broker.kill9()
        try broker.start()
        #expect(waitUntil(10) { ((try? deadLetters()) ?? []).count == 1 })
        let letter = try #require(try deadLetters().first)
        #expect((letter["seq"] as? NSNumber)?.uint64Value == seq)
        #expect((letter["reason"] as? String)?.contains("broker restarted") == true, "\(letter)")
        for _ in 0..<2 {
            broker.kill9()
            try broker.start()
            #expect(try deadLetters().count == 1)
        }
        let dlqEvents = try broker.connect()
        try dlqEvents.subscribe(group: "dlq-watch", patterns: ["$dlq.>"], credit: 10, start: .first)
        #expect(try dlqEvents.deliveries(1, within: 10).count == 1, "no $dlq.once event")
        #expect(try dlqEvents.drain(for: 1.5).isEmpty, "more than one $dlq.once event")
    }

    /// Past 16,384 first deliveries in flight, a group's list stops growing (it is rewritten whole at each change)
    /// and further first deliveries get pending rows; after a kill -9 all of them come back as attempt 2.
    @Test func firstDeliveriesPastTheListLimitGetRowsAndAllComeBack() throws {
        // Appended to the harness's [delivery] table: more unsettled deliveries than the default 10,000.
        let broker = try BrokerProcess(config: "max_pending = 20000\n")
        defer { broker.stop() }
        let consumer = try broker.connect(name: "bulk")
        try consumer.subscribe(group: "bulk", patterns: ["bulk"], credit: 20_000)
        // Published by another process, pipelined, while this thread keeps the consumer's session alive by reading.
        let publisher = try broker.publishLines(
            (0..<16_488).map { "job \($0)" }.joined(separator: "\n").appending("\n"), topic: "bulk", label: "bulk-pub")
        #expect(try consumer.deliveries(16_488, within: 60).count == 16_488)
        #expect(publisher.waitForExit(10) == 0)
        let db = broker.directory.file("data/chorus.sqlite")
        let listed = try #require(try sqlite(db, "select in_flight from groups where name = 'bulk'").first)
        let ranges = listed.split(separator: ",").map { $0.split(separator: "-").compactMap { Int($0) } }
        #expect(ranges.reduce(0) { $0 + ($1.count == 2 ? $1[1] - $1[0] + 1 : 1) } == 16_384, "\(listed.prefix(200))")
        #expect(try sqlite(db, "select count(*) from pending") == ["104"])
        broker.kill9()
        try broker.start()
        let after = try broker.connect(name: "bulk-2")
        try after.subscribe(group: "bulk", patterns: ["bulk"], credit: 20_000)
        let again = try after.deliveries(16_488, within: 60)
        #expect(again.count == 16_488)
        #expect(again.allSatisfy { $0.attempt == 2 })
    }
}
