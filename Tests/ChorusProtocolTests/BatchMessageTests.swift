import ChorusProtocol
import Testing

/// PUBLISHMANY, CONFIRMMANY and DELIVERMANY: frames, limits and the results line format.
@Suite("Batched messages")
struct BatchMessageTests {
    static func publishMany(_ body: [[UInt8]]) -> [[UInt8]] { frames("CHORUS1", "PUBLISHMANY", "r") + body }

    @Test func anUnreadableEventIsCarriedAsItsErrorAndTheOthersStillDecode() throws {
        let command = try ClientCommand.decode(
            Self.publishMany([bytes("a.b"), bytes("id=1"), [1], [0xFF, 0xFE], [], [2], bytes("c"), bytes("no equals sign"), [3]])[...])
        guard case .publishMany(let r, let requests) = command else {
            Issue.record("decoded as \(command)")
            return
        }
        #expect(r == bytes("r") && requests.count == 3)
        #expect(try requests[0].get() == PublishRequest(topic: "a.b", properties: Properties([("id", "1")]), payload: [1]))
        #expect(throws: ProtocolError(.malformed, "topic is not valid UTF-8")) { try requests[1].get() }
        let unreadable = #expect(throws: ProtocolError.self) { try requests[2].get() }
        #expect(unreadable?.code == .invalidProperty)
    }

    /// A batch's topic text is made once for a run of equal topic frames; each event must still get its own.
    @Test func eachEventKeepsItsOwnTopicWhenTopicsRepeat() throws {
        let topics = ["a.b", "a.b", "a.c", "a.b", "a.bb", "a.b"]
        let command = try ClientCommand.decode(Self.publishMany(topics.flatMap { [bytes($0), [], [1]] })[...])
        guard case .publishMany(_, let requests) = command else {
            Issue.record("decoded as \(command)")
            return
        }
        #expect(try requests.map { try $0.get().topic } == topics)
    }

    @Test(arguments: [0, 1, 2, 4, 5])
    func aFrameCountThatIsNotWholeTriplesIsMalformed(extra: Int) {
        let body = Array(repeating: bytes("x"), count: extra)
        let e = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(Self.publishMany(body)[...]) }
        #expect(e?.error.code == .malformed)
        #expect(e?.requestID == bytes("r"))
    }

    @Test func theLimitIsAThousandEvents() throws {
        let triple: [[UInt8]] = [bytes("a"), [], []]
        let atLimit = Array(repeating: triple, count: ClientCommand.maxBatch).flatMap { $0 }
        guard case .publishMany(_, let requests) = try ClientCommand.decode(Self.publishMany(atLimit)[...]) else {
            Issue.record("not decoded")
            return
        }
        #expect(requests.count == 1000)
        #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(Self.publishMany(atLimit + triple)[...]) }
    }

    @Test func outcomesRoundTripAndMessagesStayOnOneLine() throws {
        let outcomes: [PublishOutcome] = [
            .new(seq: 1), .duplicate(seq: 18_446_744_073_709_551_615),
            .refused(ProtocolError(.invalidTopic, "topic 'a..b' has an empty token\nsecond line")), .new(seq: 7),
            .refused(ProtocolError(.limitReached, "")),
        ]
        let frame = PublishOutcome.encode(outcomes)
        let text = String(decoding: frame, as: UTF8.self)
        #expect(text.split(separator: "\n").count == 5)
        #expect(text.hasPrefix("new 1\nduplicate 18446744073709551615\nerror 103 INVALID_TOPIC topic 'a..b' has an empty token second line\n"))
        let back = try PublishOutcome.decode(frame)
        #expect(back.count == 5)
        #expect(back[0] == .new(seq: 1) && back[1] == .duplicate(seq: .max) && back[3] == .new(seq: 7))
        #expect(back[2] == .refused(ProtocolError(.invalidTopic, "topic 'a..b' has an empty token second line")))
        #expect(back[4] == .refused(ProtocolError(.limitReached, "")))
        #expect(back.map(\.seq) == [1, .max, nil, 7, nil])
    }

    @Test(arguments: ["", "new", "new x", "old 4", "duplicate", "error", "error x NAME m", "new 1 2", "new +1", "new 18446744073709551616", "error 103", "error 103 ", "new 1\r"])
    func aBadResultsLineIsMalformed(line: String) {
        #expect(throws: ProtocolError.self) { try PublishOutcome.decode(bytes(line)) }
    }

    @Test func confirmManyAndDeliverManyRoundTrip() throws {
        let event = Event(seq: 5, id: "ev-5", topic: "jobs.a", producer: "p", time: 1000, headers: [("x", "1")], payload: [1, 2, 3])
        var second = event
        second.seq = 6
        second.id = "ev-6"
        let messages: [BrokerMessage] = [
            .confirmMany(requestID: bytes("r"), outcomes: [.new(seq: 5), .refused(ProtocolError(.payloadTooLarge, "too big"))]),
            .deliverMany(
                group: "g",
                deliveries: [
                    Delivery(group: "g", lease: Lease(seq: 5, token: 0xAB), attempt: 1, event: event),
                    Delivery(group: "g", lease: Lease(seq: 6, token: 0xCD), attempt: 3, event: second),
                ]),
        ]
        for m in messages { #expect(try BrokerMessage.decode(m.encode()) == m) }
        let f = messages[1].encode()
        #expect(f.count == 3 + 2 * 6)
        #expect(f[1] == bytes("DELIVERMANY") && f[2] == bytes("g") && f[3] == bytes("5") && f[4] == bytes("00000000000000ab"))
    }

    @Test(arguments: [3, 4, 8, 10, 16])
    func aDeliverManyWithoutWholeDeliveriesIsMalformed(count: Int) {
        let f = frames("CHORUS1", "DELIVERMANY", "g") + Array(repeating: bytes("1"), count: count - 3)
        #expect(throws: ProtocolError.self) { try BrokerMessage.decode(f) }
    }
}
