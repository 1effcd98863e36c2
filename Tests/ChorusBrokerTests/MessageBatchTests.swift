import ChorusProtocol
import Foundation
import Testing
import ZeroMQ

@Suite("MessageBatch: many multipart messages in one buffer")
struct MessageBatchTests {
    @Test func framesComeBackAsAppendedWithEmptyFramesKept() {
        var batch = MessageBatch()
        batch.append([[1, 2, 3], [], [4]])
        batch.appendFrame([9])
        batch.endMessage()
        #expect(batch.count == 2)
        #expect(batch.frameCount(of: 0) == 3 && batch.frameCount(of: 1) == 1)
        #expect(batch.messages == [[[1, 2, 3], [], [4]], [[9]]])
        #expect(batch.frame(1, of: 0) == [])
    }

    @Test(arguments: [(UInt64(0), "0"), (7, "7"), (10, "10"), (1_234_567_890, "1234567890"), (.max, "18446744073709551615")])
    func decimalFramesHaveNoLeadingZeros(value: UInt64, text: String) {
        var batch = MessageBatch()
        batch.appendFrame { FrameCoding.appendNumber(value, to: &$0) }
        batch.endMessage()
        #expect(batch.frame(0, of: 0) == Array(text.utf8))
    }

    @Test(arguments: [(UInt64(0), "0000000000000000"), (0xAB, "00000000000000ab"), (.max, "ffffffffffffffff"), (0x0123_4567_89AB_CDEF, "0123456789abcdef")])
    func hexFramesAreSixteenLowerCaseDigits(value: UInt64, text: String) {
        var batch = MessageBatch()
        batch.appendFrame { Lease.appendHex(value, to: &$0) }
        batch.endMessage()
        #expect(batch.frame(0, of: 0) == Array(text.utf8))
    }

    @Test func removeAllKeepsOrdinaryStorageButGivesBackALargeBuffer() {
        var batch = MessageBatch()
        batch.append([[UInt8](repeating: 1, count: 1000)])
        batch.removeAll()
        #expect(batch.isEmpty && batch.byteCount == 0)
        #expect(batch.byteCapacity >= 1000, "an ordinary batch keeps its buffer for the next iteration")
        batch.append([[UInt8](repeating: 1, count: MessageBatch.retainedCapacity + 1)])
        batch.removeAll()
        #expect(batch.byteCapacity <= MessageBatch.retainedCapacity, "one large message must not pin its size")
    }

    @Test func sendsEachMessageWholeOverARealSocketPair() throws {
        let (router, dealer) = try Self.socketPair()
        try dealer.send([Array("hello".utf8)])
        let hello = try #require(try Self.receive(router))
        #expect(hello == [Array("peer".utf8), Array("hello".utf8)])

        var batch = MessageBatch()
        batch.append([Array("peer".utf8), [1], [], [UInt8](repeating: 7, count: 300)])
        batch.appendFrame(Array("peer".utf8))
        batch.appendFrame { FrameCoding.appendNumber(42, to: &$0) }
        batch.appendFrame { Lease.appendHex(0xBEEF, to: &$0) }
        batch.endMessage()
        for m in 0..<batch.count { #expect(try router.send(message: m, of: batch)) }
        #expect(try Self.receive(dealer) == [[1], [], [UInt8](repeating: 7, count: 300)])
        #expect(try Self.receive(dealer) == [Array("42".utf8), Array("000000000000beef".utf8)])
    }

    /// Receiving shares a short frame equal to one received just before it (same place in the previous message,
    /// or a few frames back in this one) instead of copying it: frames that differ by one byte or by length, or
    /// that are longer than the sharing limit, must still come back exactly as sent.
    @Test func framesThatRepeatOrNearlyRepeatComeBackExactly() throws {
        let (router, dealer) = try Self.socketPair()
        let long = [UInt8](repeating: 5, count: 65)
        var longer = long
        longer[64] = 6
        let first: Frames = [
            Array("t.a".utf8), [], [1], Array("t.a".utf8), [], [2], Array("t.b".utf8), [], [3], Array("t.a".utf8), Array("t.".utf8),
            Array("t.a".utf8), long, longer, long, [],
        ]
        let second: Frames = [Array("t.a".utf8), [9], [9], Array("t.c".utf8), [], [], [], Array("t.a".utf8), long, longer]
        try dealer.send(first)
        try dealer.send(second)
        let a = try #require(try Self.receive(router))
        let b = try #require(try Self.receive(router))
        #expect(Array(a.dropFirst()) == first)
        #expect(Array(b.dropFirst()) == second)
    }

    @Test func anUnfinishedMessageCanBeDiscardedAndFramesReadInPlace() {
        var batch = MessageBatch()
        batch.append([[1, 2], [3]])
        [UInt8]([4, 5, 6]).withUnsafeBytes { batch.appendFrame(bytes: $0) }
        batch.appendFrame([7])
        batch.discardUnfinished()
        #expect(batch.messages == [[[1, 2], [3]]] && batch.byteCount == 3)
        [UInt8]([8, 9]).withUnsafeBytes { batch.appendFrame(bytes: $0) }
        batch.endMessage()
        #expect(Array(batch.frameBytes(1, of: 0)) == [3] && Array(batch.frameBytes(0, of: 1)) == [8, 9])
        var empty = MessageBatch()
        empty.appendFrame([1])
        empty.discardUnfinished()
        #expect(empty.isEmpty && empty.byteCount == 0)
    }

    /// `receive(into:)` reads whole messages into one buffer, after what it already holds, exactly as sent.
    @Test func receivesMessagesIntoOneBufferOverARealSocketPair() throws {
        let (router, dealer) = try Self.socketPair()
        let sent: [Frames] = [[Array("a".utf8), [], [UInt8](repeating: 9, count: 5000)], [[1], [2], [3]]]
        for m in sent { try dealer.send(m) }
        var batch = MessageBatch()
        batch.append([[0xFF]])
        let deadline = ContinuousClock.now + .seconds(5)
        while batch.count < 3 && ContinuousClock.now < deadline {
            if try !router.receive(into: &batch, dontWait: true) { usleep(1000) }
        }
        #expect(batch.messages == [[[0xFF]]] + sent.map { [Array("peer".utf8)] + $0 })
        #expect(try router.receive(into: &batch, dontWait: true) == false && batch.count == 3)
    }

    /// A ROUTER on an ephemeral loopback port and a DEALER connected to it whose routing id is `peer`.
    static func socketPair() throws -> (router: ZMQSocket, dealer: ZMQSocket) {
        let router = try ZMQSocket(.router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(.dealer)
        try dealer.setOption(ZMQOption.routingID, bytes: Array("peer".utf8))
        try dealer.connect(router.lastEndpoint)
        return (router, dealer)
    }

    /// The next message, or nil after 5 s: a broken send fails the test instead of hanging it.
    static func receive(_ socket: ZMQSocket) throws -> Frames? {
        var message: Frames?
        try waitUntil(5) {
            message = try socket.receive(dontWait: true)
            return message != nil
        }
        return message
    }
}
