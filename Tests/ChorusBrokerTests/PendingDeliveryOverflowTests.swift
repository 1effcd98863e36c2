@testable import ChorusBroker
import ChorusProtocol
import Testing

/// Huge durations come straight from the wire (`NACK ... delay=MS`, `EXTEND ... MS`): they must saturate, not trap.
/// Each runs in a child process, so a trap fails this test instead of the whole run.
@Suite("PendingDelivery: huge durations")
struct PendingDeliveryOverflowTests {
    @Test func hugeExtendDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            var p = PendingDelivery(seq: 1, attempt: 1, phase: .inFlight(session: 1, token: 5, expires: 0))
            // The broker passes Int64(clamping: UInt64 from the EXTEND frame).
            let action = p.handle(.extend(token: 5, milliseconds: .max, now: 1_700_000_000_000), maxAttempts: 5)
            precondition(action == .extended(until: .max), "expected the lease to saturate, got \(action)")
        }
    }

    @Test func hugeNackDelayDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            var p = PendingDelivery(seq: 1, attempt: 1, phase: .inFlight(session: 1, token: 5, expires: 0))
            let mode = try NackMode("delay=18446744073709551615")
            let action = p.handle(.nack(token: 5, mode: mode, reason: "", now: 1_700_000_000_000), maxAttempts: 5)
            precondition(action == .retry(notBefore: .max), "expected the retry time to saturate, got \(action)")
        }
    }
}
