@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

/// The joins closed by writes not yet committed, cell by cell, and inside one broker: a repeat of a request whose
/// join closed in the batch not yet committed must not open it again, however many joins that batch closed.
@Suite("Joins closed and not yet committed")
struct UncommittedJoinClosesTests {
    static let a = JoinKey(name: "media", correlation: "a")
    static let b = JoinKey(name: "media", correlation: "b")

    @Test func aCloseIsHeldFromTheBatchThroughItsCommit() {
        var closes = UncommittedJoinCloses()
        closes.insert(Self.a)
        #expect(closes.contains(Self.a) && !closes.contains(Self.b))
        closes.batchSubmitted()
        #expect(closes.contains(Self.a), "in flight: the read-only connection cannot see it yet")
        closes.insert(Self.b)
        #expect(closes.contains(Self.a) && closes.contains(Self.b) && closes.count == 2)
        closes.commitFinished()
        #expect(!closes.contains(Self.a), "committed: the read-only connection finds it")
        #expect(closes.contains(Self.b), "still in the batch being built")
        closes.batchSubmitted()
        closes.commitFinished()
        #expect(closes.count == 0)
    }

    @Test func anInlineCommitForgetsTheBatchBeingBuiltOnly() {
        var closes = UncommittedJoinCloses()
        closes.insert(Self.a)
        closes.batchSubmitted()
        closes.insert(Self.b)
        closes.batchCommittedInline()
        #expect(closes.contains(Self.a) && !closes.contains(Self.b))
    }

    @Test func keysAreEqualByBothStringsAndHashAlike() {
        #expect(JoinKey(name: "media", correlation: "a") == Self.a)
        #expect(JoinKey(name: "other", correlation: "a") != Self.a)
        #expect(JoinKey(name: "media", correlation: "a2") != Self.a)
        #expect(Set([Self.a, JoinKey(name: "media", correlation: "a"), Self.b]).count == 2)
        #expect(JoinKey(name: "ab", correlation: "c") != JoinKey(name: "a", correlation: "bc"))
    }

    /// Keys compare bytes, as the log does: canonically equivalent correlation ids (one precomposed, one not) are
    /// two joins in the log, so they are two joins in memory too.
    @Test func keysCompareBytesNotCanonicalEquivalence() {
        let precomposed = JoinKey(name: "media", correlation: "caf\u{E9}")
        let decomposed = JoinKey(name: "media", correlation: "cafe\u{301}")
        #expect("caf\u{E9}" == "cafe\u{301}", "Swift's own == calls them equal")
        #expect(precomposed != decomposed)
        #expect(Set([precomposed, decomposed]).count == 2)
    }

    /// A burst of closes gives its memory back once committed; an ordinary batch keeps its storage for reuse.
    @Test func aBurstDoesNotKeepItsStorage() {
        var closes = UncommittedJoinCloses()
        for i in 0..<50_000 { closes.insert(JoinKey(name: "media", correlation: "c\(i)")) }
        closes.batchSubmitted()
        #expect(closes.capacity >= 50_000)
        closes.commitFinished()
        #expect(closes.capacity < 50_000, "the burst's storage is released")
        for i in 0..<100 { closes.insert(JoinKey(name: "media", correlation: "d\(i)")) }
        closes.batchCommittedInline()
        #expect(closes.count == 0 && closes.capacity >= 100, "a small batch's storage is kept")
    }

    static let config = """
        [joins.media]
        open = "gen.request"
        emit = "gen.merged"
        timeout = "1h"
        [joins.media.parts.text]
        topic = "gen.result.text"
        """
    static let client: [UInt8] = [0, 0xC0, 0, 0, 7]

    static func publish(_ broker: Broker, _ topic: String, correlation: String) {
        let request = PublishRequest(topic: topic, properties: Properties([("correlation", correlation)]), payload: Array("{}".utf8))
        broker.handle(from: client, .publish(requestID: [], request: request))
    }

    /// 10,001 joins open and close in one batch, then the first one's request comes again. The set this replaced
    /// held the last 10,000 closes: it had forgotten the first, the read-only connection could not see it, and the
    /// repeat opened a second join for the same correlation id.
    @Test func aRepeatAfterManyClosesInOneBatchOpensNothing() throws {
        try withTestBroker(Self.config) { broker, _ in
            for i in 0...10_000 {
                Self.publish(broker, "gen.request", correlation: "c\(i)")
                Self.publish(broker, "gen.result.text", correlation: "c\(i)")
            }
            #expect(broker.counters.joinsOpened == 10_001 && broker.openJoins.isEmpty)
            Self.publish(broker, "gen.request", correlation: "c0")
            #expect(broker.counters.joinsOpened == 10_001, "the first join, closed in this batch, is not opened again")

            // Another connection holds the log's write lock, so the commit really stays in flight.
            let lock = try LogWriteLock(broker)
            try broker.flush(inline: false)
            #expect(broker.commits.inFlight)
            Self.publish(broker, "gen.request", correlation: "c1")
            #expect(broker.counters.joinsOpened == 10_001, "nor while its close is being committed")

            try lock.release()
            try broker.settleCommit()
            #expect(broker.uncommittedJoinCloses.count == 0)
            Self.publish(broker, "gen.request", correlation: "c2")
            #expect(broker.counters.joinsOpened == 10_001, "nor once committed: the log has it")
            Self.publish(broker, "gen.result.text", correlation: "c3")
            #expect(broker.counters.joinLateParts == 1, "a late part of a committed join is found in the log")
        }
    }
}
