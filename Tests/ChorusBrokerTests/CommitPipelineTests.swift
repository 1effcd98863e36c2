@testable import ChorusBroker
import ChorusProtocol
import ChorusStore
import Foundation
import Logging
import Testing

@Suite("CommitPipeline")
struct CommitPipelineTests {
    final class Fixture {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chorus-pipeline-\(UUID().uuidString)").path
        let store: SQLiteEventStore
        let pipeline: CommitPipeline

        init() throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            store = try SQLiteEventStore(path: directory + "/log.sqlite", durability: .normal, logger: Logger(label: "test"))
            pipeline = CommitPipeline(store: store)
        }

        deinit {
            pipeline.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    func batch(_ seqs: ClosedRange<UInt64>) -> WriteBatch {
        var b = WriteBatch()
        b.events = seqs.map { LogEntry(Event(seq: $0, id: "e\($0)", topic: "t", time: 1, payload: [1])) }
        return b
    }

    @Test func aSubmittedBatchIsCommittedWhenFinished() throws {
        let f = try Fixture()
        f.pipeline.submit(batch(1...3))
        try f.pipeline.finish()
        #expect(!f.pipeline.inFlight)
        #expect(try f.store.lastSequence() == 3)
        #expect(try f.store.readEvent(seq: 2)?.id == "e2")
    }

    @Test func fiftyBatchesOneAfterAnotherAllCommit() throws {
        let f = try Fixture()
        for n in UInt64(0)..<50 {
            f.pipeline.submit(batch((n * 10 + 1)...(n * 10 + 10)))
            try f.pipeline.finish()
        }
        #expect(try f.store.lastSequence() == 500)
        #expect(try f.store.readEvents(from: 1, limit: 1000).map(\.seq) == Array(1...500))
    }

    @Test func theWakePipeSignalsAFinishedCommit() throws {
        let f = try Fixture()
        f.pipeline.submit(batch(1...1))
        var ready = pollfd(fd: f.pipeline.wake.readFD, events: Int16(POLLIN), revents: 0)
        #expect(poll(&ready, 1, 5000) == 1, "the wake pipe became readable")
        try f.pipeline.finish()
    }

    @Test func aFailedCommitStaysFailed() throws {
        let f = try Fixture()
        f.pipeline.submit(batch(1...2))
        try f.pipeline.finish()
        f.pipeline.submit(batch(2...3))  // seq 2 again: the primary key refuses it, and the whole batch rolls back
        #expect(throws: (any Error).self) { try f.pipeline.finish() }
        #expect(f.pipeline.failed)
        #expect(throws: (any Error).self) { try f.pipeline.finish() }
        #expect(try f.store.lastSequence() == 2, "nothing of the failed batch was committed")
    }

    @Test func theCommittedBatchComesBackEmptyWithItsStorage() throws {
        let f = try Fixture()
        f.pipeline.submit(batch(1...100))
        try f.pipeline.finish()
        let recycled = try #require(f.pipeline.takeEmptiedBatch())
        #expect(recycled.isEmpty)
        #expect(recycled.events.capacity >= 100)
        #expect(f.pipeline.takeEmptiedBatch() == nil, "handed back once")
        #expect(try f.store.lastSequence() == 100)
    }

    @Test func finishWithNothingInFlightReturnsAtOnce() throws {
        let f = try Fixture()
        try f.pipeline.finish()
        #expect(!f.pipeline.inFlight && !f.pipeline.failed)
    }
}
