import ChorusClient
import ChorusProtocol
import Foundation
import Testing
import ZeroMQ

/// `GETBLOB` replies wait in the broker until libzmq has written them to the client; `limits.max_blob_reply_bytes`
/// bounds them per client (docs/PROTOCOL.md, section 6.12). Before it, a client that asked for a blob many times
/// without reading held every reply in the broker's memory.
@Suite struct BlobReplyLimitTests {
    static let blobSize = 1 << 20
    static let requests = 100

    @Test func aClientThatDoesNotReadIsRefusedPastTheLimitAndServedOnceItReads() throws {
        let broker = try BrokerProcess(config: "[limits]\nmax_blob_reply_bytes = \(4 << 20)\n")
        defer { broker.stop() }
        let admin = try broker.connect(name: "admin")
        let content = (0..<Self.blobSize).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let hash = try admin.putBlob(content, mediaType: "application/octet-stream")
        let before = try Self.stats(admin)

        // A client that stops reading at once: libzmq takes one message off its connection, TCP a little more.
        let raw = try ZMQSocket(.dealer)
        try raw.setOption(ZMQOption.receiveHighWaterMark, 1)
        try raw.setOption(ZMQOption.receiveBuffer, 65_536)
        try raw.connect(broker.endpoint)
        for i in 0..<Self.requests {
            try raw.send(ClientCommand.getBlob(requestID: Array("b\(i)".utf8), hash: hash).encode())
        }
        // Wait for the broker to answer them all, served or refused, without reading.
        var refused = 0
        var held = 0
        #expect(try waitUntil(20) {
            let stats = try Self.stats(admin)
            refused = OperatorTests.int(stats.counters["blob_replies_refused"])
            held = OperatorTests.int(stats.broker["blob_reply_bytes"])
            return OperatorTests.int(stats.counters["blobs_served"]) - OperatorTests.int(before.counters["blobs_served"]) + refused == Self.requests
        })
        #expect(refused > 0, "no GETBLOB was refused")
        // What the broker holds stays within the limit plus the one reply always allowed.
        #expect(held > 0 && held <= (4 << 20) + Self.blobSize, "the broker holds \(held) bytes of replies")

        // Reading everything: each request has its BLOB or its LIMIT_REACHED, in order, and the blobs are whole.
        var blobs = 0, limits = 0
        for i in 0..<Self.requests {
            guard let frames = try Self.receive(raw, within: 10) else {
                Issue.record("no reply \(i)")
                break
            }
            switch try BrokerMessage.decode(frames) {
            case .blob(let r, let h, let size, _, let bytes):
                #expect(r == Array("b\(i)".utf8) && h == hash && size == UInt64(Self.blobSize) && bytes == content)
                blobs += 1
            case .error(let r, let code, let message):
                #expect(r == Array("b\(i)".utf8) && code == .limitReached && message.contains("max_blob_reply_bytes"), "\(message)")
                limits += 1
            case let other:
                Issue.record("unexpected \(other)")
            }
        }
        #expect(blobs > 0 && limits == refused && blobs + limits == Self.requests)
        // Read, the replies no longer count: a new GETBLOB is served, and the broker holds nothing.
        #expect(try waitUntil(10) { OperatorTests.int(try Self.stats(admin).broker["blob_reply_bytes"]) == 0 })
        try raw.send(ClientCommand.getBlob(requestID: Array("again".utf8), hash: hash).encode())
        let again = try #require(try Self.receive(raw, within: 10))
        guard case .blob(_, _, _, _, let bytes) = try BrokerMessage.decode(again) else {
            Issue.record("expected BLOB, got \(try BrokerMessage.decode(again))")
            return
        }
        #expect(bytes == content)
    }

    @Test func oneBlobLargerThanTheLimitIsStillServed() throws {
        let broker = try BrokerProcess(config: "[limits]\nmax_blob_reply_bytes = 1000\n")
        defer { broker.stop() }
        let c = try broker.connect(name: "client")
        let content = [UInt8](repeating: 7, count: 50_000)
        let hash = try c.putBlob(content, mediaType: "image/png")
        for _ in 0..<3 {
            let got = try c.getBlob(hash)
            #expect(got.content == content && got.mediaType == "image/png")
        }
    }

    static func stats(_ c: BrokerConnection) throws -> (broker: [String: Any], counters: [String: Any]) {
        let s = try c.admin("stats")
        return (s["broker"] as? [String: Any] ?? [:], s["counters"] as? [String: Any] ?? [:])
    }

    static func receive(_ socket: ZMQSocket, within seconds: Double) throws -> Frames? {
        var frames: Frames?
        try waitUntil(seconds, pollMilliseconds: 5) {
            frames = try socket.receive(dontWait: true)
            return frames != nil
        }
        return frames
    }
}
