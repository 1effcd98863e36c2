@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Logging
import Testing
import ZeroMQ

/// Batched delivery inside one broker (no client process): what a member has staged leaves before any reply to
/// its client, is dropped when its leases are released, and goes out at the end of the iteration.
@Suite("Delivery staging for DELIVERMANY")
struct DeliveryStagingTests {
    static let consumer: [UInt8] = [0, 0xC0, 0, 0, 1]
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 2]

    /// A broker on ephemeral ports and a fresh data directory, with a member of group `g` (credit 10, `batch`)
    /// holding `staged` deliveries that have not left yet.
    static func brokerWithStaged(_ staged: Int, batch: Int = 5) throws -> (Broker, String) {
        let (broker, directory) = try makeTestBroker()
        let subscribe = ClientCommand.subscribe(
            requestID: Array("s".utf8), group: "g", patterns: ["jobs.>"], properties: Properties([("credit", "10"), ("batch", String(batch))]))
        broker.handle(from: consumer, subscribe)
        let events = (0..<staged).map { PublishRequest(topic: "jobs.e", payload: [UInt8($0)]) }
        broker.handle(from: publisher, .publishMany(requestID: Array("p".utf8), events))
        broker.dispatchDirtyGroups()
        return (broker, directory)
    }

    /// The names (frame 2 after the routing id) of the messages queued for `routingID`, in order.
    static func names(_ broker: Broker, to routingID: [UInt8]) -> [String] {
        broker.outbox.messages.filter { $0[0] == routingID }.map { String(decoding: $0[2], as: UTF8.self) }
    }

    @Test func aReplyToTheSameClientLeavesAfterTheDeliveriesMadeBeforeIt() throws {
        let (broker, directory) = try Self.brokerWithStaged(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED"], "3 deliveries wait for a batch of 5")
        broker.handle(from: Self.consumer, .hello(requestID: Array("h".utf8), properties: Properties()))
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED", "DELIVERMANY", "WELCOME"])
        let deliverMany = try #require(broker.outbox.messages.first { $0[2] == BrokerMessage.Name.deliverMany })
        #expect(deliverMany.count == 4 + 3 * 6, "one DELIVERMANY with the 3 deliveries")
        #expect(broker.sessionsByRoutingID[Self.consumer]?.membersWithStaged == 0)
    }

    @Test func aFullBatchLeavesAtOnceAndTheRestAtTheEndOfTheIteration() throws {
        let (broker, directory) = try Self.brokerWithStaged(7)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED", "DELIVERMANY"], "the first 5 fill a batch")
        broker.closeAllStaged()
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED", "DELIVERMANY", "DELIVERMANY"])
        #expect(broker.membersWithStaged.isEmpty)
    }

    @Test func unsubscribingDropsWhatWasStagedAndItNeverLeaves() throws {
        let (broker, directory) = try Self.brokerWithStaged(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        broker.handle(from: Self.consumer, .unsubscribe(requestID: Array("u".utf8), group: "g"))
        broker.closeAllStaged()
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED", "UNSUBSCRIBED"], "released leases are not sent")
        #expect(broker.sessionsByRoutingID[Self.consumer]?.membersWithStaged == 0)
    }

    @Test func aSessionThatEndsDropsWhatWasStaged() throws {
        let (broker, directory) = try Self.brokerWithStaged(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let session = try #require(broker.sessionsByRoutingID[Self.consumer])
        broker.endSession(session, reason: "test")
        broker.closeAllStaged()
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED"])
        #expect(session.membersWithStaged == 0)
    }

    @Test func resubscribingWithBatchOneSendsWhatWasStagedFirst() throws {
        let (broker, directory) = try Self.brokerWithStaged(3)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let again = ClientCommand.subscribe(requestID: Array("s2".utf8), group: "g", patterns: ["jobs.>"], properties: Properties([("credit", "10")]))
        broker.handle(from: Self.consumer, again)
        #expect(Self.names(broker, to: Self.consumer) == ["SUBSCRIBED", "DELIVERMANY", "SUBSCRIBED"])
        broker.handle(from: Self.publisher, .publish(requestID: [], request: PublishRequest(topic: "jobs.e", payload: [9])))
        broker.dispatchDirtyGroups()
        #expect(Self.names(broker, to: Self.consumer).last == "DELIVER", "batch 1 gets plain DELIVER")
    }
}
