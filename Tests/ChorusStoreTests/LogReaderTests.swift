import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// The read-only reader behind `chorus tail` and `chorus inspect`, on logs written by `SQLiteEventStore`.
@Suite("LogReader")
final class LogReaderTests {
    let dir: TemporaryDirectory
    let path: String
    let store: SQLiteEventStore

    static let base: Int64 = 1_767_225_600_000

    init() throws {
        dir = try TemporaryDirectory()
        path = dir.path("chorus.sqlite")
        store = try openStore(path)
    }

    /// Event `seq` of a varied log: four topics, three correlations, two producers, one second apart.
    static func varied(_ seq: UInt64) -> Event {
        let topics = ["jobs.text", "jobs.image", "audit.login.ok", "$dlq.g"]
        return Event(
            seq: seq, id: "e\(seq)", topic: topics[Int(seq) % 4], correlation: seq % 5 == 0 ? nil : "c-\(seq % 3)",
            producer: seq % 7 == 0 ? nil : "p-\(seq % 2)", time: base + Int64(seq) * 1000, contentType: "text/plain",
            headers: [("n", "\(seq)")], payload: Array("payload \(seq)".utf8))
    }

    func fill(_ count: UInt64, commitEvery: UInt64 = 500, make: (UInt64) -> Event = LogReaderTests.varied) throws
        -> [Event]
    {
        var all: [Event] = []
        var seq: UInt64 = 1
        while seq <= count {
            let events = (seq...min(count, seq + commitEvery - 1)).map(make)
            try store.commit(batch(events: events))
            all += events
            seq += commitEvery
        }
        return all
    }

    /// Reads the whole range as `chorus tail` does: page after page up to the end seen at the start.
    func readAll(_ reader: LogReader, _ filter: LogFilter, from start: UInt64 = 1, limit: Int = LogReader.pageSize)
        throws -> (events: [Event], pages: Int)
    {
        let through = try reader.lastSequence()
        var position = start - 1
        var events: [Event] = []
        var pages = 0
        while position < through {
            let page = try reader.page(after: position, through: through, filter: filter, limit: limit)
            events += page.events
            guard page.scannedThrough > position else {
                Issue.record("a page made no progress at \(position)")
                break
            }
            position = page.scannedThrough
            pages += 1
        }
        return (events, pages)
    }

    // MARK: Filters

