import ChorusProtocol
import Testing

/// Exact wire bytes, written out literally: a change of wire format must break these tests.
@Suite("Golden wire vectors")
struct GoldenFrameTests {
    static let publishFrames: [[UInt8]] = [
        [0x43, 0x48, 0x4F, 0x52, 0x55, 0x53, 0x31],  // CHORUS1
        [0x50, 0x55, 0x42, 0x4C, 0x49, 0x53, 0x48],  // PUBLISH
        [0x72, 0x31],  // r1
        [0x6A, 0x6F, 0x62, 0x73, 0x2E, 0x74, 0x65, 0x78, 0x74],  // jobs.text
        // correlation=c-1\nkey=k-1
        [
            0x63, 0x6F, 0x72, 0x72, 0x65, 0x6C, 0x61, 0x74, 0x69, 0x6F, 0x6E, 0x3D, 0x63, 0x2D, 0x31, 0x0A,
            0x6B, 0x65, 0x79, 0x3D, 0x6B, 0x2D, 0x31,
        ],
        [0x68, 0x69],  // hi
    ]

    static let publish = ClientCommand.publish(
        requestID: Array("r1".utf8),
        request: PublishRequest(
            topic: "jobs.text", properties: Properties([("correlation", "c-1"), ("key", "k-1")]), payload: Array("hi".utf8)))

    @Test func publishEncodesToGoldenBytes() {
        #expect(Self.publish.encode() == Self.publishFrames)
    }

    @Test func publishDecodesFromGoldenBytes() throws {
        #expect(try ClientCommand.decode(Self.publishFrames[...]) == Self.publish)
    }

    @Test func publishGoldenBytesAsText() {
        let text = Self.publish.encode().map { String(decoding: $0, as: UTF8.self) }
        #expect(text == ["CHORUS1", "PUBLISH", "r1", "jobs.text", "correlation=c-1\nkey=k-1", "hi"])
    }

    static let confirmFrames: [[UInt8]] = [
        [0x43, 0x48, 0x4F, 0x52, 0x55, 0x53, 0x31],  // CHORUS1
        [0x43, 0x4F, 0x4E, 0x46, 0x49, 0x52, 0x4D],  // CONFIRM
        [0x72, 0x31],  // r1
        [0x34, 0x32],  // 42
        [0x6E, 0x65, 0x77],  // new
    ]

    static let confirm = BrokerMessage.confirm(requestID: Array("r1".utf8), seq: 42, duplicate: false)

    @Test func confirmEncodesToGoldenBytes() {
        #expect(Self.confirm.encode() == Self.confirmFrames)
    }

    @Test func confirmDecodesFromGoldenBytes() throws {
        #expect(try BrokerMessage.decode(Self.confirmFrames) == Self.confirm)
    }

    @Test func duplicateConfirmSaysDuplicate() throws {
        let frames = BrokerMessage.confirm(requestID: Array("r1".utf8), seq: 42, duplicate: true).encode()
        #expect(frames.map { String(decoding: $0, as: UTF8.self) } == ["CHORUS1", "CONFIRM", "r1", "42", "duplicate"])
    }

    static let deliverFrames: [[UInt8]] = [
        Array("CHORUS1".utf8),
        Array("DELIVER".utf8),
        [0x67],  // g
        [0x37],  // 7
        // 00000000000000ff
        [0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x30, 0x66, 0x66],
        [0x32],  // 2
        [0x61, 0x2E, 0x62],  // a.b
        Array("id=e1\ntime=1700000000000".utf8),
        [0x78],  // x
    ]

    static let deliver = BrokerMessage.deliver(
        Delivery(
            group: "g", lease: Lease(seq: 7, token: 0x0000_0000_0000_00FF), attempt: 2,
            event: Event(seq: 7, id: "e1", topic: "a.b", time: 1_700_000_000_000, payload: Array("x".utf8))))

    @Test func deliverEncodesToGoldenBytes() {
        #expect(Self.deliver.encode() == Self.deliverFrames)
    }

    @Test func deliverDecodesFromGoldenBytes() throws {
        #expect(try BrokerMessage.decode(Self.deliverFrames) == Self.deliver)
    }

    @Test func deliverPropertiesOrderIsFixed() {
        let event = Event(
            seq: 1, id: "e1", topic: "a", correlation: "c", causation: "d", producer: "p", time: 5, contentType: "t/x",
            deadline: 9, headers: [("H", "v")], payload: [])
        #expect(
            String(decoding: event.encodeProperties(), as: UTF8.self)
                == "id=e1\ncorrelation=c\ncausation=d\nproducer=p\ntime=5\ncontent-type=t/x\ndeadline=9\nh.H=v")
    }

    @Test func errorFramesCarryNumberAndName() {
        let frames = BrokerMessage.error(requestID: Array("r1".utf8), code: .staleLease, message: "old").encode()
        #expect(frames.map { String(decoding: $0, as: UTF8.self) } == ["CHORUS1", "ERROR", "r1", "201", "STALE_LEASE", "old"])
    }

    @Test func leaseTokenIsSixteenLowercaseHexDigits() {
        #expect(Lease(seq: 1, token: 0xABCD_EF01_2345_6789).tokenBytes == Array("abcdef0123456789".utf8))
        #expect(Lease(seq: 1, token: 0).tokenBytes == Array("0000000000000000".utf8))
        #expect(Lease(seq: 3, token: 255).description == "3:00000000000000ff")
    }
}
