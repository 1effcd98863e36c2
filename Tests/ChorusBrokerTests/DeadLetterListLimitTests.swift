@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

/// `ADMIN dlq.list` returns at most `limit` records, with `limit` taken into 1 to 10,000: a negative one reached
/// SQLite as `LIMIT -1`, which means no limit, so one request could make every dead letter a single reply.
@Suite("dlq.list bounds its reply whatever the limit asked for")
struct DeadLetterListLimitTests {
    static let client: [UInt8] = [0, 0xC0, 0, 0, 5]

    /// Three events in group g, each rejected by its consumer: three dead letters, committed.
    static func threeDeadLetters(_ broker: Broker) throws {
        broker.handle(from: client, .subscribe(requestID: [], group: "g", patterns: ["jobs.>"], properties: Properties([("credit", "3")])))
        for i in 1...3 {
            broker.handle(from: client, .publish(requestID: [], request: PublishRequest(topic: "jobs.e", payload: [UInt8(i)])))
        }
        broker.dispatchDirtyGroups()
        let leases = try broker.outbox.messages.filter { $0[0] == client && $0[2] == BrokerMessage.Name.deliver }.map { try Lease.decode(seq: $0[4], token: $0[5]) }
        try #require(leases.count == 3)
        for lease in leases {
            broker.handle(from: client, .nack(requestID: [], group: "g", lease: lease, mode: .reject, reason: "bad input"))
        }
        try broker.flush()
    }

    static func list(_ broker: Broker, _ arguments: String) throws -> Int {
        broker.outbox.removeAll()
        broker.handle(from: client, .admin(requestID: Array("l".utf8), operation: "dlq.list", arguments: Array(arguments.utf8)))
        for message in try replies(broker, to: client) {
            if case .result(_, let json) = message {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
                return (object["dead_letters"] as? [Any])?.count ?? -1
            }
        }
        Issue.record("no RESULT for dlq.list \(arguments)")
        return -1
    }

    @Test func aLimitOutsideOneToTenThousandIsTakenAsTheNearerEnd() throws {
        let (broker, directory) = try makeTestBroker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try Self.threeDeadLetters(broker)
        #expect(try Self.list(broker, #"{"group":"g"}"#) == 3)
        #expect(try Self.list(broker, #"{"group":"g","limit":2}"#) == 2)
        #expect(try Self.list(broker, #"{"group":"g","limit":-1}"#) == 1, "a negative limit is 1, not no limit")
        #expect(try Self.list(broker, #"{"group":"g","limit":0}"#) == 1)
    }
}
