import ChorusStore
import Testing

/// Every cell of `CheckpointPolicy.after(_:)`: (pass result) x (how many catch-up passes ran) -> action.
@Suite("CheckpointPolicy")
struct CheckpointPolicyTests {
    typealias Pass = CheckpointPolicy.Pass

    func policy() -> CheckpointPolicy { CheckpointPolicy(restartFrames: 1000, gatedPassFrames: 100, maxCatchUpPasses: 2) }

    @Test func aPassThatCouldNotRunSleeps() {
        var p = policy()
        #expect(p.after(nil) == .sleep)
    }

    @Test func aShortWALSleepsWhateverIsLeftToCopy() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 999, checkpointed: 0)) == .sleep)
        #expect(p.after(Pass(walFrames: 999, checkpointed: 999)) == .sleep)
        #expect(p.after(Pass(walFrames: 0, checkpointed: 0)) == .sleep)
    }

    @Test func aLongWALNearlyCopiedGetsTheGatedPass() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 1000, checkpointed: 1000)) == .gatedPass)
        var q = policy()
        #expect(q.after(Pass(walFrames: 5000, checkpointed: 4900)) == .gatedPass)
    }

    @Test func aLongWALWithMuchLeftCatchesUpFirst() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 4899)) == .catchUp)
        #expect(p.catchUpPasses == 1)
        #expect(p.after(Pass(walFrames: 5200, checkpointed: 5150)) == .gatedPass)
        #expect(p.catchUpPasses == 0)
    }

    @Test func catchingUpIsLimitedThenTheGatedPassRunsAnyway() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 0)) == .catchUp)
        #expect(p.after(Pass(walFrames: 6000, checkpointed: 0)) == .catchUp)
        #expect(p.after(Pass(walFrames: 7000, checkpointed: 0)) == .gatedPass)
    }

    @Test func afterTheGatedPassItSleeps() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 5000, gated: true)) == .sleep)
        // Even if the reset could not happen (a reader held an old snapshot): try again next interval.
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 4000, gated: true)) == .sleep)
    }

    @Test func sleepingResetsTheCatchUpCount() {
        var p = policy()
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 0)) == .catchUp)
        #expect(p.after(nil) == .sleep)
        #expect(p.catchUpPasses == 0)
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 0)) == .catchUp)
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 0)) == .catchUp)
        #expect(p.after(Pass(walFrames: 5000, checkpointed: 0)) == .gatedPass)
    }

    @Test func defaultsAreSixteenMebibytesOfFourKibibytePages() {
        let p = CheckpointPolicy()
        #expect(p.restartFrames == 4096)
        #expect(p.gatedPassFrames == 256)
    }
}
