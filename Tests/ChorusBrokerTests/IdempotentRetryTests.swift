@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

/// A retried PUBLISH with an idempotency key is answered with the first publish's seq wherever that publish is:
/// in this iteration, in the commit in flight (from memory), or committed (through the read-only connection),
/// and none of it waits for the commit in flight. Inside one broker, driven by hand.
@Suite("Idempotent retries are found without waiting for the commit in flight")
struct IdempotentRetryTests {
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 3]

    static func publish(_ broker: Broker, key: String, _ requestID: String) {
        let request = PublishRequest(topic: "jobs.e", properties: Properties([("key", key)]), payload: Array(requestID.utf8))
        broker.handle(from: publisher, .publish(requestID: Array(requestID.utf8), request: request))
    }

    /// The CONFIRM for `requestID` in the outbox not yet sent: (seq, duplicate).
    static func confirm(_ broker: Broker, _ requestID: String) throws -> (seq: UInt64, duplicate: Bool)? {
        try replies(broker, to: publisher).lazy.compactMap { message -> (seq: UInt64, duplicate: Bool)? in
            guard case .confirm(let r, let seq, let duplicate) = message, r == Array(requestID.utf8) else { return nil }
            return (seq, duplicate)
        }.first
    }

    @Test func aRetryIsAnsweredFromTheCommitInFlightAndThenFromTheLog() throws {
        try withTestBroker { broker, _ in
            // The commit in flight stays in flight, so its key cannot be found in the log.
            let lock = try LogWriteLock(broker)
            Self.publish(broker, key: "k-1", "first")
            #expect(try Self.confirm(broker, "first")?.seq == 1)
            Self.publish(broker, key: "k-1", "same-iteration")
            #expect(try Self.confirm(broker, "same-iteration").map { [$0.seq, $0.duplicate ? 1 : 0] } == [1, 1])
            try broker.flush(inline: false)
            #expect(broker.commits.inFlight)

            broker.logReader = nil  // (the first publish opened it, to look for k-1 in the log)
            Self.publish(broker, key: "k-1", "while-committing")
            #expect(try Self.confirm(broker, "while-committing").map { [$0.seq, $0.duplicate ? 1 : 0] } == [1, 1])
            #expect(broker.commits.inFlight, "the key of the commit in flight was found in memory, without waiting")
            #expect(broker.logReader == nil, "found in memory: the read-only connection was not opened again")
            try lock.release()
            try broker.flush(inline: true)  // settles the commit in flight, then commits this iteration's (nothing new)
            #expect(broker.committing.keys.isEmpty)

            Self.publish(broker, key: "k-1", "after-commit")
            #expect(try Self.confirm(broker, "after-commit").map { [$0.seq, $0.duplicate ? 1 : 0] } == [1, 1])
            #expect(broker.logReader != nil && broker.counters.readerFailures == 0, "found through the read-only connection")
            Self.publish(broker, key: "k-2", "another-key")
            #expect(try Self.confirm(broker, "another-key").map { [$0.seq, $0.duplicate ? 1 : 0] } == [2, 0])
        }
    }
}
