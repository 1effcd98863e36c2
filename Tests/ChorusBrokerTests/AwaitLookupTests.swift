@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

/// An AWAIT whose answer is already published is answered at once from wherever the event is: committed (read
/// through the read-only connection), in the commit in flight, or in this iteration's batch; none of it waits
/// for the commit in flight. Inside one broker, driven by hand.
@Suite("AWAIT finds published events without waiting for the commit in flight")
struct AwaitLookupTests {
    static let client: [UInt8] = [0, 0xC0, 0, 0, 4]

    static func publish(_ broker: Broker, correlation: String, _ payload: String) {
        let request = PublishRequest(topic: "jobs.done", properties: Properties([("correlation", correlation)]), payload: Array(payload.utf8))
        broker.handle(from: client, .publish(requestID: [], request: request))
    }

    static func await(_ broker: Broker, correlation: String, _ requestID: String) {
        let command = ClientCommand.await(requestID: Array(requestID.utf8), correlation: correlation, pattern: "jobs.>", afterSeq: 0, timeoutMilliseconds: 5_000)
        broker.handle(from: client, command)
    }

    /// The payload of the EVENT answering `requestID` in the outbox not yet sent.
    static func answer(_ broker: Broker, _ requestID: String) throws -> String? {
        try replies(broker, to: client).lazy.compactMap { message -> String? in
            guard case .event(let r, let event) = message, r == Array(requestID.utf8) else { return nil }
            return String(decoding: event.payload, as: UTF8.self)
        }.first
    }

    @Test func answersFromTheLogTheCommitInFlightAndTheBatch() throws {
        try withTestBroker { broker, _ in
            Self.publish(broker, correlation: "c-logged", "logged")
            try broker.flush(inline: true)
            // The commit in flight stays in flight, so its events cannot be found in the log.
            let lock = try LogWriteLock(broker)
            Self.publish(broker, correlation: "c-flight", "in flight")
            try broker.flush(inline: false)
            #expect(broker.commits.inFlight)
            Self.publish(broker, correlation: "c-batch", "in the batch")

            for (correlation, expected) in [("c-logged", "logged"), ("c-flight", "in flight"), ("c-batch", "in the batch")] {
                Self.await(broker, correlation: correlation, "w-\(correlation)")
                #expect(try Self.answer(broker, "w-\(correlation)") == expected)
            }
            #expect(broker.commits.inFlight, "no AWAIT waited for the commit in flight")
            #expect(broker.waiters.isEmpty, "every AWAIT was answered at once")
            try lock.release()
            try broker.settleCommit()
        }
    }
}
