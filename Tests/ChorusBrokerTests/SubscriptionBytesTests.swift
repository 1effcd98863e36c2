@testable import ChorusBroker
import Testing

/// A member's byte account, cell by cell: what `hold`, `drop` and `dropAll` do to it, and when it has credit.
@Suite struct SubscriptionBytesTests {
    static func member(credit: Int = 10, maxBytes: Int = 1000) -> (Session, Subscription) {
        let session = Session(number: 1, routingID: [1], now: 0)
        return (session, Subscription(session: session, groupID: 1, credit: credit, maxInFlightBytes: maxBytes))
    }

    @Test func holdingAddsItsBytesAndDroppingTakesThemAway() {
        let (session, m) = Self.member()
        withExtendedLifetime(session) {
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
        let (session, m) = Self.member()
        withExtendedLifetime(session) {
            m.hold(7, bytes: 300)
            m.hold(7, bytes: 300)
            #expect(m.inFlightBytes == 300 && m.inFlight.count == 1)
            m.drop(7)
            #expect(m.inFlightBytes == 0)
        }
    }

    @Test func creditEndsAtTheByteLimit() {
        let (session, m) = Self.member(maxBytes: 1000)
        withExtendedLifetime(session) {
            m.hold(1, bytes: 999)
            #expect(m.hasCredit, "below the limit")
            m.hold(2, bytes: 1)
            #expect(!m.hasCredit, "at the limit")
            m.drop(1)
            #expect(m.hasCredit)
        }
    }

    @Test func anEmptyMemberHasCreditWhateverTheNextEventsSize() {
        let (session, m) = Self.member(maxBytes: 100)
        withExtendedLifetime(session) {
            #expect(m.hasCredit)
            m.hold(1, bytes: 5000)
            #expect(!m.hasCredit, "one event over the limit is held alone")
        }
    }

    @Test func creditInDeliveriesStillCounts() {
        let (session, m) = Self.member(credit: 2, maxBytes: 1_000_000)
        withExtendedLifetime(session) {
            m.hold(1, bytes: 1)
            m.hold(2, bytes: 1)
            #expect(!m.hasCredit)
            let (s0, paused) = Self.member(credit: 0)
            withExtendedLifetime(s0) { #expect(!paused.hasCredit, "credit 0 pauses even an empty member") }
        }
    }
}
