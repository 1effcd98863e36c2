@testable import ChorusBroker
import ChorusProtocol
import Testing

/// JoinState cell by cell: each part status x each input, for the all-required rule and for k of n.
@Suite struct JoinStateTests {
    static func definition(need: Int? = nil, optional: Set<String> = []) throws -> JoinDefinition {
        JoinDefinition(
            name: "media", open: try TopicPatternSet(texts: ["req"]), emit: "merged",
            parts: try ["text", "image", "audio"].map {
                JoinDefinition.Part(name: $0, pattern: try TopicPattern("res.\($0)"), required: !optional.contains($0), timeoutMilliseconds: nil, group: nil)
            },
            need: need, timeoutMilliseconds: 1000, onTimeout: .partial, maxOpen: 10)
    }

    static func state() -> JoinState { JoinState(correlation: "c", openSeq: 1, openedAt: 100, deadline: 1100, partCount: 3) }

    @Test func pendingPartArrivingOKWaitsUntilTheLastRequiredOne() throws {
        let d = try Self.definition()
        var s = Self.state()
        #expect(s.receive(part: 0, seq: 2, at: 110, error: nil, definition: d) == .wait)
        #expect(s.receive(part: 1, seq: 3, at: 120, error: nil, definition: d) == .wait)
        #expect(s.receive(part: 2, seq: 4, at: 130, error: nil, definition: d) == .close(.complete, reason: "all required parts succeeded"))
    }

    @Test func anOptionalPartDoesNotHoldTheJoin() throws {
        let d = try Self.definition(optional: ["audio"])
        var s = Self.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: nil, definition: d)
        #expect(s.receive(part: 1, seq: 3, at: 120, error: nil, definition: d) == .close(.complete, reason: "all required parts succeeded"))
    }

    @Test func aRequiredPartFailingClosesAsFailedAtOnce() throws {
        let d = try Self.definition()
        var s = Self.state()
        guard case .close(.failed, let reason) = s.receive(part: 1, seq: 3, at: 120, error: "boom", definition: d) else {
            Issue.record("expected a failed close")
            return
        }
        #expect(reason.contains("image") && reason.contains("boom"))
    }

    @Test func anOptionalPartFailingDoesNotClose() throws {
        let d = try Self.definition(optional: ["audio"])
        var s = Self.state()
        #expect(s.receive(part: 2, seq: 4, at: 120, error: "boom", definition: d) == .wait)
    }

    @Test(arguments: [nil, "an error"] as [String?])
    func aPartThatAlreadyArrivedIsADuplicate(_ error: String?) throws {
        let d = try Self.definition(optional: ["text", "image", "audio"]).with(need: 3)
        var s = Self.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: error, definition: d)
        #expect(s.receive(part: 0, seq: 9, at: 150, error: nil, definition: d) == .duplicate)
        #expect(s.parts[0] == (error == nil ? .ok(seq: 2, at: 110) : .failed(seq: 2, at: 110, error: error!)))
    }

    @Test func aPartAfterItsOwnTimeoutIsLate() throws {
        let d = try Self.definition(optional: ["audio"])
        var s = Self.state()
        #expect(s.partTimedOut(2, at: 500, definition: d) == .wait)
        #expect(s.receive(part: 2, seq: 5, at: 600, error: nil, definition: d) == .late)
        #expect(s.parts[2] == .timedOut(at: 500))
    }

    @Test func aRequiredPartTimingOutClosesAsPartial() throws {
        let d = try Self.definition()
        var s = Self.state()
        #expect(s.partTimedOut(0, at: 500, definition: d) == .close(.partial, reason: "required part text timed out"))
    }

    @Test func aPartTimeoutAfterThePartArrivedChangesNothing() throws {
        let d = try Self.definition()
        var s = Self.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: nil, definition: d)
        #expect(s.partTimedOut(0, at: 500, definition: d) == .wait)
        #expect(s.parts[0] == .ok(seq: 2, at: 110))
    }

    @Test func theOverallTimeoutNamesTheMissingParts() throws {
        let d = try Self.definition()
        var s = Self.state()
        _ = s.receive(part: 1, seq: 3, at: 120, error: nil, definition: d)
        guard case .close(.partial, let reason) = s.overallTimeout(definition: d) else {
            Issue.record("expected a partial close")
            return
        }
        #expect(reason.contains("text, audio"))
    }

    @Test func kOfNCompletesAtKAndFailsWhenKCanNoLongerBeReached() throws {
        let d = try Self.definition(optional: ["text", "image", "audio"]).with(need: 2)
        var s = Self.state()
        #expect(s.receive(part: 0, seq: 2, at: 110, error: nil, definition: d) == .wait)
        #expect(s.receive(part: 1, seq: 3, at: 120, error: nil, definition: d) == .close(.complete, reason: "2 of 3 parts succeeded (need 2)"))
        var f = Self.state()
        #expect(f.receive(part: 0, seq: 2, at: 110, error: "x", definition: d) == .wait)
        guard case .close(.failed, _) = f.receive(part: 1, seq: 3, at: 120, error: "y", definition: d) else {
            Issue.record("two failures of three leave k = 2 out of reach")
            return
        }
        var t = Self.state()
        _ = t.partTimedOut(0, at: 200, definition: d)
        guard case .close(.partial, _) = t.partTimedOut(1, at: 200, definition: d) else {
            Issue.record("two timeouts of three leave k = 2 out of reach: partial")
            return
        }
    }
}

extension JoinDefinition {
    func with(need: Int) -> JoinDefinition {
        var d = self
        d.need = need
        return d
    }
}
