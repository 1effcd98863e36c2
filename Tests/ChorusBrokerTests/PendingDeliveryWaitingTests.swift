@testable import ChorusBroker
import ChorusProtocol
import Testing

/// Every input on a waiting delivery: nothing a consumer says can touch it, and no timer or release changes it.
@Suite("PendingDelivery: waiting")
struct PendingDeliveryWaitingTests {
    typealias Input = PendingDelivery.Input
    static let token = Fixture.token
    static let wrong = Fixture.wrong

    static let consumerInputs: [Input] = [
        .ack(token: token),
        .ack(token: wrong),
        .ack(token: 0),
        .nack(token: token, mode: .requeue, reason: "r", now: 1000),
        .nack(token: wrong, mode: .requeue, reason: "r", now: 1000),
        .nack(token: token, mode: .delay(milliseconds: 10), reason: "r", now: 1000),
        .nack(token: wrong, mode: .delay(milliseconds: 10), reason: "r", now: 1000),
        .nack(token: token, mode: .reject, reason: "r", now: 1000),
        .nack(token: wrong, mode: .reject, reason: "r", now: 1000),
        .nack(token: 0, mode: .reject, reason: "r", now: 1000),
        .extend(token: token, milliseconds: 1000, now: 1000),
        .extend(token: wrong, milliseconds: 1000, now: 1000),
        .extend(token: 0, milliseconds: 1000, now: 1000),
    ]

    @Test(arguments: consumerInputs)
    func consumerInputsAreStale(_ input: Input) {
        var p = Fixture.waiting()
        #expect(p.handle(input, maxAttempts: 5) == .stale)
        #expect(p == Fixture.waiting())
    }

    static let otherInputs: [Input] = [
        .leaseExpired(token: token, now: 100),
        .leaseExpired(token: token, now: 10_000),
        .leaseExpired(token: wrong, now: 10_000),
        .leaseExpired(token: 0, now: 10_000),
        .released(reason: "gone", now: 1000),
    ]

    @Test(arguments: otherInputs)
    func timersAndReleaseDoNothing(_ input: Input) {
        var p = Fixture.waiting()
        #expect(p.handle(input, maxAttempts: 5) == PendingDelivery.Action.none)
        #expect(p == Fixture.waiting())
    }

    @Test func waitingWithAttemptsUsedUpStillDoesNothingOnRelease() {
        var p = Fixture.waiting(attempt: 5)
        #expect(p.handle(.released(reason: "gone", now: 1000), maxAttempts: 5) == PendingDelivery.Action.none)
        #expect(p.handle(.leaseExpired(token: Self.token, now: 9000), maxAttempts: 5) == PendingDelivery.Action.none)
    }
}
