@testable import ChorusBroker
import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// `fetchEvent` finds an event wherever it is without waiting for the commit in flight: a join closing for a
/// request older than the recent window used to stall the broker thread on that commit (6.3 k joins/s
/// against 9.3 k with 8,000 joins in flight). Inside one broker, with the recent window as small as it goes (one event).
@Suite("Fetching an old event does not wait for the commit in flight")
struct FetchEventTests {
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 2]

    /// Publishes "PREFIX 1" to "PREFIX 3" (the next three sequence numbers).
    static func publishThree(_ broker: Broker, _ prefix: String) {
        for i in 1...3 {
            let request = PublishRequest(topic: "jobs.e", payload: Array("\(prefix) \(i)".utf8))
            broker.handle(from: publisher, .publish(requestID: [], request: request))
        }
    }

    @Test func anOldEventComesFromTheLogAndANewOneFromTheCommitInFlight() throws {
        try withTestBroker("[limits]\nrecent_events = 0") { broker, _ in
            Self.publishThree(broker, "old")
            try broker.flush(inline: true)
            Self.publishThree(broker, "new")
            try broker.flush(inline: false)
            #expect(broker.commits.inFlight)

            let old = try #require(broker.fetchEvent(1), "committed, out of the recent window: read from the log")
            #expect(old.event.payload == Array("old 1".utf8))
            #expect(broker.commits.inFlight, "reading a committed event did not wait for the commit in flight")
            let new = try #require(broker.fetchEvent(4), "in the commit in flight: taken from it")
            #expect(new.event.payload == Array("new 1".utf8))
            #expect(new === broker.committing.entries.first, "the entry in memory, not a copy read back from the log")
            #expect(broker.commits.inFlight)
            #expect(broker.fetchEvent(99) == nil, "never published")

            try broker.settleCommit()
            #expect(broker.fetchEvent(5)?.event.payload == Array("new 2".utf8), "once committed, from the log")
        }
    }

    /// A failing read-only connection sends reads to the store (right answers, counted, logged) for a while, then
    /// a fresh connection is tried: before, one failure sent every read to the store until the broker restarted.
    @Test func aFailingReaderFallsBackToTheStoreAndIsReplacedLater() throws {
        try withTestBroker("[limits]\nrecent_events = 0") { broker, directory in
            Self.publishThree(broker, "event")
            try broker.flush(inline: true)
            broker.logReader = try makeFailingLogReader(in: directory)

            #expect(broker.fetchEvent(1)?.event.payload == Array("event 1".utf8), "from the store")
            #expect(broker.counters.readerFailures == 1)
            #expect(broker.logReader == nil, "the failed connection is closed")
            #expect(broker.fetchEvent(2)?.event.payload == Array("event 2".utf8))
            #expect(broker.counters.readerFailures == 1 && broker.logReader == nil, "no new connection before the retry time")

            broker.now += Broker.readerRetryMilliseconds + 1
            #expect(broker.fetchEvent(1)?.event.payload == Array("event 1".utf8))  // (event 3 is the recent window's one)
            #expect(broker.logReader?.path == broker.config.logPath, "a fresh connection on the log")
            #expect(broker.counters.readerFailures == 1)
        }
    }
}
