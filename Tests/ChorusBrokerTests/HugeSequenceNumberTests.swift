@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

/// Sequence numbers from a client reach the log as SQLite integers (signed 64-bit). Above 2^63 - 1 one AWAIT or
/// SUBSCRIBE trapped the broker (`Int64(seq)`): the decoders now refuse them, and the largest allowed is served.
/// Inside one broker, driven by hand; a trap would end this test process.
@Suite("Sequence numbers past what the log holds are refused, not fatal")
struct HugeSequenceNumberTests {
    static let client: [UInt8] = [0, 0xC0, 0, 0, 9]

    static func errors(_ broker: Broker) throws -> [(code: ErrorCode, message: String)] {
        try replies(broker, to: client).compactMap { message in
            if case .error(_, let code, let text) = message { return (code, text) }
            return nil
        }
    }

    static func send(_ broker: Broker, _ frames: [String]) {
        broker.handle([client] + frames.map { Array($0.utf8) })
    }

    @Test func anAwaitPastTheLargestSequenceNumberIsMalformed() throws {
        let (broker, directory) = try makeTestBroker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for pattern in ["@reply", "a.>"] {
            Self.send(broker, ["CHORUS1", "AWAIT", "w", "c", pattern, "9223372036854775808", "1000"])
        }
        #expect(try Self.errors(broker).map(\.code) == [.malformed, .malformed])
        try broker.flush()
    }

    @Test func anAwaitAtTheLargestSequenceNumberFindsNothingAndWaits() throws {
        let (broker, directory) = try makeTestBroker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        Self.send(broker, ["CHORUS1", "AWAIT", "w", "c", "@reply", "9223372036854775807", "1000"])
        Self.send(broker, ["CHORUS1", "AWAIT", "v", "c", "a.>", "9223372036854775807", "1000"])
        #expect(try Self.errors(broker).map(\.code) == [.notFound], "@reply: no such event; the other waits")
        try broker.flush()
    }

    @Test func aSubscriptionPastTheLargestSequenceNumberIsRefusedAndTheLargestIsKept() throws {
        let (broker, directory) = try makeTestBroker()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        Self.send(broker, ["CHORUS1", "SUBSCRIBE", "s1", "g1", "a.>", "start=seq:18446744073709551615\ncredit=1"])
        Self.send(broker, ["CHORUS1", "SUBSCRIBE", "s2", "g2", "a.>", "start=seq:9223372036854775807\ncredit=1"])
        let errors = try Self.errors(broker)
        try broker.flush()  // the new group's cursor is written to the log here
        #expect(errors.map(\.code) == [.invalidStart])
        #expect(broker.groups["g1"] == nil)
        #expect(broker.groups["g2"]?.cursor == 9_223_372_036_854_775_807)
    }
}