    @Test func everyFilterAloneSelectsWhatItSays() throws {
        let all = try fill(200)
        let reader = try LogReader(path: path)
        func seqs(_ f: LogFilter) throws -> [UInt64] { try readAll(reader, f).events.map(\.seq) }
        #expect(try seqs(LogFilter()) == Array(1...200))
        #expect(try readAll(reader, LogFilter()).events == all, "every field must round-trip")
        #expect(
            try seqs(LogFilter(topics: try TopicPatternSet(texts: ["jobs.*"])))
                == all.filter { $0.topic.hasPrefix("jobs.") }.map(\.seq))
        #expect(try seqs(LogFilter(correlation: "c-1")) == all.filter { $0.correlation == "c-1" }.map(\.seq))
        #expect(try seqs(LogFilter(producer: "p-0")) == all.filter { $0.producer == "p-0" }.map(\.seq))
        #expect(try seqs(LogFilter(since: Self.base + 150_000)) == Array(150...200))
        #expect(try seqs(LogFilter(until: Self.base + 10_000)) == Array(1...9), "until is exclusive")
        #expect(try seqs(LogFilter(fromSequence: 190)) == Array(190...200))
        #expect(try seqs(LogFilter(fromSequence: 0)) == Array(1...200))
        #expect(try seqs(LogFilter(fromSequence: 201)).isEmpty)
    }

    @Test func topicPatternsAreOredAndFollowSubscriptionRules() throws {
        let all = try fill(40)
        let reader = try LogReader(path: path)
        func seqs(_ patterns: [String]) throws -> [UInt64] {
            try readAll(reader, LogFilter(topics: try TopicPatternSet(texts: patterns))).events.map(\.seq)
        }
        #expect(
            try seqs(["jobs.text", "audit.>"])
                == all.filter { $0.topic == "jobs.text" || $0.topic.hasPrefix("audit.") }.map(\.seq))
        #expect(try seqs(["audit.*"]).isEmpty, "'*' is exactly one token")
        #expect(
            try seqs([">"]) == all.filter { !$0.topic.hasPrefix("$") }.map(\.seq),
            "'>' alone never matches dead letters")
        #expect(try seqs(["$dlq.>"]) == all.filter { $0.topic == "$dlq.g" }.map(\.seq))
    }

    @Test func filtersCombineWithAnd() throws {
        let all = try fill(600)
        let reader = try LogReader(path: path)
        let filter = LogFilter(
            topics: try TopicPatternSet(texts: ["jobs.*", "$dlq.g"]), correlation: "c-1", producer: "p-1",
            since: Self.base + 40_000,
            until: Self.base + 500_000, fromSequence: 100)
        let expected = all.filter {
            ($0.topic.hasPrefix("jobs.") || $0.topic == "$dlq.g") && $0.correlation == "c-1" && $0.producer == "p-1"
                && $0.time >= Self.base + 40_000 && $0.time < Self.base + 500_000 && $0.seq >= 100
        }
        #expect(expected.count > 10)
        #expect(try readAll(reader, filter).events == expected)
        #expect(try readAll(reader, filter, limit: 7).events == expected, "small pages must give the same result")
        // The Swift-side predicate agrees with the SQL one.
        #expect(all.filter(filter.matches) == expected)
        // One failing condition is enough to exclude.
        var none = filter
        none.producer = "nobody"
        #expect(try readAll(reader, none).events.isEmpty)
    }

    // MARK: Paging

    @Test func pagesAcrossMoreThanAThousandEventsInOrderWithoutGaps() throws {
        _ = try fill(2500, commitEvery: 700) { seq in
            Event(
                seq: seq, id: "e\(seq)", topic: seq % 7 == 0 ? "rare.one" : "bulk.one", time: Self.base + Int64(seq),
                payload: Array("\(seq)".utf8))
        }
        let reader = try LogReader(path: path)
        let everything = try readAll(reader, LogFilter())
        #expect(everything.events.map(\.seq) == Array(1...2500))
        #expect(everything.events.map { String(decoding: $0.payload, as: UTF8.self) } == (1...2500).map(String.init))
        #expect(everything.pages == 3)
        // A Swift-side topic filter still reads in pages of rows; matches arrive in order across pages.
        let rare = try readAll(reader, LogFilter(topics: try TopicPatternSet(texts: ["rare.*"])))
        #expect(rare.events.map(\.seq) == Array(stride(from: 7, through: 2500, by: 7)))
        #expect(rare.pages == 3)
        // A page is never larger than asked.
        let first = try reader.page(after: 0, through: 2500, filter: LogFilter())
        #expect(first.events.count == LogReader.pageSize)
        #expect(first.scannedThrough == UInt64(LogReader.pageSize))
    }

    @Test func aPageThatFindsNothingStillAdvancesToTheEnd() throws {
        _ = try fill(50)
        let reader = try LogReader(path: path)
        // With --follow the next poll must start after what was scanned, not re-read every rejected row.
        let page = try reader.page(after: 0, through: 50, filter: LogFilter(correlation: "nobody"))
        #expect(page.events.isEmpty)
        #expect(page.scannedThrough == 50)
        let past = try reader.page(after: 50, through: 50, filter: LogFilter())
        #expect(past.events.isEmpty && past.scannedThrough == 50)
    }

    @Test func lastNMatchingEvents() throws {
        let all = try fill(2300)
        let reader = try LogReader(path: path)
        func last(_ n: Int, _ filter: LogFilter) throws -> [UInt64] {
            let through = try reader.lastSequence()
            let start = try reader.startOfLast(n, filter: filter, through: through)
            return try readAll(reader, filter, from: start).events.map(\.seq)
        }
        #expect(try last(2, LogFilter()) == [2299, 2300])
        let image = LogFilter(topics: try TopicPatternSet(texts: ["jobs.image"]), correlation: "c-2")
        let matching = all.filter { $0.topic == "jobs.image" && $0.correlation == "c-2" }.map(\.seq)
        #expect(try last(3, image) == Array(matching.suffix(3)))
        // More than one backward page of rows (1000) to find them.
        #expect(matching.count > 150)
        #expect(try last(150, image) == Array(matching.suffix(150)))
        #expect(try last(100_000, image) == matching, "fewer matches than asked: all of them")
        #expect(try last(0, image).isEmpty)
        #expect(try last(5, LogFilter(fromSequence: 2298)) == [2298, 2299, 2300], "-n stays within --from")
        // Only up to the bound given, so a follow-up read picks up the rest.
        #expect(try reader.startOfLast(1, filter: LogFilter(), through: 10) == 10)
    }

    @Test func emptyLogReadsNothing() throws {
        let reader = try LogReader(path: path)
        #expect(try reader.lastSequence() == 0)
        #expect(try reader.startOfLast(10, filter: LogFilter(), through: 0) == 1)
        #expect(try readAll(reader, LogFilter()).events.isEmpty)
        #expect(try reader.story(correlation: "x").events.isEmpty)
    }

    // MARK: Beside the writer

    @Test func seesNewCommitsOfTheWriterAtTheNextRead() throws {
        _ = try fill(3)
        let reader = try LogReader(path: path)
        #expect(try reader.lastSequence() == 3)
        let firstPage = try reader.page(after: 0, through: 3, filter: LogFilter())
        #expect(firstPage.events.count == 3)
        // The writer commits while the reader stays open: the next read sees it (no snapshot is kept between reads).
        try store.commit(batch(events: (4...6).map(Self.varied)))
        #expect(try reader.lastSequence() == 6)
        let next = try reader.page(after: firstPage.scannedThrough, through: 6, filter: LogFilter())
        #expect(next.events.map(\.seq) == [4, 5, 6])
        // And the reader never blocks the writer.
        try store.commit(batch(events: [Self.varied(7)]))
        #expect(try store.lastSequence() == 7)
    }

    // MARK: Errors

    @Test func aMissingFileIsReportedAsMissing() throws {
        let missing = dir.path("nowhere/chorus.sqlite")
        let error = #expect(throws: LogReaderError.self) { try LogReader(path: missing) }
        #expect(error?.code == .missing)
        #expect(error?.description == "no Chorus log at \(missing): start a broker or pass --log")
        #expect(!FileManager.default.fileExists(atPath: missing), "a reader must never create the log")
        #expect(refusal(dir.path("absent.sqlite"), .missing)?.path == dir.path("absent.sqlite"))
    }

    @Test func filesThatAreNotChorusLogsAreRefusedAndLeftAlone() throws {
        let garbage = dir.path("garbage.sqlite")
        let bytes = Data(String(repeating: "not a database\n", count: 300).utf8)
        #expect(FileManager.default.createFile(atPath: garbage, contents: bytes))
        #expect(refusal(garbage, .notALog)?.message == "not an SQLite database")
        #expect(FileManager.default.contents(atPath: garbage) == bytes)

        let other = dir.path("other.sqlite")
        do {
            let db = try SQLiteDatabase(path: other)
            try db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        }
        let otherError = refusal(other, .notALog)
        #expect(otherError?.description.hasPrefix("\(other) is not a Chorus log") == true)

        let empty = dir.path("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(refusal(empty, .notALog)?.message == "an empty SQLite database")
        #expect(FileManager.default.contents(atPath: empty)?.isEmpty == true)

        let newer = dir.path("newer.sqlite")
        do { try SQLiteDatabase(path: newer).execute("PRAGMA user_version = \(SQLiteEventStore.schemaVersion + 1)") }
        #expect(refusal(newer, .notALog)?.message.contains("upgrade chorus") == true)

        let versionOnly = dir.path("version-only.sqlite")
        do {
            try SQLiteDatabase(path: versionOnly).execute(
                "CREATE TABLE events (seq INTEGER PRIMARY KEY); PRAGMA user_version = 1")
        }
        #expect(refusal(versionOnly, .notALog)?.message == "no groups, pending, dead_letters table")

        #expect(refusal(dir.url.path, .notALog)?.message == "it is a directory")
    }

    @Test func aVersionOneLogNotYetMigratedIsRead() throws {
        // The version-1 tables the reader uses (docs/STORAGE.md); a broker migrates such a file when it opens it,
        // a read-only reader cannot and need not.
        let old = dir.path("v1.sqlite")
        do {
            try SQLiteDatabase(path: old).execute(
                """
                CREATE TABLE events (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, topic TEXT NOT NULL,
                    correlation TEXT, causation TEXT, producer TEXT, time INTEGER NOT NULL, content_type TEXT,
                    deadline INTEGER, headers TEXT, payload BLOB NOT NULL);
                CREATE TABLE groups (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, patterns TEXT NOT NULL,
                    cursor INTEGER NOT NULL, created INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
                    ack_timeout_ms INTEGER NOT NULL);
                CREATE TABLE pending (group_id INTEGER NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL,
                    token INTEGER NOT NULL, due INTEGER NOT NULL, consumer TEXT, history TEXT NOT NULL,
                    PRIMARY KEY (group_id, seq)) WITHOUT ROWID;
                CREATE TABLE dead_letters (id INTEGER PRIMARY KEY, group_name TEXT NOT NULL,
                    seq INTEGER NOT NULL, reason TEXT NOT NULL, attempts INTEGER NOT NULL, history TEXT NOT NULL,
                    time INTEGER NOT NULL);
                INSERT INTO events VALUES (1, 'e1', 'jobs.text', 'c', NULL, 'p', 5, 'text/plain', NULL, NULL, x'6869');
                PRAGMA user_version = 1;
                """)
        }
        let reader = try LogReader(path: old)
        #expect(try readAll(reader, LogFilter()).events.map(\.payload) == [Array("hi".utf8)])
        #expect(try reader.story(correlation: "c").events.count == 1)
    }

    // MARK: Stories

    @Test func aStoryHasTheEventsDeadLettersAndPendingDeliveriesOfOneCorrelation() throws {
        let request = Event(seq: 1, id: "r1", topic: "work", correlation: "req-9", time: Self.base, payload: [1])
        let unrelated = Event(seq: 2, id: "u", topic: "work", correlation: "req-10", time: Self.base + 1, payload: [2])
        let doomed = Event(seq: 3, id: "r2", topic: "work", correlation: "req-9", time: Self.base + 2, payload: [3])
        let dead = Event(
            seq: 4, id: "d", topic: "$dlq.g", correlation: "req-9", causation: "r2", producer: "chorus",
            time: Self.base + 50, payload: [3])
        try store.commit(
            batch(events: [request, unrelated, doomed, dead]) {
                $0.newGroups = [group(1, "g"), group(2, "audit")]
                $0.pending = [
                    .upsert(
                        PendingRecord(
                            groupID: 1, seq: 1, attempt: 2, token: 0xFEED, due: Self.base + 30_000, consumer: "w2",
                            history: "1\t\(Self.base + 10)\tw1\tnacked\tGPU busy")),
                    .upsert(
                        PendingRecord(
                            groupID: 2, seq: 1, attempt: 1, token: 0, due: Self.base + 5, consumer: nil, history: "")),
                    .upsert(
                        PendingRecord(
                            groupID: 1, seq: 2, attempt: 1, token: 7, due: Self.base + 30_000, consumer: "w1",
                            history: "")),
                ]
                $0.deadLetters = [
                    DeadLetterRecord(
                        groupName: "g", seq: 3, reason: "max attempts (2) reached", attempts: 2,
                        history:
                            "1\t\(Self.base + 20)\t\tnacked\tboom 1\n"
                            + "2\t\(Self.base + 40)\tw1\ttimeout\tno ack within the lease",
                        time: Self.base + 50),
                    DeadLetterRecord(
                        groupName: "g", seq: 2, reason: "other request", attempts: 1, history: "",
                        time: Self.base + 60),
                ]
            })
        let story = try LogReader(path: path).story(correlation: "req-9")
        #expect(story.events == [request, doomed, dead])
        #expect(story.deadLetters.map(\.seq) == [3])
        #expect(story.deadLetters.first?.reason == "max attempts (2) reached")
        #expect(story.pending.map(\.groupName) == ["audit", "g"])
        #expect(story.pending.map(\.record.seq) == [1, 1])
        #expect(story.pending.last?.record.token == 0xFEED)
        let attempts = DeliveryAttempt.parse(history: story.deadLetters[0].history)
        #expect(
            attempts == [
                DeliveryAttempt(attempt: 1, time: Self.base + 20, consumer: nil, outcome: "nacked", reason: "boom 1"),
                DeliveryAttempt(
                    attempt: 2, time: Self.base + 40, consumer: "w1", outcome: "timeout",
                    reason: "no ack within the lease"),
            ])
        #expect(try LogReader(path: path).story(correlation: "req-").events.isEmpty, "correlation ids match exactly")
    }

    @Test func historyLinesParseEvenWhenMalformed() {
        #expect(DeliveryAttempt.parse(history: "").isEmpty)
        #expect(
            DeliveryAttempt.parse(history: "3\t99\tc\treleased\tclient said BYE\n")
                == [
                    DeliveryAttempt(attempt: 3, time: 99, consumer: "c", outcome: "released", reason: "client said BYE")
                ])
        #expect(
            DeliveryAttempt.parse(history: "garbled") == [
                DeliveryAttempt(attempt: 0, time: 0, consumer: nil, outcome: "", reason: "garbled")
            ])
    }

    /// A story finds the joins of its correlation id under every join name, with their parts in arrival order, by
    /// index searches only (a search by correlation alone would read every join ever recorded).
    @Test func aStoryFindsItsJoinsUnderEveryNameByIndexSearches() throws {
        let request = Event(seq: 1, id: "r", topic: "gen.request", correlation: "c-7", time: Self.base, payload: [])
        func join(_ name: String, _ correlation: String, openedAt: Int64) -> JoinRecord {
            JoinRecord(name: name, correlation: correlation, status: "open", openSeq: 1, openedAt: openedAt, deadline: Self.base + 9_000)
        }
        func part(_ name: String, _ correlation: String, _ part: String) -> JoinPartRecord {
            JoinPartRecord(name: name, correlation: correlation, part: part, seq: 1, status: "ok", producer: nil, attempt: 1, receivedAt: 0, error: nil)
        }
        try store.commit(
            batch(events: [request]) {
                $0.joins = [join("media", "c-7", openedAt: Self.base + 5), join("audit", "c-7", openedAt: Self.base + 1)]
                    + (0..<50).map { join("media", "other-\($0)", openedAt: Self.base) }
                $0.joinParts = [part("media", "c-7", "text"), part("audit", "c-7", "log"), part("media", "c-7", "image"),
                                part("media", "other-3", "text")]
            })
        let reader = try LogReader(path: path)
        let story = try reader.story(correlation: "c-7")
        #expect(story.joins.map(\.name) == ["audit", "media"], "ordered by opening time")
        #expect(story.joinParts.map { "\($0.name).\($0.part)" } == ["media.text", "audit.log", "media.image"], "in arrival order")
        for plan in try reader.storyJoinPlans() {
            #expect(plan.allSatisfy { !$0.hasPrefix("SCAN") }, "\(plan)")
            #expect(plan.contains { $0.hasPrefix("SEARCH") }, "\(plan)")
        }
    }
}

/// Opens `path` expecting a `LogReaderError` with `code`; returns it (nil, with a recorded issue, otherwise).
func refusal(_ path: String, _ code: LogReaderError.Code, sourceLocation: SourceLocation = #_sourceLocation)
    -> LogReaderError?
{
    do {
        _ = try LogReader(path: path)
        Issue.record("\(path) opened as a Chorus log", sourceLocation: sourceLocation)
    } catch {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        return error
    }
    return nil

}
