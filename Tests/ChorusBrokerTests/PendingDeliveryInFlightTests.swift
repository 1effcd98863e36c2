@testable import ChorusBroker
import ChorusProtocol
import Testing

/// Every input on an in-flight delivery (attempt 1 of 5, token A1A1, session 3, consumer c1, lease until 2000).
@Suite("PendingDelivery: in flight")
struct PendingDeliveryInFlightTests {
    typealias Input = PendingDelivery.Input
    static let token = Fixture.token
    static let wrong = Fixture.wrong

    @Test func ackWithCurrentTokenSettles() {
        var p = Fixture.inFlight()
        #expect(p.handle(.ack(token: Self.token), maxAttempts: 5) == .settle)
        #expect(p == Fixture.inFlight())
    }

    /// Inputs that quote another attempt's token are refused and change nothing.
    static let staleInputs: [Input] = [
        .ack(token: wrong),
        .ack(token: 0),
        .nack(token: wrong, mode: .requeue, reason: "r", now: 1000),
        .nack(token: wrong, mode: .delay(milliseconds: 100), reason: "r", now: 1000),
        .nack(token: wrong, mode: .reject, reason: "r", now: 1000),
        .extend(token: wrong, milliseconds: 5000, now: 1000),
    ]

    @Test(arguments: staleInputs)
    func wrongTokenIsStaleAndChangesNothing(_ input: Input) {
        var p = Fixture.inFlight()
        #expect(p.handle(input, maxAttempts: 5) == .stale)
        #expect(p == Fixture.inFlight())
    }

    /// Timers for another attempt, or fired before the current lease ends, do nothing.
    static let ignoredTimers: [Input] = [
        .leaseExpired(token: token, now: 0),
        .leaseExpired(token: token, now: Fixture.expires - 1),
        .leaseExpired(token: wrong, now: Fixture.expires),
        .leaseExpired(token: wrong, now: Fixture.expires + 10_000),
    ]

    @Test(arguments: ignoredTimers)
    func timerThatIsNotCurrentOrNotDueDoesNothing(_ input: Input) {
        var p = Fixture.inFlight()
        #expect(p.handle(input, maxAttempts: 5) == PendingDelivery.Action.none)
        #expect(p == Fixture.inFlight())
    }

    @Test func nackRequeueRetriesNow() {
        var p = Fixture.inFlight()
        #expect(p.handle(.nack(token: Self.token, mode: .requeue, reason: "busy", now: 1000), maxAttempts: 5) == .retry(notBefore: 1000))
        #expect(p.phase == .waiting(notBefore: 1000))
        #expect(p.attempt == 1)
        #expect(p.history == "1\t1000\tc1\tnacked\tbusy")
        #expect(!p.isInFlight)
        #expect(p.token == 0)
        #expect(p.session == nil)
        #expect(p.consumer == "c1")
    }

    @Test func nackDelayRetriesAfterTheDelay() {
        var p = Fixture.inFlight()
        let action = p.handle(.nack(token: Self.token, mode: .delay(milliseconds: 250), reason: "later", now: 1000), maxAttempts: 5)
        #expect(action == .retry(notBefore: 1250))
        #expect(p.phase == .waiting(notBefore: 1250))
        #expect(p.attempt == 1)
        #expect(p.history == "1\t1000\tc1\tnacked\tlater")
    }

    @Test func nackRejectDeadLettersAtOnce() {
        var p = Fixture.inFlight()
        let action = p.handle(.nack(token: Self.token, mode: .reject, reason: "bad input", now: 1000), maxAttempts: 5)
        #expect(action == .deadLetter(reason: "rejected: bad input"))
        #expect(p.attempt == 1)
        #expect(p.history == "1\t1000\tc1\trejected\tbad input")
    }

    @Test func nackRejectDeadLettersEvenWithAttemptsLeft() {
        var p = Fixture.inFlight(attempt: 1)
        let action = p.handle(.nack(token: Self.token, mode: .reject, reason: "no", now: 1000), maxAttempts: 1000)
        #expect(action == .deadLetter(reason: "rejected: no"))
    }

    @Test func extendWithCurrentTokenMovesTheLease() {
        var p = Fixture.inFlight()
        #expect(p.handle(.extend(token: Self.token, milliseconds: 5000, now: 1500), maxAttempts: 5) == .extended(until: 6500))
        #expect(p.phase == .inFlight(session: Fixture.session, token: Self.token, expires: 6500))
        #expect(p.attempt == 1)
        #expect(p.history == "")
    }

    @Test func extendCanShortenTheLease() {
        var p = Fixture.inFlight()
        #expect(p.handle(.extend(token: Self.token, milliseconds: 0, now: 1500), maxAttempts: 5) == .extended(until: 1500))
        #expect(p.phase == .inFlight(session: Fixture.session, token: Self.token, expires: 1500))
    }

    @Test(arguments: [Fixture.expires, Fixture.expires + 1, Fixture.expires + 60_000])
    func leaseExpiredForCurrentTokenAtOrAfterExpiryRetries(_ now: Int64) {
        var p = Fixture.inFlight()
        #expect(p.handle(.leaseExpired(token: Self.token, now: now), maxAttempts: 5) == .retry(notBefore: now))
        #expect(p.phase == .waiting(notBefore: now))
        #expect(p.attempt == 1)
        #expect(p.history == "1\t\(now)\tc1\ttimeout\tno ack within the lease")
    }

    @Test func oldTimerAfterExtendIsIgnoredAndNewOneCounts() {
        var p = Fixture.inFlight()
        _ = p.handle(.extend(token: Self.token, milliseconds: 3000, now: 1000), maxAttempts: 5)  // until 4000
        #expect(p.handle(.leaseExpired(token: Self.token, now: Fixture.expires), maxAttempts: 5) == PendingDelivery.Action.none)
        #expect(p.phase == .inFlight(session: Fixture.session, token: Self.token, expires: 4000))
        #expect(p.handle(.leaseExpired(token: Self.token, now: 4000), maxAttempts: 5) == .retry(notBefore: 4000))
    }

    @Test func releasedRetriesNow() {
        var p = Fixture.inFlight()
        #expect(p.handle(.released(reason: "session closed", now: 1200), maxAttempts: 5) == .retry(notBefore: 1200))
        #expect(p.phase == .waiting(notBefore: 1200))
        #expect(p.attempt == 1)
        #expect(p.history == "1\t1200\tc1\treleased\tsession closed")
    }

    @Test func releasedBeforeLeaseExpiryStillRetries() {
        var p = Fixture.inFlight()
        #expect(p.handle(.released(reason: "bye", now: 0), maxAttempts: 5) == .retry(notBefore: 0))
    }
}
