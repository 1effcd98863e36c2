@testable import ChorusBroker
import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// `fetchEvent` finds an event wherever it is without waiting for the commit in flight: a join closing for a
/// request older than the recent window used to stall the broker thread on that commit (half the rate with
/// 8,000 joins in flight). Inside one broker, with the recent window as small as it goes (one event).
@Suite("Fetching an old event does not wait for the commit in flight")
struct FetchEventTests {
    static let publisher: [UInt8] = [0, 0xC0, 0, 0, 2]

    static func publish(_ broker: Broker, _ payload: String) {
        let request = PublishRequest(topic: "jobs.e", payload: Array(payload.utf8))
        broker.handle([publisher] + ClientCommand.publish(requestID: [], request: request).encode())
    }

    @Test func anOldEventComesFromTheLogAndANewOneFromTheCommitInFlight() throws {
        let (broker, directory) = try makeTestBroker("[limits]\nrecent_events = 0")
        defer {
            broker.commits.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        for i in 1...3 { Self.publish(broker, "old \(i)") }
        try broker.flush(inline: true)
        for i in 1...3 { Self.publish(broker, "new \(i)") }
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

    /// A failing read-only connection sends reads to the store (right answers, counted, logged) for a while, then
    /// a fresh connection is tried: before, one failure sent every read to the store until the broker restarted.
    @Test func aFailingReaderFallsBackToTheStoreAndIsReplacedLater() throws {
        let (broker, directory) = try makeTestBroker("[limits]\nrecent_events = 0")
        defer {
            broker.commits.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
        for i in 1...3 { Self.publish(broker, "event \(i)") }
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
