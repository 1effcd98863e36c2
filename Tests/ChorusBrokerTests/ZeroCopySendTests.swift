import Foundation
import Testing
import ZeroMQ

/// A message whose last frame libzmq takes without a copy (`ZMQSocket.send(message:of:lastFrame:counting:)`):
/// the frame arrives whole, and its bytes leave the count once libzmq is done with them, sent or not.
@Suite("ZMQSocket: zero-copy last frame and its byte count")
struct ZeroCopySendTests {
    @Test func theFrameArrivesWholeAndItsBytesAreReleasedOnceSent() throws {
        let (router, dealer) = try MessageBatchTests.socketPair()
        try dealer.send([Array("hello".utf8)])
        _ = try #require(try MessageBatchTests.receive(router))
        var batch = MessageBatch()
        batch.append([Array("peer".utf8), Array("BLOB".utf8), []])
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0) }
        let queued = QueuedBytes()
        queued.add(body.count)
        #expect(try router.send(message: 0, of: batch, lastFrame: body, counting: queued, count: body.count))
        #expect(try MessageBatchTests.receive(dealer) == [Array("BLOB".utf8), body])
        #expect(waitUntil(5) { queued.current == 0 })
    }

    /// Without a replacement, the batch's own last frame goes, and the count given (the whole message) leaves.
    @Test func theBatchsOwnLastFrameCanGoCountedWithTheWholeMessage() throws {
        let (router, dealer) = try MessageBatchTests.socketPair()
        try dealer.send([Array("hello".utf8)])
        _ = try #require(try MessageBatchTests.receive(router))
        var batch = MessageBatch()
        let payload = [UInt8](repeating: 9, count: 100_000)
        batch.append([Array("peer".utf8), Array("DELIVER".utf8), payload])
        let queued = QueuedBytes()
        let count = batch.byteCount(of: 0)
        #expect(count == 4 + 7 + 100_000)
        queued.add(count)
        #expect(try router.send(message: 0, of: batch, counting: queued, count: count))
        #expect(try MessageBatchTests.receive(dealer) == [Array("DELIVER".utf8), payload])
        #expect(waitUntil(5) { queued.current == 0 })
    }

    @Test func bytesOfAMessageThatCannotBeSentAreReleasedAtOnce() throws {
        let router = try ZMQSocket(.router)
        try router.setOption(ZMQOption.routerMandatory, 1)
        try router.bind("tcp://127.0.0.1:*")
        var batch = MessageBatch()
        batch.append([Array("nobody".utf8), Array("BLOB".utf8), []])
        let queued = QueuedBytes()
        queued.add(1000)
        #expect(throws: ZMQError.self) {
            try router.send(message: 0, of: batch, lastFrame: [UInt8](repeating: 1, count: 1000), counting: queued, count: 1000, dontWait: true)
        }
        #expect(queued.current == 0)
    }
}
