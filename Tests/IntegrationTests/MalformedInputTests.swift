import ChorusClient
import ChorusProtocol
import Foundation
import Testing
import ZeroMQ

/// Bad input from a raw ZeroMQ socket: a documented ERROR each time, and the broker keeps serving.
@Suite struct MalformedInputTests {
    static func exchange(_ socket: ZMQSocket, _ frames: Frames) throws -> BrokerMessage? {
        try socket.send(frames)
        var poller = ZMQPoller()
        poller.add(.socket(socket))
        let deadline = nowMs() + 5000
        while nowMs() < deadline {
            if try poller.poll(timeoutMilliseconds: 100)[0], let reply = try socket.receive(dontWait: true) {
                let message = try BrokerMessage.decode(reply)
                if case .heartbeat = message { continue }
                return message
            }
        }
        return nil
    }

    static let sig = ProtocolVersion.signature
    static func b(_ s: String) -> [UInt8] { Array(s.utf8) }

    static let cases: [(String, Frames, ErrorCode)] = [
        ("garbage", [[0xFF, 0x00, 0x13]], .unsupportedVersion),
        ("old version", [b("CHORUS0"), b("PUBLISH"), b("r")], .unsupportedVersion),
        ("signature only", [sig], .malformed),
        ("unknown command", [sig, b("FROBNICATE"), b("r")], .unknownCommand),
        ("publish missing frames", [sig, b("PUBLISH"), b("r"), b("topic")], .malformed),
        ("bad topic", [sig, b("PUBLISH"), b("r"), b("a..b"), [], [1]], .invalidTopic),
        ("reserved topic", [sig, b("PUBLISH"), b("r"), b("$dlq.x"), [], [1]], .reservedTopic),
        ("bad property", [sig, b("PUBLISH"), b("r"), b("a.b"), b("noequals"), [1]], .invalidProperty),
        ("unknown property", [sig, b("PUBLISH"), b("r"), b("a.b"), b("colour=red"), [1]], .invalidProperty),
        ("payload over the limit", [sig, b("PUBLISH"), b("r"), b("a.b"), [], [UInt8](repeating: 7, count: 5000)], .payloadTooLarge),
        ("bad pattern", [sig, b("SUBSCRIBE"), b("r"), b("g"), b("a.>.b"), []], .invalidPattern),
        ("bad start", [sig, b("SUBSCRIBE"), b("r"), b("g"), b("a.>"), b("start=yesterday")], .invalidStart),
        ("ack without subscription", [sig, b("ACK"), b("r"), b("g"), b("1"), b("00000000000000ff")], .notSubscribed),
        ("bad lease token", [sig, b("ACK"), b("r"), b("g"), b("1"), b("xyz")], .malformed),
        ("non-numeric sequence", [sig, b("EXTEND"), b("r"), b("g"), b("one"), b("00000000000000ff"), b("10")], .malformed),
        ("bad nack mode", [sig, b("NACK"), b("r"), b("g"), b("1"), b("00000000000000ff"), b("later"), b("")], .malformed),
        ("invalid utf-8 topic", [sig, b("PUBLISH"), b("r"), [0xC3, 0x28], [], [1]], .malformed),
    ]

    @Test func everyMalformedMessageGetsItsErrorAndTheBrokerKeepsServing() throws {
        let broker = try BrokerProcess(config: "[storage]\nmax_payload = 4096\n")
        defer { broker.stop() }
        // A good consumer is connected throughout; it must keep receiving.
        let good = try broker.connect(name: "good")
        try good.subscribe(group: "g-good", patterns: ["a.>"], credit: 100)
        let raw = try ZMQSocket(.dealer)
        try raw.connect(broker.endpoint)
        for (name, frames, expected) in Self.cases {
            let reply = try Self.exchange(raw, frames)
            guard case .error(_, let code, let message)? = reply else {
                Issue.record("\(name): expected ERROR \(expected), got \(String(describing: reply))")
                continue
            }
            #expect(code == expected, "\(name): \(message)")
            #expect(!message.isEmpty)
        }
        // The request id is echoed in errors where it could be read.
        if case .error(let r, _, _)? = try Self.exchange(raw, [Self.sig, Self.b("PUBLISH"), Self.b("req-9"), Self.b("a..b"), [], []]) {
            #expect(r == Self.b("req-9"))
        } else {
            Issue.record("no ERROR for a bad topic")
        }
        let seq = try broker.connect().publish(topic: "a.ok", payload: [1]).seq
        let d = try good.deliveries(1, within: 10)
        #expect(d.map(\.lease.seq) == [seq])
    }

    @Test func aFloodOfGarbageDoesNotStallAWellBehavedClient() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let raw = try ZMQSocket(.dealer)
        try raw.setOption(ZMQOption.sendHighWaterMark, 100_000)
        try raw.connect(broker.endpoint)
        for i in 0..<5000 { try raw.send([[UInt8(i & 0xFF), 0x01]]) }
        let publisher = try broker.connect()
        let start = nowMs()
        _ = try publisher.publish(topic: "still.alive", payload: [1], timeoutMilliseconds: 10_000)
        #expect(nowMs() - start < 5000)
    }
}
