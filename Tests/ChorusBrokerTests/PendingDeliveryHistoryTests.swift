@testable import ChorusBroker
import ChorusProtocol
import Testing

@Suite("PendingDelivery: dispatch and history")
struct PendingDeliveryHistoryTests {
    @Test func dispatchStartsTheNextAttempt() {
        var p = PendingDelivery(seq: 9, attempt: 0, phase: .waiting(notBefore: 0))
        #expect(!p.isInFlight)
        #expect(p.token == 0)
        #expect(p.session == nil)
        #expect(p.consumer == nil)
        p.dispatch(session: 4, consumer: "worker-1", token: 77, expires: 900)
        #expect(p.attempt == 1)
        #expect(p.phase == .inFlight(session: 4, token: 77, expires: 900))
        #expect(p.isInFlight)
        #expect(p.token == 77)
        #expect(p.session == 4)
        #expect(p.consumer == "worker-1")
        #expect(p.seq == 9)
    }

    @Test func historyAccumulatesOneLinePerFailedAttempt() {
        var p = PendingDelivery(seq: 9, attempt: 0, phase: .waiting(notBefore: 0))
        p.dispatch(session: 1, consumer: "a", token: 11, expires: 100)
        #expect(p.handle(.nack(token: 11, mode: .requeue, reason: "busy", now: 50), maxAttempts: 4) == .retry(notBefore: 50))
        p.dispatch(session: 2, consumer: "b", token: 22, expires: 200)
        #expect(p.handle(.ack(token: 11), maxAttempts: 4) == .stale)  // the first attempt's lease is dead
        #expect(p.handle(.leaseExpired(token: 11, now: 300), maxAttempts: 4) == PendingDelivery.Action.none)
        #expect(p.handle(.leaseExpired(token: 22, now: 200), maxAttempts: 4) == .retry(notBefore: 200))
        p.dispatch(session: 3, consumer: nil, token: 33, expires: 400)
        #expect(p.handle(.released(reason: "missed heartbeats", now: 250), maxAttempts: 4) == .retry(notBefore: 250))
        p.dispatch(session: 4, consumer: "d", token: 44, expires: 500)
        #expect(
            p.handle(.nack(token: 44, mode: .delay(milliseconds: 10), reason: "again", now: 260), maxAttempts: 4)
                == .deadLetter(reason: "max attempts (4) reached; last: nacked: again"))
        #expect(p.attempt == 4)
        #expect(
            p.history
                == """
                1\t50\ta\tnacked\tbusy
                2\t200\tb\ttimeout\tno ack within the lease
                3\t250\t\treleased\tmissed heartbeats
                4\t260\td\tnacked\tagain
                """)
    }

    @Test func historyKeepsEarlierLinesFromTheStore() {
        var p = Fixture.inFlight(attempt: 2, history: "1\t10\tc0\ttimeout\tno ack within the lease")
        _ = p.handle(.released(reason: "bye", now: 20), maxAttempts: 5)
        #expect(p.history == "1\t10\tc0\ttimeout\tno ack within the lease\n2\t20\tc1\treleased\tbye")
    }

    @Test func reasonsCannotBreakTheHistoryFormat() {
        var p = Fixture.inFlight()
        _ = p.handle(.nack(token: Fixture.token, mode: .requeue, reason: "line1\nline2\tcol", now: 5), maxAttempts: 5)
        #expect(p.history == "1\t5\tc1\tnacked\tline1 line2 col")
        #expect(p.history.split(separator: "\n").count == 1)
        #expect(p.history.split(separator: "\t").count == 5)
    }

    @Test func successfulInputsAddNoHistory() {
        var p = Fixture.inFlight()
        _ = p.handle(.extend(token: Fixture.token, milliseconds: 10, now: 5), maxAttempts: 5)
        _ = p.handle(.ack(token: Fixture.wrong), maxAttempts: 5)
        _ = p.handle(.leaseExpired(token: Fixture.wrong, now: 99_999), maxAttempts: 5)
        _ = p.handle(.ack(token: Fixture.token), maxAttempts: 5)
        #expect(p.history == "")
    }
}
