import Foundation
import ChorusProtocol

/// One event a group has taken from the log and not yet settled, as a pure state machine.
///
/// States: `inFlight` (a consumer holds a lease) and `waiting` (to be delivered again, not before a time).
/// Inputs come from consumers (ack, nack, extend), from timers (lease expiry) and from sessions going away.
/// `handle` changes the state and returns what the broker must do; the broker does all I/O. Every state x input
/// cell is tested in PendingDeliveryTests.
struct PendingDelivery: Equatable {
    enum Phase: Equatable {
        case inFlight(session: Int, token: UInt64, expires: Int64)
        case waiting(notBefore: Int64)
    }

    enum Input: Equatable {
        case ack(token: UInt64)
        case nack(token: UInt64, mode: NackMode, reason: String, now: Int64)
        case extend(token: UInt64, milliseconds: Int64, now: Int64)
        /// The lease timer fired for `token`.
        case leaseExpired(token: UInt64, now: Int64)
        /// The holding session is gone (disconnect, missed heartbeats, unsubscribe, BYE).
        case released(reason: String, now: Int64)
    }

    enum Action: Equatable {
        /// Delete the pending entry: the event is done for this group.
        case settle
        /// The input quoted a token that is not the current attempt's: refuse it.
        case stale
        /// Deliver again at or after this time.
        case retry(notBefore: Int64)
        /// Attempts are used up (or the consumer rejected it): dead-letter with this reason.
        case deadLetter(reason: String)
        /// The lease now ends at this time.
        case extended(until: Int64)
        /// Nothing changes (a timer for an attempt that is already over).
        case none
    }

    let seq: UInt64
    /// Attempts made, counting the one in flight.
    private(set) var attempt: Int
    private(set) var phase: Phase
    /// One line per failed attempt (tab-separated attempt, time, consumer, outcome, reason).
    private(set) var history: String
    /// The consumer name of the current or last attempt.
    private(set) var consumer: String?

    init(seq: UInt64, attempt: Int, phase: Phase, history: String = "", consumer: String? = nil) {
        self.seq = seq
        self.attempt = attempt
        self.phase = phase
        self.history = history
        self.consumer = consumer
    }

    /// Starts the next attempt: the caller has checked that the entry is waiting and due.
    mutating func dispatch(session: Int, consumer: String?, token: UInt64, expires: Int64) {
        precondition(!isInFlight, "dispatching a delivery that is already in flight")
        attempt += 1
        phase = .inFlight(session: session, token: token, expires: expires)
        self.consumer = consumer
    }

    /// Attempt 1, in flight, nothing failed yet: such a delivery has no pending row; the log knows it through its
    /// group's list of first deliveries in flight (`groups.in_flight`), which is cheaper to keep than a row per
    /// delivered event.
    var isUnfailedFirstDelivery: Bool { attempt == 1 && history.isEmpty && isInFlight }

    var isInFlight: Bool {
        if case .inFlight = phase { return true }
        return false
    }

    var token: UInt64 {
        if case .inFlight(_, let token, _) = phase { return token }
        return 0
    }

    var session: Int? {
        if case .inFlight(let session, _, _) = phase { return session }
        return nil
    }

    mutating func handle(_ input: Input, maxAttempts: Int) -> Action {
        switch (phase, input) {
        case (.inFlight(_, let current, _), .ack(let token)):
            return token == current ? .settle : .stale
        case (.waiting, .ack):
            return .stale

        case (.inFlight(_, let current, _), .nack(let token, let mode, let reason, let now)):
            guard token == current else { return .stale }
            switch mode {
            case .reject:
                record(now, "rejected", reason)
                return .deadLetter(reason: "rejected: \(reason)")
            case .requeue:
                return fail(now, "nacked", reason, notBefore: now, maxAttempts: maxAttempts)
            case .delay(let ms):
                return fail(now, "nacked", reason, notBefore: Self.add(now, Int64(clamping: ms)), maxAttempts: maxAttempts)
            }
        case (.waiting, .nack):
            return .stale

        case (.inFlight(let session, let current, _), .extend(let token, let ms, let now)):
            guard token == current else { return .stale }
            let until = Self.add(now, ms)
            phase = .inFlight(session: session, token: current, expires: until)
            return .extended(until: until)
        case (.waiting, .extend):
            return .stale

        case (.inFlight(_, let current, let expires), .leaseExpired(let token, let now)):
            // An extended lease leaves its old timer behind: only the current expiry counts.
            guard token == current, now >= expires else { return .none }
            return fail(now, "timeout", "no ack within the lease", notBefore: now, maxAttempts: maxAttempts)
        case (.waiting, .leaseExpired):
            return .none

        case (.inFlight, .released(let reason, let now)):
            return fail(now, "released", reason, notBefore: now, maxAttempts: maxAttempts)
        case (.waiting, .released):
            return .none
        }
    }

    private mutating func fail(_ now: Int64, _ outcome: String, _ reason: String, notBefore: Int64, maxAttempts: Int) -> Action {
        record(now, outcome, reason)
        phase = .waiting(notBefore: notBefore)
        if attempt >= maxAttempts {
            return .deadLetter(reason: "max attempts (\(maxAttempts)) reached; last: \(outcome): \(reason)")
        }
        return .retry(notBefore: notBefore)
    }

    /// Time arithmetic that saturates instead of trapping: a client's huge delay must not crash the broker.
    static func add(_ a: Int64, _ b: Int64) -> Int64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? (b > 0 ? .max : .min) : sum
    }

    private mutating func record(_ now: Int64, _ outcome: String, _ reason: String) {
        let clean = reason.replacingOccurrences(of: "\n", with: " ").replacingOccurrences(of: "\t", with: " ")
        let who = (consumer ?? "").replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ")
        let line = "\(attempt)\t\(now)\t\(who)\t\(outcome)\t\(clean)"
        history = history.isEmpty ? line : history + "\n" + line
    }
}
