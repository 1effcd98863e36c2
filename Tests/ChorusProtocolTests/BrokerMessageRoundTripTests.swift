import ChorusProtocol
import Testing

@Suite("BrokerMessage encode/decode round trip")
struct BrokerMessageRoundTripTests {
    static let fullEvent = Event(
        seq: 7, id: "e1", topic: "jobs.text", correlation: "c-1", causation: "e0", producer: "agent-a",
        time: 1_700_000_000_000, contentType: "application/json", deadline: 1_700_000_060_000,
        headers: [("Trace", "t=1"), ("b", "")], payload: [0, 1, 0xFF])
    static let bareEvent = Event(seq: 9_999_999_999_999_999_999, id: "e2", topic: "$dlq.g", time: 0, payload: [])

    static let messages: [BrokerMessage] = [
        .welcome(requestID: bytes("r1"), properties: Properties([("broker", "chorus"), ("version", "1")])),
        .confirm(requestID: bytes("r1"), seq: 42, duplicate: false),
        .confirm(requestID: [], seq: 0, duplicate: true),
        .subscribed(requestID: bytes("r2"), group: "workers", properties: Properties([("cursor", "12")])),
        .unsubscribed(requestID: bytes("r3"), group: "workers"),
        .deliver(Delivery(group: "workers", lease: Lease(seq: 7, token: 0xFEDC_BA98_7654_3210), attempt: 3, event: fullEvent)),
        .deliver(Delivery(group: "g", lease: Lease(seq: bareEvent.seq, token: 1), attempt: 1, event: bareEvent)),
        .acked(requestID: bytes("r4"), count: 3),
        .nacked(requestID: bytes("r5")),
        .extended(requestID: bytes("r6"), expiresAt: 1_700_000_030_000),
        .error(requestID: bytes("r7"), code: .staleLease, message: "lease 7:00000000000000ff is not current"),
        .error(requestID: [], code: .unsupportedVersion, message: ""),
        .heartbeat,
    ]

    @Test(arguments: messages)
    func roundTrip(_ message: BrokerMessage) throws {
        let frames = message.encode()
        #expect(frames[0] == bytes("CHORUS1"))
        #expect(try BrokerMessage.decode(frames) == message)
    }

    @Test(arguments: ErrorCode.all)
    func everyErrorCodeSurvivesTheWire(_ code: ErrorCode) throws {
        let decoded = try BrokerMessage.decode(BrokerMessage.error(requestID: bytes("r"), code: code, message: "m").encode())
        #expect(decoded == .error(requestID: bytes("r"), code: code, message: "m"))
    }

    @Test func unknownErrorCodeKeepsNumberAndName() throws {
        let decoded = try BrokerMessage.decode(frames("CHORUS1", "ERROR", "r", "999", "NEW_THING", "later"))
        #expect(decoded == .error(requestID: bytes("r"), code: ErrorCode(999, "NEW_THING"), message: "later"))
    }

    @Test func deliverEventTakesSeqFromLease() throws {
        let d = try Delivery.decode(Delivery(group: "g", lease: Lease(seq: 5, token: 1), attempt: 1, event: Self.bareEvent).encode())
        #expect(d.event.seq == 5)
    }

    @Test func deliverIgnoresUnknownPropertiesFromNewerBrokers() throws {
        let event = try Delivery.decodeEvent(seq: 1, topic: bytes("a"), properties: bytes("id=e\nfuture=1\ntime=5"), payload: [])
        #expect(event == Event(seq: 1, id: "e", topic: "a", time: 5))
    }

    @Test func wrongSignatureIsUnsupportedVersion() {
        let error = #expect(throws: ProtocolError.self) { try BrokerMessage.decode(frames("CHORUS2", "HEARTBEAT")) }
        #expect(error?.code == .unsupportedVersion)
        let short = #expect(throws: ProtocolError.self) { try BrokerMessage.decode(frames("CHORUS1")) }
        #expect(short?.code == .unsupportedVersion)
    }

    @Test func unknownMessageIsUnknownCommand() {
        let error = #expect(throws: ProtocolError.self) { try BrokerMessage.decode(frames("CHORUS1", "GOODBYE", "r")) }
        #expect(error?.code == .unknownCommand)
    }

    static let wrongCounts: [[String]] = [
        ["CHORUS1", "WELCOME", "r"],
        ["CHORUS1", "CONFIRM", "r", "1"],
        ["CHORUS1", "CONFIRM", "r", "1", "new", "x"],
        ["CHORUS1", "SUBSCRIBED", "r", "g"],
        ["CHORUS1", "UNSUBSCRIBED", "r"],
        ["CHORUS1", "ACKED", "r"],
        ["CHORUS1", "NACKED"],
        ["CHORUS1", "EXTENDED", "r"],
        ["CHORUS1", "ERROR", "r", "100", "MALFORMED"],
        ["CHORUS1", "DELIVER", "g", "7", "00000000000000ff", "2", "a.b", "id=e1\ntime=1"],
        ["CHORUS1", "DELIVER", "g", "7", "00000000000000ff", "2", "a.b", "id=e1\ntime=1", "x", "y"],
    ]

    @Test(arguments: wrongCounts)
    func wrongFrameCountIsMalformed(_ texts: [String]) {
        let error = #expect(throws: ProtocolError.self) { try BrokerMessage.decode(texts.map(bytes)) }
        #expect(error?.code == .malformed)
    }

    @Test func badNumbersAreMalformed() {
        for f in [
            frames("CHORUS1", "CONFIRM", "r", "4x", "new"),
            frames("CHORUS1", "ACKED", "r", ""),
            frames("CHORUS1", "EXTENDED", "r", "-1"),
            frames("CHORUS1", "ERROR", "r", "E100", "MALFORMED", "m"),
            frames("CHORUS1", "DELIVER", "g", "7", "00000000000000fg", "2", "a.b", "id=e1", "x"),
            frames("CHORUS1", "DELIVER", "g", "7", "00000000000000ff", "two", "a.b", "id=e1", "x"),
        ] {
            let error = #expect(throws: ProtocolError.self) { try BrokerMessage.decode(f) }
            #expect(error?.code == .malformed)
        }
    }

    @Test func badDeliverPropertiesAreInvalidProperty() {
        let error = #expect(throws: ProtocolError.self) {
            try BrokerMessage.decode(frames("CHORUS1", "DELIVER", "g", "7", "00000000000000ff", "2", "a.b", "ID=x", "x"))
        }
        #expect(error?.code == .invalidProperty)
    }
}
