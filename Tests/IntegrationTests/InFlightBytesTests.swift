import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// Credit counts deliveries; `delivery.max_in_flight_bytes` also bounds their payload bytes per member, so a
/// generous credit of large events cannot queue gigabytes in the broker for a member that stalls. Before it, a
/// member with credit 5,000 that read nothing took the broker to a 3.2 GiB peak with 3,000 events of 1 MB.
@Suite struct InFlightBytesTests {
    /// A broker with the limit, and a member of group `g` (credit 1000) on `big.>`, subscribed with `extra` too.
    static func member(maxInFlightBytes: Int, extra: [(String, String)] = []) throws -> (BrokerProcess, BrokerConnection) {
        // The harness's config ends in its [delivery] table, which this key joins.
        let broker = try BrokerProcess(config: "max_in_flight_bytes = \(maxInFlightBytes)\n")
        do {
            let c = try broker.connect(name: "holder")
            try c.subscribe(group: "g", patterns: ["big.>"], credit: 1000, extra: extra)
            return (broker, c)
        } catch {
            broker.stop()
            throw error
        }
    }

    static func publish(_ broker: BrokerProcess, _ count: Int, bytes: Int) throws {
        let p = try broker.connect(name: "publisher")
        defer { p.close() }
        for i in 0..<count {
            _ = try p.publish(topic: "big.x", payload: [UInt8](repeating: UInt8(i & 0xFF), count: bytes))
        }
    }

    @Test func aMemberGetsNoMoreOnceItHoldsTheLimit() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 1_000_000)
        defer { c.close(); broker.stop() }
        try Self.publish(broker, 10, bytes: 300_000)
        // Below the limit after 3 (900 KB), so a 4th goes; at 1.2 MB nothing more, though credit is left.
        let first = try c.deliveries(10, within: 3)
        #expect(first.count == 4, "delivered \(first.count) of 300 KB with a 1 MB limit")
        // Acking two frees room for two more.
        try c.ack(group: "g", leases: first.prefix(2).map(\.lease))
        let more = try c.deliveries(10, within: 3)
        #expect(more.count == 2, "after 2 acks: \(more.count) more")
        #expect(more.map(\.event.seq) == [first.last!.event.seq + 1, first.last!.event.seq + 2])
    }

    @Test func anEventLargerThanTheLimitStillGoesAlone() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 100_000)
        defer { c.close(); broker.stop() }
        try Self.publish(broker, 3, bytes: 300_000)
        var seen: [UInt64] = []
        for _ in 0..<3 {
            let one = try c.deliveries(2, within: 1.5)
            #expect(one.count == 1, "one at a time: got \(one.count)")
            guard let d = one.first else { break }
            seen.append(d.event.seq)
            try c.ack(group: "g", leases: [d.lease])
        }
        #expect(seen.count == 3 && Set(seen).count == 3, "every event delivered once: \(seen)")
    }

    /// Batched members (DELIVERMANY) are bounded the same way.
    @Test func aBatchedMemberIsBoundedToo() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 1_000_000, extra: [("batch", "100")])
        defer { c.close(); broker.stop() }
        try Self.publish(broker, 10, bytes: 300_000)
        var got = 0
        let deadline = nowMs() + 3000
        while nowMs() < deadline, let m = try c.receive(timeoutMilliseconds: Int(max(1, deadline - nowMs()))) {
            if case .deliverMany(_, let ds) = m { got += ds.count }
            if case .deliver = m { got += 1 }
        }
        #expect(got == 4, "delivered \(got) of 300 KB with a 1 MB limit")
    }

    /// Every way a delivery leaves a member gives its bytes back: a member whose account drifted would stop
    /// getting work for good.
    @Test func aNackGivesItsBytesBack() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 1_000_000)
        defer { c.close(); broker.stop() }
        try Self.publish(broker, 10, bytes: 300_000)
        let first = try c.deliveries(10, within: 3)
        #expect(first.count == 4)
        for d in first.prefix(2) { try c.nack(group: "g", lease: d.lease, mode: .delay(milliseconds: 60_000), reason: "later") }
        #expect(try c.deliveries(10, within: 3).count == 2, "after 2 nacks")
    }

    @Test func anExpiredLeaseGivesItsBytesBack() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 1_000_000, extra: [("ack-timeout", "300")])
        defer { c.close(); broker.stop() }
        try Self.publish(broker, 10, bytes: 300_000)
        #expect(try c.deliveries(4, within: 3).count == 4)
        // The four leases expire after 300 ms; the room they free goes out again (to this member: the only one).
        let again = try c.deliveries(4, within: 5)
        #expect(again.count == 4, "after the leases expired: \(again.count)")
    }

    @Test func subscribingAgainKeepsTheAccountAndEndingTheSessionReleasesIt() throws {
        let (broker, c) = try Self.member(maxInFlightBytes: 1_000_000)
        defer { broker.stop() }
        try Self.publish(broker, 6, bytes: 300_000)
        let held = try c.deliveries(4, within: 3)
        #expect(held.map(\.event.seq) == [1, 2, 3, 4])
        // A SUBSCRIBE again (new credit) keeps what the member holds, and its bytes.
        try c.subscribe(group: "g", patterns: ["big.>"], credit: 500)
        #expect(try c.drain(for: 1).isEmpty, "still at the limit after subscribing again")
        try c.ack(group: "g", leases: held.prefix(2).map(\.lease))
        #expect(try c.deliveries(2, within: 3).map(\.event.seq) == [5, 6])  // only 6 events exist
        // Its session ends holding 3 to 6: all four go back, and the next member gets them, each a second time.
        c.close()
        let next = try broker.connect(name: "next")
        defer { next.close() }
        try next.subscribe(group: "g", patterns: ["big.>"], credit: 1000)
        let again = try next.deliveries(4, within: 3)
        #expect(again.map(\.event.seq).sorted() == [3, 4, 5, 6] && again.allSatisfy { $0.attempt == 2 }, "\(again.map { ($0.event.seq, $0.attempt) })")
    }
}
