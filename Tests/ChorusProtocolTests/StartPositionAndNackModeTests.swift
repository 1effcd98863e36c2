import ChorusProtocol
import Testing

@Suite("StartPosition and NackMode text")
struct StartPositionAndNackModeTests {
    @Test(arguments: [("first", StartPosition.first), ("new", .new), ("", .new), ("seq:0", .sequence(0)), ("seq:42", .sequence(42)),
                          ("seq:9223372036854775807", .sequence(9_223_372_036_854_775_807))])
    func parsesStartPositions(_ text: String, _ expected: StartPosition) throws {
        #expect(try StartPosition(text) == expected)
    }

    /// Above 2^63 - 1 (the largest SQLite integer, so the largest sequence number) is refused: the broker trapped
    /// writing such a cursor to the log.
    @Test(arguments: ["last", "seq:", "seq:-1", "seq:x", "SEQ:1", "First", "seq:9223372036854775808", "seq:18446744073709551615"])
    func rejectsBadStartPositions(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try StartPosition(text) }
        #expect(error?.code == .invalidStart)
    }

    @Test(arguments: [StartPosition.first, .new, .sequence(7)])
    func startPositionDescriptionRoundTrips(_ position: StartPosition) throws {
        #expect(try StartPosition(position.description) == position)
    }

    @Test(arguments: [("requeue", NackMode.requeue), ("reject", .reject), ("delay=0", .delay(milliseconds: 0)), ("delay=1500", .delay(milliseconds: 1500))])
    func parsesNackModes(_ text: String, _ expected: NackMode) throws {
        #expect(try NackMode(text) == expected)
        #expect(expected.description == text)
    }

    @Test(arguments: ["", "delay", "delay=", "delay=x", "delay=-5", "Requeue"])
    func rejectsBadNackModes(_ text: String) {
        let error = #expect(throws: ProtocolError.self) { try NackMode(text) }
        #expect(error?.code == .malformed)
    }
}
