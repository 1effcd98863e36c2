import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// PUBLISHMANY / CONFIRMMANY and DELIVERMANY between real processes (docs/PROTOCOL.md, sections 6.14, 7.15, 7.16).
@Suite struct BatchingTests {
    @Test func publishManyAnswersEachEventAsItsOwnPublishWould() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "reader")
        try consumer.subscribe(group: "g", patterns: ["orders.>"], credit: 100)
        let c = try broker.connect(name: "batcher")
        let keyed = PublishRequest(topic: "orders.b", properties: Properties([("key", "order-7")]), payload: [2])
        let outcomes = try c.publishMany([
            PublishRequest(topic: "orders.a", payload: [1]),
            PublishRequest(topic: "orders..bad", payload: [9]),
            keyed,
            keyed,
            PublishRequest(topic: "$dlq.x", payload: [9]),
            PublishRequest(topic: "orders.c", properties: Properties([("colour", "red")]), payload: [9]),
        ])
        #expect(outcomes.count == 6)
        guard outcomes.count == 6, case .new(let first) = outcomes[0], case .new(let second) = outcomes[2] else {
            Issue.record("unexpected outcomes \(outcomes)")
            return
        }
        #expect(second > first)
        #expect(outcomes[3] == .duplicate(seq: second), "the second use of a key in the same batch is its duplicate")
        for (index, code) in [(1, ErrorCode.invalidTopic), (4, .reservedTopic), (5, .invalidProperty)] {
            guard case .refused(let error) = outcomes[index] else {
                Issue.record("event \(index) should be refused, got \(outcomes[index])")
                continue
            }
            #expect(error.code == code)
        }
        let got = try consumer.deliveries(2, within: 5) + consumer.drain(for: 0.3)
        #expect(got.map(\.lease.seq) == [first, second], "only the accepted events are in the log")
    }

    /// A packed PUBLISHMANY (one frame for every event) is answered exactly as the same events in triples.
    @Test func aPackedPublishManyIsAnsweredAsTheSameEventsInTriples() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let c = try broker.connect(name: "packer")
        func events(_ round: Int) -> [PublishRequest] {
            let keyed = PublishRequest(topic: "orders.b", properties: Properties([("key", "order-\(round)")]), payload: [2])
            return [
                PublishRequest(topic: "orders.a", payload: []), PublishRequest(topic: "orders..bad", payload: [9]), keyed, keyed,
                PublishRequest(topic: "orders.c", properties: Properties([("colour", "red")]), payload: [9]),
                PublishRequest(topic: "orders.a", properties: Properties([("correlation", "c1")]), payload: [UInt8](repeating: 7, count: 3000)),
            ]
        }
        func shape(_ outcomes: [PublishOutcome]) -> [String] {
            outcomes.map {
                switch $0 {
                case .new: "new"
                case .duplicate: "duplicate"
                case .refused(let e): e.code.name
                }
            }
        }
        let triples = try c.publishMany(events(1))
        let packed = try c.publishMany(events(2), packed: true)
        #expect(shape(packed) == shape(triples) && shape(packed) == ["new", "INVALID_TOPIC", "new", "duplicate", "INVALID_PROPERTY", "new"])
        let stored = try #require(packed.last?.seq)
        let reader = try broker.connect(name: "reader")
        try reader.subscribe(group: "r", patterns: ["orders.>"], credit: 10, start: .sequence(stored))
        let got = try reader.deliveries(1, within: 5)
        #expect(got.first?.event.payload == [UInt8](repeating: 7, count: 3000) && got.first?.event.correlation == "c1")
        // A packed frame cut short is MALFORMED for the whole message, and nothing of it is stored.
        var cut = ClientCommand.encodePackedPublishMany(requestID: Array("x".utf8), events(3))
        cut[3].removeLast()
        try c.sendRaw(cut)
        guard case .error(let r, let code, _)? = try Self.nextReply(c) else {
            Issue.record("no ERROR for a cut packed PUBLISHMANY")
            return
        }
        #expect(r == Array("x".utf8) && code == .malformed)
        #expect(try c.publish(topic: "orders.z", payload: [1]).seq == stored + 1, "nothing of the cut message was stored")
    }

    /// The broker validates a topic once for a run of events with the same topic: a bad topic repeated is
    /// refused each time, and a good one after it is accepted.
    @Test func aRepeatedTopicIsJudgedForEachEvent() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let c = try broker.connect(name: "batcher")
        // "jobs.\u{212A}" (a Kelvin sign) is canonically equivalent to "jobs.K", so String's == calls them equal:
        // the broker must compare bytes, or the invalid one would pass as the valid one before it.
        let topics = ["jobs.a", "jobs.a", "jobs..bad", "jobs..bad", "jobs.a", "jobs.b", "jobs..bad", "jobs.K", "jobs.\u{212A}", "jobs.K"]
        for packed in [false, true] {
            let outcomes = try c.publishMany(topics.map { PublishRequest(topic: $0, payload: [1]) }, packed: packed)
            #expect(outcomes.count == topics.count)
            for (topic, outcome) in zip(topics, outcomes) {
                if topic.contains("..") || !topic.allSatisfy(\.isASCII) {
                    guard case .refused(let error) = outcome else {
                        Issue.record("\(topic) should be refused, got \(outcome)")
                        continue
                    }
                    #expect(error.code == .invalidTopic)
                } else {
                    #expect(outcome.seq != nil, "\(topic) should be accepted, got \(outcome)")
                }
            }
        }
    }

    @Test func aWholeMessageThatBreaksTheFrameRulesIsMalformed() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let c = try broker.connect()
        try c.sendRaw([ProtocolVersion.signature, ClientCommand.Name.publishMany, Array("r1".utf8), Array("a.b".utf8), []])
        guard case .error(let r, let code, _)? = try Self.nextReply(c) else {
            Issue.record("no ERROR for a PUBLISHMANY of 2 frames")
            return
        }
        #expect(r == Array("r1".utf8) && code == .malformed)
        let triple: [[UInt8]] = [Array("a.b".utf8), [], [1]]
        let tooMany: [[UInt8]] = [ProtocolVersion.signature, ClientCommand.Name.publishMany, Array("r2".utf8)]
            + Array(repeating: triple, count: ClientCommand.maxBatch + 1).flatMap { $0 }
        try c.sendRaw(tooMany)
        guard case .error(_, let code2, let text)? = try Self.nextReply(c) else {
            Issue.record("no ERROR for a PUBLISHMANY over the limit")
            return
        }
        #expect(code2 == .malformed && text.contains("1000"))
        // The session goes on.
        #expect(try c.publish(topic: "a.b", payload: [1]).seq == 1)
    }

    @Test func deliverManyNeverExceedsBatchOrCreditAndEveryEventArrivesOnce() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "batched")
        let props = try consumer.subscribe(group: "g", patterns: ["jobs.>"], credit: 25, extra: [("batch", "10")])
        #expect(props["batch"] == "10")
        let publisher = try broker.connect()
        let outcomes = try publisher.publishMany((0..<60).map { PublishRequest(topic: "jobs.e", payload: [UInt8($0)]) })
        #expect(outcomes.allSatisfy { if case .new = $0 { true } else { false } })

        var seen: [UInt64] = []
        var held: [Lease] = []
        var messages = 0
        let done = try waitUntil(20) {
            while let m = try consumer.receive(timeoutMilliseconds: 50) {
                switch m {
                case .deliverMany(let group, let deliveries):
                    messages += 1
                    #expect(group == "g")
                    #expect(deliveries.count <= 10, "a DELIVERMANY holds at most batch deliveries")
                    held += deliveries.map(\.lease)
                    seen += deliveries.map(\.lease.seq)
                case .deliver:
                    Issue.record("a member with batch 10 got a plain DELIVER")
                default: break
                }
                #expect(held.count <= 25, "credit exceeded: \(held.count) in flight")
            }
            // Ack what is held so more can come.
            if !held.isEmpty {
                try consumer.ack(group: "g", leases: held, confirm: true)
                held.removeAll()
            }
            return seen.count >= 60
        }
        #expect(done)
        #expect(seen.count == 60 && Set(seen).count == 60, "every event exactly once")
        #expect(seen == seen.sorted(), "deliveries come in log order")
        #expect(messages < 60, "deliveries were batched (\(messages) messages)")
    }

    /// A member that subscribes with `packed=1` gets each DELIVERMANY as 4 frames, every delivery in the last,
    /// with exactly what was published; packed ACKs settle them, and a packed ACK of a settled lease is stale.
    @Test func packedDeliveriesCarryEveryEventOnceAndPackedAcksSettleThem() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try BrokerConnection(endpoint: broker.endpoint)
        #expect(try consumer.hello(name: "packed")["packed"] == "1", "WELCOME says the broker takes packed forms")
        let refused = #expect(throws: ChorusClientError.self) {
            try consumer.subscribe(group: "g", patterns: ["jobs.>"], credit: 25, extra: [("batch", "10"), ("packed", "yes")])
        }
        #expect("\(refused.map { "\($0)" } ?? "")".contains("packed must be 0 or 1"))
        let props = try consumer.subscribe(group: "g", patterns: ["jobs.>"], credit: 25, extra: [("batch", "10"), ("packed", "1")])
        #expect(props["packed"] == "1" && props["batch"] == "10")
        let publisher = try broker.connect()
        let published = (0..<60).map { i in
            PublishRequest(
                topic: "jobs.e\(i % 3)", properties: Properties(i % 2 == 0 ? [("correlation", "c-\(i)"), ("h.n", "\(i)")] : []),
                payload: i == 5 ? [] : [UInt8](repeating: UInt8(i), count: i * 7))
        }
        let outcomes = try publisher.publishMany(published)
        let seqs = outcomes.compactMap(\.seq)
        #expect(seqs.count == 60)

        var got: [UInt64: Delivery] = [:]
        var lastBatch: [Lease] = []
        var acked: UInt64 = 0
        let done = try waitUntil(20) {
            while let frames = try consumer.receiveRaw(timeoutMilliseconds: 50) {
                let message = try BrokerMessage.decode(frames)
                if case .acked(_, let count) = message { acked += count }
                guard case .deliverMany(_, let deliveries) = message else { continue }
                #expect(frames.count == 4, "a packed DELIVERMANY is 4 frames")
                #expect(deliveries.count <= 10)
                for d in deliveries {
                    #expect(got[d.lease.seq] == nil, "seq \(d.lease.seq) delivered twice")
                    got[d.lease.seq] = d
                }
                lastBatch = deliveries.map(\.lease)
                try consumer.sendRaw(ClientCommand.encodePackedAck(requestID: Array("a".utf8), group: "g", leases: lastBatch))
            }
            return got.count >= 60 && acked >= 60
        }
        #expect(acked == 60, "every packed ACK was answered with its count")
        #expect(done && got.count == 60)
        for (i, seq) in seqs.enumerated() {
            let d = try #require(got[seq])
            #expect(d.event.topic == published[i].topic && d.event.payload == published[i].payload && d.attempt == 1)
            #expect(d.event.correlation == published[i].properties["correlation"])
            #expect(d.event.headers.first?.value == published[i].properties["h.n"])
        }
        try consumer.sendRaw(ClientCommand.encodePackedAck(requestID: Array("b".utf8), group: "g", leases: lastBatch))
        guard case .error(_, let code, _)? = try Self.nextReply(consumer) else {
            Issue.record("no ERROR for a packed ACK of settled leases")
            return
        }
        #expect(code == .staleLease)
    }

    @Test func aDeliverManyStopsGrowingAtOneMebibyteOfPayload() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "big")
        try consumer.subscribe(group: "g", patterns: ["big"], credit: 100, extra: [("batch", "100")])
        let publisher = try broker.connect()
        let payload = [UInt8](repeating: 0x41, count: 300_000)
        let outcomes = try publisher.publishMany((0..<10).map { _ in PublishRequest(topic: "big", payload: payload) })
        #expect(outcomes.compactMap(\.seq).count == 10)
        var sizes: [Int] = []
        let done = try waitUntil(10) {
            if case .deliverMany(_, let deliveries)? = try consumer.receive(timeoutMilliseconds: 100) {
                sizes.append(deliveries.count)
                #expect(deliveries.allSatisfy { $0.event.payload == payload })
            }
            return sizes.reduce(0, +) >= 10
        }
        #expect(done)
        // 4 x 300 kB is the first count to reach 1 MiB: no message holds more.
        #expect((sizes.max() ?? 0) <= 4, "deliveries per DELIVERMANY: \(sizes)")
        #expect(sizes.count < 10, "still batched: \(sizes)")
    }

    @Test func aBatchOutsideOneToTheLimitIsRefused() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let c = try broker.connect()
        for bad in ["0", "1001", "ten"] {
            let e = #expect(throws: ChorusClientError.self) {
                try c.subscribe(group: "g", patterns: ["a"], credit: 1, extra: [("batch", bad)])
            }
            guard let e else { continue }  // #expect(throws:) has recorded the issue
            guard case .refused(let code, let message) = e else {
                Issue.record("batch \(bad): not a refusal from the broker: \(e)")
                continue
            }
            #expect(code == .invalidProperty, "batch \(bad): \(message)")
            #expect(message.contains("batch must be 1 to 1000"), "batch \(bad): \(message)")
        }
        let welcome = try c.hello(name: "x")
        #expect(welcome["max-batch"] == "1000")
    }

    @Test func confirmedBatchesSurviveKillNine() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let setup = try broker.connect()
        try setup.subscribe(group: "after", patterns: ["durable.>"], credit: 1, start: .first)
        setup.close()
        let c = try broker.connect()
        var confirmed: [UInt64] = []
        for batch in 0..<5 {
            let outcomes = try c.publishMany((0..<200).map { PublishRequest(topic: "durable.e", payload: Array("\(batch)-\($0)".utf8)) })
            confirmed += outcomes.compactMap(\.seq)
        }
        #expect(confirmed.count == 1000)
        broker.kill9()
        try broker.start()
        let reader = try broker.connect(name: "reader")
        try reader.subscribe(group: "after", patterns: ["durable.>"], credit: 1000, extra: [("batch", "100")])
        var seen: Set<UInt64> = []
        let complete = try waitUntil(20) {
            while case .deliverMany(_, let deliveries)? = try reader.receive(timeoutMilliseconds: 50) {
                seen.formUnion(deliveries.map(\.lease.seq))
            }
            return Set(confirmed).isSubset(of: seen)
        }
        #expect(complete, "missing \(Set(confirmed).subtracting(seen).count) confirmed events after kill -9")
    }

    /// The next message that is not a HEARTBEAT, within 5 s: a greeted session gets the broker's heartbeats, and
    /// one may come before the reply a test waits for.
    static func nextReply(_ c: BrokerConnection) throws -> BrokerMessage? {
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            guard let m = try c.receive(timeoutMilliseconds: 200) else { continue }
            if m != .heartbeat { return m }
        }
        return nil
    }
}
