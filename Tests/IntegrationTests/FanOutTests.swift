import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// Fan-out to several groups, competing consumers within a group, and where new groups start.
@Suite struct FanOutTests {
    @Test func threeGroupsOfTwoMembersEachSeeEveryEventAndShareTheLoad() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        // Six real consumer processes: three groups of two.
        var members: [String: [ChildProcess]] = [:]
        for g in ["text", "image", "audio"] {
            for m in 0..<2 {
                let p = try broker.client(
                    ["subscribe", "jobs.>", "--group", g, "--json", "--credit", "4", "--name", "\(g)-\(m)"], label: "\(g)-\(m)")
                members[g, default: []].append(p)
            }
        }
        defer { members.values.flatMap { $0 }.forEach { $0.terminate() } }
        // Wait until all six have joined: a probe event reaches one member of every group.
        let publisher = try broker.connect()
        let allJoined = try waitUntil(15, pollMilliseconds: 100) {
            _ = try publisher.publish(topic: "jobs.probe", payload: Array("{}".utf8))
            return members.values.allSatisfy { group in group.contains { !$0.stdout.isEmpty } }
                && members.values.flatMap { $0 }.allSatisfy { $0.process.isRunning }
        }
        #expect(allJoined)
        let n = 300
        var seqs: Set<UInt64> = []
        for i in 0..<n {
            let (seq, _) = try publisher.publish(topic: "jobs.render.\(i % 3)", payload: Array("{\"i\":\(i)}".utf8), properties: Properties([("content-type", "application/json")]))
            seqs.insert(seq)
        }
        for (g, procs) in members {
            let complete = waitUntil(20) {
                let got = Set(procs.flatMap { Self.seqs(in: $0) })
                return seqs.isSubset(of: got)
            }
            #expect(complete, "group \(g) did not receive every event")
            let perMember = procs.map { Set(Self.seqs(in: $0)).intersection(seqs).count }
            #expect(perMember.allSatisfy { $0 > 0 }, "group \(g): members should share the load, got \(perMember)")
            // Without failures each event goes to exactly one member of the group.
            #expect(perMember.reduce(0, +) == n, "group \(g): \(perMember) should add up to \(n)")
        }
    }

    static func seqs(in process: ChildProcess) -> [UInt64] {
        process.stdoutLines.compactMap { line in
            guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return (object["seq"] as? NSNumber)?.uint64Value
        }
    }

    @Test func newGroupsStartFromTheBeginningASequenceOrNewEvents() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let publisher = try broker.connect()
        var seqs: [UInt64] = []
        for i in 0..<50 { seqs.append(try publisher.publish(topic: "history.e", payload: Array("\(i)".utf8)).seq) }

        let fromFirst = try broker.connect(name: "first")
        try fromFirst.subscribe(group: "replay-all", patterns: ["history.>"], credit: 100, start: .first)
        let all = try fromFirst.deliveries(50, within: 10)
        #expect(all.map(\.lease.seq) == seqs)

        let fromSeq = try broker.connect(name: "from-40")
        try fromSeq.subscribe(group: "replay-tail", patterns: ["history.>"], credit: 100, start: .sequence(seqs[40]))
        let tail = try fromSeq.deliveries(10, within: 10)
        #expect(tail.map(\.lease.seq) == Array(seqs[40...]))

        let fromNew = try broker.connect(name: "new")
        try fromNew.subscribe(group: "only-new", patterns: ["history.>"], credit: 100, start: .new)
        let fresh = try publisher.publish(topic: "history.e", payload: Array("fresh".utf8)).seq
        let got = try fromNew.deliveries(1, within: 10)
        #expect(got.map(\.lease.seq) == [fresh])
        // The earlier groups get the fresh event too (fan-out), and nothing old arrives at the new group.
        #expect(try fromFirst.deliveries(1, within: 10).map(\.lease.seq) == [fresh])
        #expect(try fromNew.drain(for: 0.3).isEmpty)
    }

    @Test func aGroupReSubscribedWithOtherPatternsIsRefused() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let a = try broker.connect(name: "a")
        try a.subscribe(group: "g", patterns: ["a.>"], credit: 1)
        let b = try broker.connect(name: "b")
        #expect {
            try b.subscribe(group: "g", patterns: ["b.>"], credit: 1)
        } throws: { error in
            if case ChorusClientError.refused(let code, _) = error { return code == .groupMismatch }
            return false
        }
    }
}
