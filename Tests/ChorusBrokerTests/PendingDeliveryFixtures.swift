@testable import ChorusBroker
import ChorusProtocol

/// Shared states for the PendingDelivery tests: one in flight, one waiting.
enum Fixture {
    static let token: UInt64 = 0xA1A1
    static let wrong: UInt64 = 0xB2B2
    static let session = 3
    static let expires: Int64 = 2000
    static let maxAttempts = 5

    /// Attempt `attempt` in flight to consumer c1 on session 3, lease until 2000.
    static func inFlight(attempt: Int = 1, history: String = "") -> PendingDelivery {
        PendingDelivery(
            seq: 7, attempt: attempt, phase: .inFlight(session: session, token: token, expires: expires), history: history,
            consumer: "c1")
    }

    /// Attempt `attempt` over, waiting to be retried not before 500.
    static func waiting(attempt: Int = 1) -> PendingDelivery {
        PendingDelivery(seq: 7, attempt: attempt, phase: .waiting(notBefore: 500), history: "1\t400\tc1\tnacked\tx", consumer: "c1")
    }
}
