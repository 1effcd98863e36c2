import ChorusClient
import ChorusProtocol
import Foundation
import Testing
import ZeroMQ

/// A member that stops reading keeps its large deliveries queued in the broker until libzmq writes them out.
/// Leases bound what it holds only until they expire; its connection's unsent bytes bound it after that
/// (docs/PROTOCOL.md, section 9.3). Before, each expiry sent it its events again: memory grew by the limit once
/// per ack timeout.
@Suite struct StalledMemberTests {
    static let limit = 4_000_000
    static let eventBytes = 1_000_000

    @Test func aStalledMemberIsNotSentItsEventsAgainWhenItsLeasesExpire() throws {
        let broker = try BrokerProcess(config: "max_in_flight_bytes = \(Self.limit)\nmax_attempts = 1000\n")
        defer { broker.stop() }
        let admin = try broker.connect(name: "admin")

        // A member that reads nothing: libzmq takes one message off its connection, TCP a little more.
        let stalled = try ZMQSocket(.dealer)
        try stalled.setOption(ZMQOption.receiveHighWaterMark, 1)
        try stalled.setOption(ZMQOption.receiveBuffer, 65_536)
        try stalled.connect(broker.endpoint)
        let subscribe = ClientCommand.subscribe(
            requestID: Array("s".utf8), group: "g", patterns: ["big.>"],
            properties: Properties([("credit", "1000"), ("start", "new"), ("ack-timeout", "300")]))
        try stalled.send(subscribe.encode())
        #expect(try waitUntil(10) { OperatorTests.int(try Self.group(admin)["consumers"]) == 1 })

        let publisher = try broker.connect(name: "publisher")
        for i in 0..<20 { _ = try publisher.publish(topic: "big.x", payload: [UInt8](repeating: UInt8(i), count: Self.eventBytes)) }

        // Its first leases expire every 300 ms; it keeps heartbeating, so its session lives on. What the broker
        // holds for it must stay near the limit instead of growing by it at every expiry.
        let heartbeat = ClientCommand.heartbeat(requestID: []).encode()
        var expired = 0
        var worst = 0
        var redeliveredWhileStalled = 0
        let grew = try waitUntil(4) {
            try stalled.send(heartbeat)
            let stats = try admin.admin("stats")
            expired = OperatorTests.int((stats["counters"] as? [String: Any])?["lease_timeouts"])
            redeliveredWhileStalled = OperatorTests.int((stats["counters"] as? [String: Any])?["redelivered"])
            worst = max(worst, OperatorTests.int((stats["broker"] as? [String: Any])?["unsent_bytes"]))
            return worst > 2 * Self.limit
        }
        #expect(!grew, "the broker held \(worst) unsent bytes for the stalled member")
        // Its first leases expired (4 events of 1 MB reach the 4 MB limit). The 4 s window spans 13 ack timeouts:
        // sent again at each, it would have been sent some 50 events again; only what TCP took off the broker's
        // hands (a few MB) may go again.
        #expect(expired >= 4, "leases that expired in the window: \(expired)")
        #expect(redeliveredWhileStalled <= 2 * Self.limit / Self.eventBytes, "sent again to a member that reads nothing: \(redeliveredWhileStalled)")
        #expect(worst > 0 && worst <= Self.limit + 2 * Self.eventBytes, "at most the limit and one event: \(worst)")

        // Once it reads again, it gets the events back, with their attempt numbers.
        var seen: Set<UInt64> = []
        var redelivered = false
        _ = try waitUntil(30) {
            try stalled.send(heartbeat)
            while let frames = try stalled.receive(dontWait: true) {
                guard case .deliver(let d) = try BrokerMessage.decode(frames) else { continue }
                seen.insert(d.event.seq)
                if d.attempt > 1 { redelivered = true }
                try stalled.send(ClientCommand.ack(requestID: [], group: "g", leases: [d.lease]).encode())
            }
            return seen.count == 20
        }
        #expect(seen.count == 20 && redelivered)
        #expect(try waitUntil(10) { OperatorTests.int((try admin.admin("stats")["broker"] as? [String: Any])?["unsent_bytes"]) == 0 })
    }

    static func group(_ c: BrokerConnection) throws -> [String: Any] {
        (try c.admin("stats")["groups"] as? [[String: Any]] ?? []).first { $0["name"] as? String == "g" } ?? [:]
    }
}
