/// What became of one event of a PUBLISHMANY: one line of its CONFIRMMANY (docs/PROTOCOL.md, section 7.15).
///
/// Lines, not frames, so that a thousand answers cost one frame, and so that any client can read them with a
/// string split: `new SEQ`, `duplicate SEQ`, or `error NUMBER NAME message`.
public enum PublishOutcome: Equatable, Sendable {
    /// Committed now with this sequence number.
    case new(seq: UInt64)
    /// Dropped: its idempotency key was used within the window by the event with this sequence number.
    case duplicate(seq: UInt64)
    /// Refused, exactly as a PUBLISH of this event alone would have been; nothing was stored.
    case refused(ProtocolError)

    /// The sequence number the event has in the log (its first publish's, for a duplicate); nil if refused.
    public var seq: UInt64? {
        switch self {
        case .new(let seq), .duplicate(let seq): seq
        case .refused: nil
        }
    }

    /// The lines of a CONFIRMMANY frame, `\n` between them (a message's own line breaks become spaces).
    public static func encode(_ outcomes: [PublishOutcome]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(outcomes.count * 12)
        for (index, outcome) in outcomes.enumerated() {
            if index > 0 { out.append(0x0A) }
            switch outcome {
            case .new(let seq):
                out.append(contentsOf: "new ".utf8)
                out.append(contentsOf: FrameCoding.number(seq))
            case .duplicate(let seq):
                out.append(contentsOf: "duplicate ".utf8)
                out.append(contentsOf: FrameCoding.number(seq))
            case .refused(let error):
                out.append(contentsOf: "error \(error.code.number) \(error.code.name) ".utf8)
                out.append(contentsOf: error.message.utf8.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
            }
        }
        return out
    }

    /// Parses a CONFIRMMANY frame.
    public static func decode(_ frame: [UInt8]) throws(ProtocolError) -> [PublishOutcome] {
        guard let text = String(validating: frame, as: UTF8.self) else {
            throw ProtocolError(.malformed, "CONFIRMMANY results are not valid UTF-8")
        }
        var outcomes: [PublishOutcome] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let parts = line.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
            switch parts.first {
            case "new" where parts.count == 2:
                guard let seq = UInt64(parts[1]) else { throw bad(line) }
                outcomes.append(.new(seq: seq))
            case "duplicate" where parts.count == 2:
                guard let seq = UInt64(parts[1]) else { throw bad(line) }
                outcomes.append(.duplicate(seq: seq))
            case "error" where parts.count >= 3:
                guard let number = Int(parts[1]) else { throw bad(line) }
                let message = parts.count > 3 ? String(parts[3]) : ""
                outcomes.append(.refused(ProtocolError(ErrorCode(number, String(parts[2])), message)))
            default:
                throw bad(line)
            }
        }
        return outcomes
    }

    private static func bad(_ line: Substring) -> ProtocolError {
        ProtocolError(.malformed, "CONFIRMMANY line '\(line.prefix(64))' is not 'new SEQ', 'duplicate SEQ' or 'error NUMBER NAME message'")
    }
}
