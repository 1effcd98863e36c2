import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// stats, dead-letter redrive and purge, and retention, against a real broker.
@Suite struct OperatorTests {
    static func int(_ v: Any?) -> Int { (v as? NSNumber)?.intValue ?? -1 }

    @Test func statsCountsMatchAKnownWorkload() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "w")
        try consumer.subscribe(group: "work", patterns: ["w.>"], credit: 5)
        let idle = try broker.connect(name: "idle")
        try idle.subscribe(group: "idle", patterns: ["w.>"], credit: 1)
        idle.close()  // the group stays, with no consumer: everything piles up in its backlog
        let p = try broker.connect()
        for i in 0..<10 { _ = try p.publish(topic: "w.e", payload: [UInt8(i)]) }
        for i in 0..<4 { _ = try p.publish(topic: "other.e", payload: [UInt8(i)]) }  // no group's: not anyone's backlog
        _ = try p.publish(topic: "w.e", payload: [1], properties: Properties([("key", "k1")]))
        _ = try p.publish(topic: "w.e", payload: [1], properties: Properties([("key", "k1")]))  // duplicate
        let got = try consumer.deliveries(5, within: 10)
        try consumer.ack(group: "work", leases: got.prefix(3).map(\.lease), confirm: true)
        try consumer.nack(group: "work", lease: got[3].lease, mode: .requeue, reason: "again")
        #expect(waitUntil(10) {
            let s = (try? p.admin("stats")) ?? [:]
            let g = (s["groups"] as? [[String: Any]])?.first { $0["name"] as? String == "work" } ?? [:]
            return Self.int(g["acked"]) == 3 && Self.int(g["in_flight"]) == 5
        })
        let s = try p.admin("stats")
        let counters = s["counters"] as? [String: Any] ?? [:]
        #expect(Self.int(counters["published"]) == 15)
        #expect(Self.int(counters["duplicates"]) == 1)
        #expect(Self.int(counters["acked"]) == 3)
        #expect(Self.int(counters["nacked"]) == 1)
        let groups = Dictionary(uniqueKeysWithValues: (s["groups"] as? [[String: Any]] ?? []).map { ($0["name"] as? String ?? "", $0) })
        #expect(Self.int(groups["idle"]?["backlog"]) == 11)
        #expect(Self.int(groups["idle"]?["unexamined"]) == 15)
        #expect(Self.int(groups["idle"]?["unexamined_matching"]) == 11)
        #expect(groups["idle"]?["backlog_exact"] as? Bool == true)
        #expect(Self.int(groups["idle"]?["consumers"]) == 0)
        #expect(Self.int(groups["work"]?["consumers"]) == 1)
        #expect(Self.int(groups["work"]?["redelivered"]) == 1)
        #expect(Self.int((s["broker"] as? [String: Any])?["last_seq"]) == 15)
        // The CLI renders the same document.
        let cli = try broker.client(["stats"], label: "stats")
        #expect(cli.waitForExit(10) == 0)
        #expect(cli.stdout.contains("idle") && cli.stdout.contains("BACKLOG"))
    }

    @Test func deadLettersCanBeListedRedrivenAndPurged() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let consumer = try broker.connect(name: "flaky")
        try consumer.subscribe(group: "g", patterns: ["job"], credit: 1, extra: [("max-attempts", "1")])
        let p = try broker.connect()
        let first = try p.publish(topic: "job", payload: Array("one".utf8), properties: Properties([("correlation", "c-1")])).seq
        let second = try p.publish(topic: "job", payload: Array("two".utf8)).seq
        for _ in 0..<2 {
            let d = try #require(try consumer.deliveries(1, within: 10).first)
            try consumer.nack(group: "g", lease: d.lease, mode: .reject, reason: "schema error in \(d.lease.seq)")
        }
        let list = try p.admin("dlq.list", arguments: ["group": "g"])["dead_letters"] as? [[String: Any]] ?? []
        #expect(list.count == 2)
        let firstRow = try #require(list.first { Self.int($0["seq"]) == Int(first) })
        #expect((firstRow["reason"] as? String)?.contains("schema error") == true)
        #expect(firstRow["correlation"] as? String == "c-1")
        #expect((firstRow["history"] as? [[String: Any]])?.first?["outcome"] as? String == "rejected")
        // The CLI shows them too.
        let cli = try broker.client(["dlq", "list", "--group", "g"], label: "dlq-list")
        #expect(cli.waitForExit(10) == 0)
        #expect(cli.stdout.contains("schema error"))
        // When, in local time with the date, as tail and inspect show times.
        #expect(cli.stdoutLines.first { $0.hasPrefix("#") }?.contains(" dead-lettered 20") == true, "\(cli.stdout)")
        // A wrong id, or a group that does not exist, is refused and changes nothing.
        let typo = try broker.client(["dlq", "redrive", "--group", "g", "99999"], label: "redrive-typo")
        #expect(typo.waitForExit(10) == 65)
        #expect(typo.stderr.contains("NOT_FOUND") && typo.stderr.contains("no dead letter with id 99999"), "\(typo.stderr)")
        let both = try broker.client(["dlq", "purge", "--group", "g", String(Self.int(firstRow["id"])), "99999"], label: "purge-typo")
        #expect(both.waitForExit(10) == 65, "\(both.stderr)")
        for command in [["dlq", "list", "--group", "nope"], ["dlq", "redrive", "--group", "nope", "--all"]] {
            let unknown = try broker.client(command, label: "unknown-group")
            #expect(unknown.waitForExit(10) == 65)
            #expect(unknown.stderr.contains("no group named 'nope' (groups: g)"), "\(unknown.stderr)")
        }
        #expect((try p.admin("dlq.list", arguments: ["group": "g"])["dead_letters"] as? [[String: Any]] ?? []).count == 2)
        // Redrive the first: it is delivered again; the dead letter is gone.
        let redrive = try broker.client(["dlq", "redrive", "--group", "g", String(Self.int(firstRow["id"]))], label: "redrive")
        #expect(redrive.waitForExit(10) == 0, "\(redrive.stderr)")
        let again = try #require(try consumer.deliveries(1, within: 10).first)
        #expect(again.lease.seq == first)
        #expect(again.attempt == 1)
        try consumer.ack(group: "g", leases: [again.lease], confirm: true)
        let left = try p.admin("dlq.list", arguments: ["group": "g"])["dead_letters"] as? [[String: Any]] ?? []
        #expect(left.map { Self.int($0["seq"]) } == [Int(second)])
        _ = try p.admin("dlq.purge", arguments: ["group": "g", "all": true])
        #expect((try p.admin("dlq.list", arguments: ["group": "g"])["dead_letters"] as? [[String: Any]] ?? []).isEmpty)
    }

    @Test func retentionRemovesExpiredEventsButNeverOneStillNeeded() throws {
        let broker = try BrokerProcess(config: "[retention]\nmax_events = 10\ninterval = \"1d\"\n")
        defer { broker.stop() }
        // A group far behind (no consumer) and one unacked delivery pin events.
        let lagging = try broker.connect(name: "lag")
        try lagging.subscribe(group: "lagging", patterns: ["r.slow"], credit: 1)
        lagging.close()  // the group stays, with no member: its cursor stays where it was created
        let holder = try broker.connect(name: "holder")
        try holder.subscribe(group: "holder", patterns: ["r.held"], credit: 1)
        let p = try broker.connect()
        let held = try p.publish(topic: "r.held", payload: [1]).seq
        let d = try #require(try holder.deliveries(1, within: 10).first)
        #expect(d.lease.seq == held)
        var all: [UInt64] = []
        for i in 0..<50 { all.append(try p.publish(topic: "r.fast", payload: [UInt8(i)]).seq) }
        // Without the pins, 41 of the 51 events would go. The lagging group has looked at nothing yet (no
        // consumer): its cursor pins the whole log.
        var r = try p.admin("log.compact")
        #expect(Self.int(r["events_removed"]) == 0, "the lagging group's cursor pins the log: \(r)")
        let catchUp = try broker.connect(name: "lag2")
        try catchUp.subscribe(group: "lagging", patterns: ["r.slow"], credit: 1)
        // The group has nothing matching; once it has looked at everything, its cursor pins nothing.
        #expect(try waitUntil(10) {
            let s = try p.admin("stats")
            let g = (s["groups"] as? [[String: Any]])?.first { $0["name"] as? String == "lagging" }
            return Self.int(g?["unexamined"]) == 0
        })
        // Now the unacked delivery alone pins everything from `held` on.
        r = try p.admin("log.compact")
        #expect(Self.int(r["events_removed"]) == 0, "the unacked delivery pins everything after it: \(r)")
        #expect(Self.int(r["floor"]) == Int(held))
        try holder.ack(group: "holder", leases: [d.lease], confirm: true)
        r = try p.admin("log.compact")
        #expect(Self.int(r["events_removed"]) == 41)
        let remaining = try sqlite(broker.directory.file("data/chorus.sqlite"), "select seq from events order by seq")
        #expect(remaining == all.suffix(10).map(String.init))
        // A new group starting from the first event replays what is left, from the oldest kept.
        let replay = try broker.connect(name: "replay")
        try replay.subscribe(group: "replay", patterns: ["r.>"], credit: 100, start: .first)
        #expect(try replay.deliveries(10, within: 10).map(\.lease.seq) == Array(all.suffix(10)))
    }

    @Test func theMetricsEndpointIsScrapedOverHTTP() throws {
        let broker = try BrokerProcess(config: "[metrics]\naddress = \"127.0.0.1:*\"\n")
        defer { broker.stop() }
        let consumer = try broker.connect(name: "m")
        try consumer.subscribe(group: "metered", patterns: ["m.>"], credit: 10)
        let p = try broker.connect()
        for _ in 0..<5 { _ = try p.publish(topic: "m.e", payload: [1]) }
        let got = try consumer.deliveries(5, within: 10)
        try consumer.ack(group: "metered", leases: got.map(\.lease), confirm: true)
        let url = try #require(URL(string: broker.metrics.replacingOccurrences(of: "tcp://", with: "http://") + "/metrics"))
        // A 200 answer that Foundation's HTTP client parses (httpGet returns nil otherwise).
        let text = try #require(httpGet(url.absoluteString, timeout: 5), "no 200 answer from \(url)")
        #expect(text.contains("chorus_published_total 5"))
        #expect(text.contains("chorus_acked_total 5"))
        #expect(text.contains("chorus_group_delivered_total{group=\"metered\"} 5"))
        #expect(text.contains("chorus_publish_to_commit_seconds_count 5"))
        #expect(text.contains("chorus_publish_to_deliver_seconds_count 5"))
        #expect(text.contains("chorus_publish_to_deliver_seconds_bucket{le=\"0.0001\"}"))
    }
}
