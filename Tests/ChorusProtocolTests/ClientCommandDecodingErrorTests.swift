import ChorusProtocol
import Testing

@Suite("ClientCommand decoding errors")
struct ClientCommandDecodingErrorTests {
    static let token = "00000000000000ff"

    func decodeError(_ f: [[UInt8]]) -> CommandDecodingError? {
        #expect(throws: CommandDecodingError.self) { try ClientCommand.decode(f[...]) }
    }

    @Test func emptyMessageIsMalformed() {
        let error = decodeError([])
        #expect(error?.error.code == .malformed)
        #expect(error?.requestID == [])
    }

    @Test(arguments: ["CHORUS2", "chorus1", "CHORUS", "", "HELLO"])
    func wrongSignatureIsUnsupportedVersion(_ signature: String) {
        let error = decodeError(frames(signature, "HELLO", "r1", ""))
        #expect(error?.error.code == .unsupportedVersion)
        #expect(error?.requestID == [])
    }

    @Test func fewerThanThreeFramesIsMalformed() {
        #expect(decodeError(frames("CHORUS1"))?.error.code == .malformed)
        #expect(decodeError(frames("CHORUS1", "HELLO"))?.error.code == .malformed)
    }

    @Test func unknownCommandKeepsRequestID() {
        let error = decodeError(frames("CHORUS1", "FETCH", "req-7", "x"))
        #expect(error?.error.code == .unknownCommand)
        #expect(error?.requestID == bytes("req-7"))
        #expect(error?.error.message.contains("FETCH") == true)
    }

    /// AWAIT's after-sequence is at most 2^63 - 1: above it, reading the log for it trapped (Int64 conversion).
    @Test func anAwaitAfterTheLargestSequenceNumberIsMalformed() throws {
        let error = decodeError(frames("CHORUS1", "AWAIT", "w", "c", "@reply", "9223372036854775808", "1000"))
        #expect(error?.error.code == .malformed)
        #expect(error?.error.message.contains("9223372036854775807") == true)
        #expect(decodeError(frames("CHORUS1", "AWAIT", "w", "c", "a.>", "9999999999999999999", "1000"))?.error.code == .malformed)
        let largest = try ClientCommand.decode(frames("CHORUS1", "AWAIT", "w", "c", "a.>", "9223372036854775807", "1000")[...])
        guard case .await(_, _, _, let after, _) = largest else { Issue.record("not an AWAIT: \(largest)"); return }
        #expect(after == 9_223_372_036_854_775_807)
    }

    @Test func commandNamesAreCaseSensitive() {
        #expect(decodeError(frames("CHORUS1", "hello", "r", ""))?.error.code == .unknownCommand)
    }

    @Test func overlongRequestIDIsMalformedWithoutEchoingIt() {
        let error = decodeError([bytes("CHORUS1"), bytes("BYE"), Array(repeating: 0x61, count: 256)])
        #expect(error?.error.code == .malformed)
        #expect(error?.requestID == [])
    }

    static let wrongCounts: [[String]] = [
        ["CHORUS1", "HELLO", "r1"],
        ["CHORUS1", "HELLO", "r1", "", ""],
        ["CHORUS1", "PUBLISH", "r1", "a", ""],
        ["CHORUS1", "PUBLISH", "r1", "a", "", "x", "y"],
        ["CHORUS1", "SUBSCRIBE", "r1", "g", "a"],
        ["CHORUS1", "SUBSCRIBE", "r1", "g", "a", "", ""],
        ["CHORUS1", "UNSUBSCRIBE", "r1"],
        ["CHORUS1", "UNSUBSCRIBE", "r1", "g", "x"],
        ["CHORUS1", "ACK", "r1", "g"],
        ["CHORUS1", "ACK", "r1", "g", "1"],
        ["CHORUS1", "ACK", "r1", "g", "1", token, "2"],
        ["CHORUS1", "NACK", "r1", "g", "1", token, "requeue"],
        ["CHORUS1", "NACK", "r1", "g", "1", token, "requeue", "why", "extra"],
        ["CHORUS1", "EXTEND", "r1", "g", "1", token],
        ["CHORUS1", "EXTEND", "r1", "g", "1", token, "100", "extra"],
    ]

    @Test(arguments: wrongCounts)
    func wrongFrameCountIsMalformedAndKeepsRequestID(_ texts: [String]) {
        let error = decodeError(texts.map(bytes))
        #expect(error?.error.code == .malformed)
        #expect(error?.requestID == bytes("r1"))
    }

    @Test(arguments: ["ff", "00000000000000fff", "000000000000000g", "0x000000000000ff", "000000000000 0ff", ""])
    func badLeaseTokenIsMalformed(_ token: String) {
        for f in [
            frames("CHORUS1", "ACK", "r1", "g", "1", token),
            frames("CHORUS1", "NACK", "r1", "g", "1", token, "requeue", ""),
            frames("CHORUS1", "EXTEND", "r1", "g", "1", token, "100"),
        ] {
            let error = decodeError(f)
            #expect(error?.error.code == .malformed)
            #expect(error?.requestID == bytes("r1"))
        }
    }

    @Test func uppercaseLeaseTokenIsAccepted() throws {
        let command = try ClientCommand.decode(frames("CHORUS1", "ACK", "", "g", "5", "00000000000000FF")[...])
        #expect(command == .ack(requestID: [], group: "g", leases: [Lease(seq: 5, token: 255)]))
    }

    @Test(arguments: ["", "x1", "-1", "12345678901234567890"])
    func badLeaseSequenceIsMalformed(_ seq: String) {
        #expect(decodeError(frames("CHORUS1", "ACK", "r1", "g", seq, Self.token))?.error.code == .malformed)
    }

    @Test(arguments: ["", "$dlq", "a b", "a/b", String(repeating: "g", count: 65), "é"])
    func badGroupNameIsMalformed(_ group: String) {
        #expect(decodeError(frames("CHORUS1", "UNSUBSCRIBE", "r1", group))?.error.code == .malformed)
        #expect(decodeError(frames("CHORUS1", "SUBSCRIBE", "r1", group, "a", ""))?.error.code == .malformed)
    }

    @Test(arguments: ["", "retry", "delay=", "delay=-1", "delay=1s", "REJECT"])
    func badNackModeIsMalformed(_ mode: String) {
        let error = decodeError(frames("CHORUS1", "NACK", "r1", "g", "1", Self.token, mode, ""))
        #expect(error?.error.code == .malformed)
        #expect(error?.requestID == bytes("r1"))
    }

    @Test func badExtendMillisecondsIsMalformed() {
        #expect(decodeError(frames("CHORUS1", "EXTEND", "r1", "g", "1", Self.token, "10s"))?.error.code == .malformed)
    }

    @Test func publishTopicMustBeUTF8AndShort() {
        let notUTF8 = decodeError([bytes("CHORUS1"), bytes("PUBLISH"), bytes("r1"), [0xC3], [], []])
        #expect(notUTF8?.error.code == .malformed)
        let long = decodeError(frames("CHORUS1", "PUBLISH", "r1", String(repeating: "a", count: 256), "", ""))
        #expect(long?.error.code == .malformed)
    }

    @Test func badPropertiesKeepTheirOwnCode() {
        let error = decodeError(frames("CHORUS1", "HELLO", "r1", "NoEquals"))
        #expect(error?.error.code == .invalidProperty)
        #expect(error?.requestID == bytes("r1"))
    }
}
