import ChorusProtocol
import Foundation
import Testing

/// The packed forms (docs/PROTOCOL.md, sections 6.5, 6.14, 7.17): a DELIVERMANY, a PUBLISHMANY or an ACK with
/// everything in one frame. Round trips, the exact layout, limits, and every way a packed frame can be cut short.
@Suite("Packed DELIVERMANY, PUBLISHMANY and ACK")
struct PackedFormTests {
    static let deliveries: [Delivery] = [
        Delivery(
            group: "g", lease: Lease(seq: 1, token: 0x0123_4567_89AB_CDEF), attempt: 1,
            event: Event(seq: 1, id: "ev-1", topic: "a.b", producer: "p", time: 1_700_000_000_000, payload: [])),
        Delivery(
            group: "g", lease: Lease(seq: UInt64.max >> 1, token: .max), attempt: 70_000,
            event: Event(
                seq: UInt64.max >> 1, id: "ev-2", topic: "media.image.done", correlation: "req-1", causation: "ev-1", producer: "q",
                time: 5, contentType: "image/png", deadline: 9_000_000_000_000, headers: [("blob", "x"), ("status", "ok")],
                payload: [UInt8](repeating: 0xFE, count: 300))),
    ]

    @Test func aPackedDeliverManyRoundTrips() throws {
        let frames = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: Self.deliveries)
        #expect(frames.count == 4)
        #expect(try BrokerMessage.decode(frames) == .deliverMany(group: "g", deliveries: Self.deliveries))
    }

    /// The layout byte by byte for one small delivery: seq and token 8 bytes, attempt 4, then three fields with
    /// 4-byte lengths, all big-endian.
    @Test func theLayoutIsBigEndianWithLengthPrefixedFields() {
        let d = Delivery(group: "g", lease: Lease(seq: 258, token: 0xAB), attempt: 2, event: Event(seq: 258, id: "e", topic: "t", time: 7, payload: [9]))
        let frame = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [d])[3]
        let properties = Array("id=e\ntime=7".utf8)
        let expected: [UInt8] = [0, 0, 0, 0, 0, 0, 1, 2] + [0, 0, 0, 0, 0, 0, 0, 0xAB] + [0, 0, 0, 2] + [0, 0, 0, 1, 0x74]
            + [0, 0, 0, UInt8(properties.count)] + properties + [0, 0, 0, 1, 9]
        #expect(frame == expected)
    }

    /// Every cut of a packed frame short of a whole entry is MALFORMED, never a crash or a shorter list.
    @Test func aPackedDeliverManyCutAnywhereIsMalformed() throws {
        let frame = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: Self.deliveries)[3]
        let firstEnd = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [Self.deliveries[0]])[3].count
        for cut in 0..<frame.count where cut != firstEnd {
            let error = #expect(throws: ProtocolError.self) {
                try BrokerMessage.decode([ProtocolVersion.signature, BrokerMessage.Name.deliverMany, Array("g".utf8), Array(frame[..<cut])])
            }
            #expect(error?.code == .malformed, "cut at \(cut)")
        }
    }

    @Test func aFieldLengthPastTheEndIsMalformedNotARead() {
        var frame = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [Self.deliveries[0]])[3]
        frame[20] = 0xFF  // the topic's length, first byte
        let error = #expect(throws: ProtocolError.self) {
            try BrokerMessage.decode([ProtocolVersion.signature, BrokerMessage.Name.deliverMany, Array("g".utf8), frame])
        }
        #expect(error?.code == .malformed)
    }

    @Test func aPackedAckRoundTripsAndIsSixteenBytesPerLease() throws {
        let leases = [Lease(seq: 1, token: 0), Lease(seq: 42, token: 0xFFFF_0000_FFFF_0000), Lease(seq: UInt64.max >> 1, token: .max)]
        let frames = ClientCommand.encodePackedAck(requestID: Array("r".utf8), group: "renderers", leases: leases)
        #expect(frames.count == 5 && frames[4].count == 48)
        #expect(Array(frames[4][16..<32]) == [0, 0, 0, 0, 0, 0, 0, 42, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0, 0])
        #expect(try ClientCommand.decode(frames[...]) == .ack(requestID: Array("r".utf8), group: "renderers", leases: leases))
    }

    @Test(arguments: [0, 1, 15, 17, 31])
    func aPackedAckThatIsNotWholeLeasesIsMalformed(_ size: Int) {
        let frames = [ProtocolVersion.signature, ClientCommand.Name.ack, [], Array("g".utf8), [UInt8](repeating: 1, count: size)]
        let error = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(frames[...]) }
        #expect(error?.error.code == .malformed)
    }

    /// No delivery has seq 0: a packed ACK or a packed DELIVERMANY that says 0 is malformed.
    @Test func sequenceNumberZeroIsMalformedInPackedAcksAndDeliveries() {
        let ack = ClientCommand.encodePackedAck(requestID: [], group: "g", leases: [Lease(seq: 0, token: 1)])
        #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(ack[...]) }
        var d = Self.deliveries[0]
        d.lease = Lease(seq: 0, token: 1)
        #expect(throws: ProtocolError.self) { try BrokerMessage.decode(BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [d])) }
    }

    /// Vectors 15.33, 15.34 and 15.35 of docs/PROTOCOL.md, read from the document itself: the document and the
    /// code say the same, byte for byte.
    @Test func theDocumentedVectorsAreWhatTheEncodersWrite() throws {
        let first = Delivery(
            group: "renderers", lease: Lease(seq: 1021, token: 0x9F3C_2A7B_11D0_4E65), attempt: 1,
            event: Event(
                seq: 1021, id: "ev-1", topic: "jobs.image.render", correlation: "req-42", producer: "gateway", time: 1_767_225_600_000,
                payload: Array(#"{"prompt":"a cat"}"#.utf8)))
        let second = Delivery(
            group: "renderers", lease: Lease(seq: 1022, token: 0xFF), attempt: 2,
            event: Event(seq: 1022, id: "ev-2", topic: "jobs.image.render", time: 1_767_225_600_001, payload: []))
        let deliverMany = BrokerMessage.encodePackedDeliverMany(group: "renderers", deliveries: [first, second])
        #expect(deliverMany == (try Self.documentedFrames("15.33")))
        #expect(try BrokerMessage.decode(deliverMany) == .deliverMany(group: "renderers", deliveries: [first, second]))
        let ack = ClientCommand.encodePackedAck(requestID: Array("12".utf8), group: "renderers", leases: [first.lease, second.lease])
        #expect(ack == (try Self.documentedFrames("15.34")))
        let publish = ClientCommand.encodePackedPublishMany(requestID: Array("13".utf8), [
            PublishRequest(topic: "jobs.image.render", properties: Properties([("correlation", "req-45"), ("key", "render-45")]), payload: Array(#"{"prompt":"a fox"}"#.utf8)),
            PublishRequest(topic: "jobs.image.render", payload: []),
        ])
        #expect(publish == (try Self.documentedFrames("15.35")))
    }

    /// The frames of test vector `number` in docs/PROTOCOL.md: the hex column of its table, row by row.
    static func documentedFrames(_ number: String, file: String = #filePath) throws -> [[UInt8]] {
        let root = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("docs/PROTOCOL.md"), encoding: .utf8)
        let sections = text.components(separatedBy: "\n### ")
        let section = try #require(sections.first { $0.hasPrefix(number + " ") }, "no vector \(number)")
        return section.split(separator: "\n").filter { $0.hasPrefix("| ") && !$0.hasPrefix("| frame") }.compactMap { row in
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 3, cells[2].hasPrefix("`") else { return nil }
            let hex = cells[2].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            var out: [UInt8] = []
            var i = hex.startIndex
            while i < hex.endIndex {
                let j = hex.index(i, offsetBy: 2)
                out.append(UInt8(hex[i..<j], radix: 16)!)
                i = j
            }
            return out
        }
    }

    @Test func aPackedPublishManyRoundTripsAndCarriesBadEventsAsTheirErrors() throws {
        let good = [
            PublishRequest(topic: "a.b", properties: Properties([("key", "k1"), ("h.x", "1")]), payload: []),
            PublishRequest(topic: "a.b", payload: [UInt8](repeating: 3, count: 500)),
            PublishRequest(topic: "c.d", properties: Properties([("correlation", "r")]), payload: [1]),
        ]
        let frames = ClientCommand.encodePackedPublishMany(requestID: Array("p".utf8), good)
        #expect(frames.count == 4)
        guard case .publishMany(let r, let requests) = try ClientCommand.decode(frames[...]) else {
            Issue.record("not a PUBLISHMANY")
            return
        }
        let decoded = try requests.map { try $0.get() }
        #expect(r == Array("p".utf8) && decoded == good)
        // A topic that is not UTF-8 spoils only its own event.
        var entries: [UInt8] = []
        Packed.appendField([0xFF, 0xFE], to: &entries)
        Packed.appendField([], to: &entries)
        Packed.appendField([1], to: &entries)
        Packed.appendPublishRequest(good[2], to: &entries)
        guard case .publishMany(_, let mixed) = try ClientCommand.decode([ProtocolVersion.signature, ClientCommand.Name.publishMany, [], entries][...]) else {
            Issue.record("not a PUBLISHMANY")
            return
        }
        let second = try mixed[1].get()
        #expect(mixed.count == 2 && (try? mixed[0].get()) == nil && second == good[2])
    }

    @Test func aPackedPublishManyCutShortEmptyOrOverTheLimitIsMalformed() {
        let whole = ClientCommand.encodePackedPublishMany(requestID: [], [PublishRequest(topic: "a.b", payload: [1, 2, 3])])[3]
        for cut in 0..<whole.count {
            let error = #expect(throws: CommandDecodingError.self) {
                try ClientCommand.decode([ProtocolVersion.signature, ClientCommand.Name.publishMany, [], Array(whole[..<cut])][...])
            }
            #expect(error?.error.code == .malformed, "cut at \(cut)")
        }
        let tooMany = ClientCommand.encodePackedPublishMany(
            requestID: [], Array(repeating: PublishRequest(topic: "a", payload: []), count: ClientCommand.maxBatch + 1))
        let error = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(tooMany[...]) }
        #expect(error?.error.code == .malformed)
    }

    @Test func aOneDeliveryPackedDeliverManyDecodes() throws {
        let frames = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [Self.deliveries[1]])
        #expect(try BrokerMessage.decode(frames) == .deliverMany(group: "g", deliveries: [Self.deliveries[1]]))
    }

    @Test func aFieldLengthOfFourGibibytesIsMalformed() {
        var frame = BrokerMessage.encodePackedDeliverMany(group: "g", deliveries: [Self.deliveries[0]])[3]
        for i in 20..<24 { frame[i] = 0xFF }
        let error = #expect(throws: ProtocolError.self) {
            try BrokerMessage.decode([ProtocolVersion.signature, BrokerMessage.Name.deliverMany, Array("g".utf8), frame])
        }
        #expect(error?.code == .malformed)
    }

    @Test func aPackedPublishManyOfExactlyTheLimitDecodes() throws {
        let frames = ClientCommand.encodePackedPublishMany(
            requestID: [], Array(repeating: PublishRequest(topic: "a", payload: [1]), count: ClientCommand.maxBatch))
        guard case .publishMany(_, let requests) = try ClientCommand.decode(frames[...]) else {
            Issue.record("not a PUBLISHMANY")
            return
        }
        #expect(requests.count == ClientCommand.maxBatch)
    }

    /// The topic text is made once for a run of equal topics; each event must still get its own.
    @Test func eachPackedEventKeepsItsOwnTopicWhenTopicsRepeat() throws {
        let topics = ["a.b", "a.b", "a.c", "a.b", "a.bb", "a.b", "b.b"]
        let frames = ClientCommand.encodePackedPublishMany(requestID: [], topics.map { PublishRequest(topic: $0, payload: []) })
        guard case .publishMany(_, let requests) = try ClientCommand.decode(frames[...]) else {
            Issue.record("not a PUBLISHMANY")
            return
        }
        #expect(try requests.map { try $0.get().topic } == topics)
    }

    @Test func aPackedAckNamesAValidGroupAndCarriesAtMostTheLargestCredit() throws {
        let bad = ClientCommand.encodePackedAck(requestID: Array("r".utf8), group: "a..b", leases: [Lease(seq: 1, token: 1)])
        let badGroup = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(bad[...]) }
        #expect(badGroup?.error.code == .malformed && badGroup?.requestID == Array("r".utf8))
        let most = (1...UInt64(Packed.maxLeases)).map { Lease(seq: $0, token: $0) }
        guard case .ack(_, _, let leases) = try ClientCommand.decode(ClientCommand.encodePackedAck(requestID: [], group: "g", leases: most)[...]) else {
            Issue.record("not an ACK")
            return
        }
        #expect(leases.count == Packed.maxLeases)
        let tooMany = ClientCommand.encodePackedAck(requestID: Array("t".utf8), group: "g", leases: most + [Lease(seq: 1, token: 2)])
        let error = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(tooMany[...]) }
        #expect(error?.error.code == .malformed && error?.requestID == Array("t".utf8))
    }

    /// A packed fault is MALFORMED for the whole message and still echoes the request id.
    @Test func packedFaultsEchoTheRequestID() {
        var cut = ClientCommand.encodePackedPublishMany(requestID: Array("q".utf8), [PublishRequest(topic: "a.b", payload: [1])])
        cut[3].removeLast()
        let publish = #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(cut[...]) }
        #expect(publish?.requestID == Array("q".utf8))
        let ack = #expect(throws: CommandDecodingError.self) {
            try ClientCommand.decode([ProtocolVersion.signature, ClientCommand.Name.ack, Array("q".utf8), Array("g".utf8), [1, 2, 3]][...])
        }
        #expect(ack?.requestID == Array("q".utf8))
    }
}
