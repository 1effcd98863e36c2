import ChorusAgent
import Testing

/// `chorus up`'s restart rule, event by event: back-off 1 s doubling to 32 s (reset after 60 s of health), and
/// give-up at the 5th failure in a row within 10 s of starting.
@Suite("RestartPolicy")
struct RestartPolicyTests {
    /// A run long enough never to count as a quick failure, short of healthy.
    static let steady = 30.0

    @Test func firstRestartWaitsOneSecond() {
        var policy = RestartPolicy()
        #expect(policy.record(.exited(status: 1, uptime: 0.1)) == .restart(after: 1))
        #expect(policy.quickFailures == 1)
        #expect(policy.backoff == 2)
    }

    @Test func backoffDoublesUpTo32SecondsAndStaysThere() {
        var policy = RestartPolicy()
        // Runs of 30 s: not quick (no give-up), not healthy (no reset), so only the back-off moves.
        let waits = (0..<8).map { _ in policy.record(.exited(status: 1, uptime: Self.steady)) }
        #expect(waits == [1, 2, 4, 8, 16, 32, 32, 32].map { .restart(after: $0) })
        #expect(policy.quickFailures == 0)
    }

    @Test func aRunOfAMinuteResetsTheBackoff() {
        var policy = RestartPolicy()
        for _ in 0..<6 { _ = policy.record(.exited(status: 1, uptime: Self.steady)) }
        #expect(policy.backoff == 32)
        #expect(policy.record(.exited(status: 0, uptime: 60)) == .restart(after: 1))
        #expect(policy.record(.exited(status: 0, uptime: 59.9)) == .restart(after: 2))
    }

    @Test func aRunJustShortOfAMinuteKeepsTheBackoff() {
        var policy = RestartPolicy()
        _ = policy.record(.exited(status: 1, uptime: Self.steady))
        _ = policy.record(.exited(status: 1, uptime: Self.steady))
        #expect(policy.record(.exited(status: 1, uptime: 59.99)) == .restart(after: 4))
    }

    @Test func givesUpExactlyAtTheFifthQuickFailure() {
        var policy = RestartPolicy()
        for (i, wait) in [1.0, 2, 4, 8].enumerated() {
            #expect(policy.record(.exited(status: 3, uptime: 0.05)) == .restart(after: wait))
            #expect(policy.quickFailures == i + 1)
            #expect(policy.givenUp == nil)
        }
        let reason = "failed 5 times in a row within 10 s of starting (last: exited with status 3)"
        #expect(policy.record(.exited(status: 3, uptime: 0.05)) == .giveUp(reason: reason))
        #expect(policy.givenUp == reason)
    }

    @Test func afterGivingUpEveryEventGetsTheSameAnswer() {
        var policy = RestartPolicy()
        for _ in 0..<5 { _ = policy.record(.killed(signal: 9, uptime: 1)) }
        let reason = "failed 5 times in a row within 10 s of starting (last: was killed by signal 9)"
        #expect(policy.record(.exited(status: 0, uptime: 3600)) == .giveUp(reason: reason))
        #expect(policy.record(.launchFailed(reason: "gone")) == .giveUp(reason: reason))
    }

    @Test func anExitJustUnderTenSecondsIsQuickAndTenSecondsIsNot() {
        var policy = RestartPolicy()
        _ = policy.record(.exited(status: 1, uptime: 9.999))
        #expect(policy.quickFailures == 1)
        _ = policy.record(.exited(status: 1, uptime: 10))
        #expect(policy.quickFailures == 0)
    }

    @Test func aRunOfTenSecondsResetsTheStreak() {
        var policy = RestartPolicy()
        for _ in 0..<4 { _ = policy.record(.exited(status: 1, uptime: 2)) }
        #expect(policy.quickFailures == 4)
        // The long run's own end is not a failure of the streak; the back-off keeps doubling (16 s).
        #expect(policy.record(.exited(status: 1, uptime: 10)) == .restart(after: 16))
        #expect(policy.quickFailures == 0)
        // So it takes five more quick failures, not one, to give up.
        for _ in 0..<4 {
            guard case .restart = policy.record(.exited(status: 1, uptime: 2)) else {
                Issue.record("gave up before the 5th quick failure of the new streak")
                return
            }
        }
        guard case .giveUp = policy.record(.exited(status: 1, uptime: 2)) else {
            Issue.record("did not give up at the 5th quick failure of the new streak")
            return
        }
    }

    @Test func launchFailuresCountAsQuickFailures() {
        var policy = RestartPolicy()
        #expect(policy.record(.launchFailed(reason: "no such file")) == .restart(after: 1))
        #expect(policy.record(.exited(status: 127, uptime: 0.01)) == .restart(after: 2))
        #expect(policy.record(.launchFailed(reason: "no such file")) == .restart(after: 4))
        #expect(policy.record(.killed(signal: 11, uptime: 0.5)) == .restart(after: 8))
        #expect(policy.record(.launchFailed(reason: "no such file"))
            == .giveUp(reason: "failed 5 times in a row within 10 s of starting (last: could not be started (no such file))"))
    }

    @Test func killedBySignalCountsLikeAnExit() {
        var policy = RestartPolicy()
        #expect(policy.record(.killed(signal: 9, uptime: 120)) == .restart(after: 1))
        #expect(policy.quickFailures == 0)
        #expect(policy.record(.killed(signal: 9, uptime: 1)) == .restart(after: 2))
        #expect(policy.quickFailures == 1)
    }

    @Test func otherLimitsAreHonoured() {
        var limits = RestartPolicy.Limits()
        limits.firstBackoff = 0.5
        limits.maxBackoff = 1
        limits.quickExit = 2.5
        limits.giveUpAfter = 2
        var policy = RestartPolicy(limits: limits)
        #expect(policy.record(.exited(status: 1, uptime: 1)) == .restart(after: 0.5))
        #expect(policy.record(.exited(status: 1, uptime: 2.5)) == .restart(after: 1))
        #expect(policy.record(.exited(status: 1, uptime: 1)) == .restart(after: 1))
        #expect(policy.record(.exited(status: 1, uptime: 1))
            == .giveUp(reason: "failed 2 times in a row within 2.5 s of starting (last: exited with status 1)"))
    }

    @Test func eventsDescribeThemselvesForTheLog() {
        #expect("\(RestartPolicy.Event.exited(status: 3, uptime: 1))" == "exited with status 3")
        #expect("\(RestartPolicy.Event.killed(signal: 9, uptime: 1))" == "was killed by signal 9")
        #expect("\(RestartPolicy.Event.launchFailed(reason: "x"))" == "could not be started (x)")
        #expect(RestartPolicy.Event.launchFailed(reason: "x").uptime == 0)
    }
}
