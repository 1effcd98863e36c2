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
                out.append(contentsOf: newWord)
                FrameCoding.appendNumber(seq, to: &out)
            case .duplicate(let seq):
                out.append(contentsOf: duplicateWord)
                FrameCoding.appendNumber(seq, to: &out)
            case .refused(let error):
                out.append(contentsOf: "error \(error.code.number) \(error.code.name) ".utf8)
                out.append(contentsOf: error.message.utf8.map { $0 == 0x0A || $0 == 0x0D ? 0x20 : $0 })
            }
        }
        return out
    }

    /// Parses a CONFIRMMANY frame. Byte by byte: a publisher reads a thousand lines per message, and splitting
    /// strings cost it more than the broker spent on the events.
    public static func decode(_ frame: [UInt8]) throws(ProtocolError) -> [PublishOutcome] {
        var outcomes: [PublishOutcome] = []
        var start = 0
        while start <= frame.count {
            var end = start
            while end < frame.count && frame[end] != 0x0A { end += 1 }
            outcomes.append(try line(frame[start..<end]))
            start = end + 1
        }
        return outcomes
    }

    private static let newWord = Array("new ".utf8)
    private static let duplicateWord = Array("duplicate ".utf8)
    private static let errorWord = Array("error ".utf8)

    private static func line(_ bytes: ArraySlice<UInt8>) throws(ProtocolError) -> PublishOutcome {
        if bytes.starts(with: newWord), let seq = number(bytes.dropFirst(newWord.count)) { return .new(seq: seq) }
        if bytes.starts(with: duplicateWord), let seq = number(bytes.dropFirst(duplicateWord.count)) { return .duplicate(seq: seq) }
        if bytes.starts(with: errorWord) {
            let rest = bytes.dropFirst(errorWord.count)
            guard let space = rest.firstIndex(of: 0x20), let code = number(rest[..<space]), code <= 999 else { throw bad(bytes) }
            let afterCode = rest[(space + 1)...]
            let nameEnd = afterCode.firstIndex(of: 0x20) ?? afterCode.endIndex
            let name = afterCode[..<nameEnd]
            guard !name.isEmpty, let nameText = String(validating: name, as: UTF8.self) else { throw bad(bytes) }
            let message = nameEnd < afterCode.endIndex ? afterCode[(nameEnd + 1)...] : []
            guard let messageText = String(validating: message, as: UTF8.self) else { throw bad(bytes) }
            return .refused(ProtocolError(ErrorCode(Int(code), nameText), messageText))
        }
        throw bad(bytes)
    }

    /// 1 to 20 ASCII digits that fit in 64 bits, and nothing else.
    private static func number(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for d in digits {
            guard d >= 0x30 && d <= 0x39 else { return nil }
            let (times10, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(d - 0x30))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }

    private static func bad(_ line: ArraySlice<UInt8>) -> ProtocolError {
        ProtocolError(
            .malformed,
            "CONFIRMMANY line '\(String(decoding: line.prefix(64), as: UTF8.self))' is not 'new SEQ', 'duplicate SEQ' or 'error NUMBER NAME message'")
    }
}
