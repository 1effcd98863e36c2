@testable import ChorusBroker
import Testing

/// A member's byte account, cell by cell: what `hold`, `drop` and `dropAll` do to it, and when it has credit.
@Suite struct SubscriptionBytesTests {
    /// Runs `body` with a member of a session kept alive for it (a member holds its session unowned).
    static func withMember(credit: Int = 10, maxBytes: Int = 1000, _ body: (Subscription) -> Void) {
        let session = Session(number: 1, routingID: [1], now: 0)
        withExtendedLifetime(session) {
            body(Subscription(session: session, groupID: 1, credit: credit, maxInFlightBytes: maxBytes))
        }
    }

    @Test func holdingAddsItsBytesAndDroppingTakesThemAway() {
        Self.withMember { m in
            m.hold(1, bytes: 300)
            m.hold(2, bytes: 200)
            #expect(m.inFlightBytes == 500 && m.inFlight.count == 2)
            m.drop(1)
            #expect(m.inFlightBytes == 200 && m.inFlight.count == 1)
            m.drop(1)  // not held any more: nothing changes
            #expect(m.inFlightBytes == 200)
            m.drop(99)  // never held
            #expect(m.inFlightBytes == 200)
            m.dropAll()
            #expect(m.inFlightBytes == 0 && m.inFlight.isEmpty)
        }
    }

    @Test func holdingTheSameDeliveryAgainCountsItOnce() {
        Self.withMember { m in
            m.hold(7, bytes: 300)
            m.hold(7, bytes: 300)
            #expect(m.inFlightBytes == 300 && m.inFlight.count == 1)
            m.drop(7)
            #expect(m.inFlightBytes == 0)
        }
    }

    @Test func creditEndsAtTheByteLimit() {
        Self.withMember(maxBytes: 1000) { m in
            m.hold(1, bytes: 999)
            #expect(m.hasCredit, "below the limit")
            m.hold(2, bytes: 1)
            #expect(!m.hasCredit, "at the limit")
            m.drop(1)
            #expect(m.hasCredit)
        }
    }

    @Test func anEmptyMemberHasCreditWhateverTheNextEventsSize() {
        Self.withMember(maxBytes: 100) { m in
            #expect(m.hasCredit)
            m.hold(1, bytes: 5000)
            #expect(!m.hasCredit, "one event over the limit is held alone")
        }
    }

    /// Bytes its connection has not yet taken count as well: after its leases expired (nothing held), a member
    /// whose unsent bytes are at the limit gets nothing, and one with some below it gets more.
    @Test func unsentBytesEndCreditEvenWhenNothingIsHeld() {
        Self.withMember(maxBytes: 1000) { m in
            m.unsent.add(1000)
            #expect(!m.hasCredit, "nothing held, but 1000 bytes unsent")
            m.unsent.release(1)
            #expect(m.hasCredit, "999 unsent")
            m.hold(1, bytes: 1000)
            #expect(!m.hasCredit, "held bytes at the limit")
            m.drop(1)
            m.unsent.release(999)
            m.hold(2, bytes: 5000)
            #expect(!m.hasCredit)
            m.drop(2)
            m.unsent.add(5000)
            #expect(!m.hasCredit, "an event over the limit, unsent: the member holds it even with its lease gone")
            m.unsent.release(5000)
            #expect(m.hasCredit)
        }
    }

    @Test func creditInDeliveriesStillCounts() {
        Self.withMember(credit: 2, maxBytes: 1_000_000) { m in
            m.hold(1, bytes: 1)
            m.hold(2, bytes: 1)
            #expect(!m.hasCredit)
        }
        Self.withMember(credit: 0) { paused in
            #expect(!paused.hasCredit, "credit 0 pauses even an empty member")
        }
    }
}
