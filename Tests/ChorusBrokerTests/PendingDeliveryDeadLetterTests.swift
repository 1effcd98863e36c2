@testable import ChorusBroker
import ChorusProtocol
import Testing

/// A failed attempt dead-letters when it was the last one allowed.
@Suite("PendingDelivery: max attempts")
struct PendingDeliveryDeadLetterTests {
    typealias Input = PendingDelivery.Input
    static let token = Fixture.token

    struct Failure: Sendable, CustomTestStringConvertible {
        let input: Input
        let outcome: String
        let reason: String
        var testDescription: String { outcome }
    }

    static let failures: [Failure] = [
        Failure(input: .nack(token: token, mode: .requeue, reason: "busy", now: 3000), outcome: "nacked", reason: "busy"),
        Failure(input: .nack(token: token, mode: .delay(milliseconds: 50), reason: "slow", now: 3000), outcome: "nacked", reason: "slow"),
        Failure(input: .leaseExpired(token: token, now: 3000), outcome: "timeout", reason: "no ack within the lease"),
        Failure(input: .released(reason: "disconnected", now: 3000), outcome: "released", reason: "disconnected"),
    ]

    @Test(arguments: failures)
    func lastAttemptDeadLetters(_ f: Failure) {
        var p = Fixture.inFlight(attempt: 3)
        #expect(p.handle(f.input, maxAttempts: 3) == .deadLetter(reason: "max attempts (3) reached; last: \(f.outcome): \(f.reason)"))
        #expect(p.attempt == 3)
        #expect(!p.isInFlight)
        #expect(p.history == "3\t3000\tc1\t\(f.outcome)\t\(f.reason)")
    }

    @Test(arguments: failures)
    func beyondMaxAttemptsDeadLetters(_ f: Failure) {
        // maxAttempts lowered in config after the delivery was made.
        var p = Fixture.inFlight(attempt: 4)
        #expect(p.handle(f.input, maxAttempts: 2) == .deadLetter(reason: "max attempts (2) reached; last: \(f.outcome): \(f.reason)"))
    }

    @Test(arguments: failures)
    func attemptBeforeTheLastRetries(_ f: Failure) {
        var p = Fixture.inFlight(attempt: 2)
        guard case .retry = p.handle(f.input, maxAttempts: 3) else {
            Issue.record("expected a retry")
            return
        }
        #expect(p.attempt == 2)
    }

    @Test func maxAttemptsOneDeadLettersOnFirstFailure() {
        var p = Fixture.inFlight(attempt: 1)
        #expect(
            p.handle(.released(reason: "x", now: 1), maxAttempts: 1) == .deadLetter(reason: "max attempts (1) reached; last: released: x"))
    }

    @Test func ackOnLastAttemptStillSettles() {
        var p = Fixture.inFlight(attempt: 3)
        #expect(p.handle(.ack(token: Self.token), maxAttempts: 3) == .settle)
    }
}
