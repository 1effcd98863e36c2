import ChorusProtocol

/// One open join as a pure state machine: parts arrive, fail or time out, and the state says when and how the
/// join closes. The broker does all I/O. Every state x input cell is tested in JoinStateTests.
struct JoinState: Equatable {
    enum PartStatus: Equatable {
        case pending
        case ok(seq: UInt64, at: Int64)
        case failed(seq: UInt64, at: Int64, error: String)
        case timedOut(at: Int64)

        var isPending: Bool { self == .pending }
        var isOK: Bool {
            if case .ok = self { return true }
            return false
        }
    }

    /// How a join ended.
    enum Outcome: String, Equatable {
        /// The completion rule was met.
        case complete
        /// Time ran out (overall or for a required part) before the rule was met.
        case partial
        /// A part failed for good and the rule can no longer be met.
        case failed
    }

    enum Decision: Equatable {
        /// Nothing to do yet.
        case wait
        /// The part had already arrived (a redelivered result): record it, change nothing.
        case duplicate
        /// The part had been given up (its own timeout) before this result came: record it as late.
        case late
        /// Close the join now.
        case close(Outcome, reason: String)
    }

    let correlation: String
    let openSeq: UInt64
    let openedAt: Int64
    let deadline: Int64
    /// One status per part, in the definition's order.
    private(set) var parts: [PartStatus]

    init(correlation: String, openSeq: UInt64, openedAt: Int64, deadline: Int64, partCount: Int) {
        self.correlation = correlation
        self.openSeq = openSeq
        self.openedAt = openedAt
        self.deadline = deadline
        parts = Array(repeating: .pending, count: partCount)
    }

    /// A result for part `index`: success, or failure with an error.
    mutating func receive(part index: Int, seq: UInt64, at: Int64, error: String?, definition: JoinDefinition) -> Decision {
        switch parts[index] {
        case .ok, .failed: return .duplicate
        case .timedOut: return .late
        case .pending:
            parts[index] = error.map { .failed(seq: seq, at: at, error: $0) } ?? .ok(seq: seq, at: at)
            return evaluate(definition)
        }
    }

    /// Part `index`'s own timeout fired.
    mutating func partTimedOut(_ index: Int, at: Int64, definition: JoinDefinition) -> Decision {
        guard parts[index].isPending else { return .wait }
        parts[index] = .timedOut(at: at)
        return evaluate(definition)
    }

    /// The overall deadline passed.
    func overallTimeout(definition: JoinDefinition) -> Decision {
        .close(.partial, reason: "timeout after \(deadline - openedAt) ms; missing: \(names(definition) { $0.isPending }.joined(separator: ", "))")
    }

    /// Whether the completion rule is met, can no longer be met, or may still be.
    func evaluate(_ d: JoinDefinition) -> Decision {
        let ok = parts.filter(\.isOK).count
        if let need = d.need {
            if ok >= need { return .close(.complete, reason: "\(ok) of \(parts.count) parts succeeded (need \(need))") }
            let possible = ok + parts.filter(\.isPending).count
            if possible < need {
                let failed = names(d) { if case .failed = $0 { return true } else { return false } }
                return failed.isEmpty
                    ? .close(.partial, reason: "parts timed out: \(names(d) { if case .timedOut = $0 { return true } else { return false } }.joined(separator: ", ")); \(ok) of \(need) needed")
                    : .close(.failed, reason: "parts failed: \(failed.joined(separator: ", ")); \(ok) of \(need) needed")
            }
            return .wait
        }
        var allRequiredOK = true
        for (i, part) in d.parts.enumerated() where part.required {
            switch parts[i] {
            case .failed(_, _, let error): return .close(.failed, reason: "required part \(part.name) failed: \(error)")
            case .timedOut: return .close(.partial, reason: "required part \(part.name) timed out")
            case .pending: allRequiredOK = false
            case .ok: break
            }
        }
        return allRequiredOK ? .close(.complete, reason: "all required parts succeeded") : .wait
    }

    /// The parts that succeeded, as the JSON object of part name to result `seq` kept in the join's row when it
    /// closes (`{"text":12,"image":14}`); nil when none did.
    func okPartsJSON(_ d: JoinDefinition) -> String? {
        var json: [UInt8] = []
        for (part, status) in zip(d.parts, parts) {
            guard case .ok(let seq, _) = status else { continue }
            json.append(json.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONString.append(part.name, to: &json)
            json.append(UInt8(ascii: ":"))
            FrameCoding.appendNumber(seq, to: &json)
        }
        guard !json.isEmpty else { return nil }
        json.append(UInt8(ascii: "}"))
        return String(decoding: json, as: UTF8.self)
    }

    func names(_ d: JoinDefinition, where predicate: (PartStatus) -> Bool) -> [String] {
        zip(d.parts, parts).filter { predicate($0.1) }.map(\.0.name)
    }
}
