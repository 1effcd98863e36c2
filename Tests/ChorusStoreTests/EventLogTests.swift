import ChorusProtocol
import ChorusStore
import Testing

@Suite("SQLiteEventStore: events")
final class EventLogTests {
    let dir: TemporaryDirectory
    let store: SQLiteEventStore

    init() throws {
        dir = try TemporaryDirectory()
        store = try openStore(dir.path("chorus.sqlite"))
    }

    @Test func emptyLog() throws {
        #expect(try store.lastSequence() == 0)
        #expect(try store.firstSequence() == nil)
        #expect(try store.readEvents(from: 0, limit: 10).isEmpty)
        #expect(try store.readEvent(seq: 1) == nil)
    }

    @Test func emptyBatchIsANoOp() throws {
        try store.commit(WriteBatch())
        #expect(WriteBatch().isEmpty)
        #expect(try store.lastSequence() == 0)
    }

    @Test func everyFieldRoundTrips() throws {
        let full = Event(
            seq: 1, id: "e-1", topic: "jobs.text", correlation: "c-1", causation: "e-0", producer: "agent-a",
            time: 1_700_000_000_123, contentType: "application/json", deadline: 1_700_000_060_000,
            headers: [("Trace-Id", "t=1=2"), ("empty", ""), ("uni", "äöü ✓")], payload: [0, 1, 2, 0xFF, 0])
        let bare = Event(seq: 2, id: "e-2", topic: "a", time: 0, payload: [])
        let emptyStrings = Event(
            seq: 3, id: "", topic: "b", correlation: "", causation: "", producer: "", time: -1, contentType: "",
            deadline: 0, payload: Array("x".utf8))
        try store.commit(batch(events: [full, bare, emptyStrings]))

        let read = try store.readEvents(from: 1, limit: 10)
        #expect(read.count == 3)
        #expect(read[0] == full)
        #expect(read[1] == bare)
        #expect(read[2] == emptyStrings)
        // Nil stays nil, empty stays empty.
        #expect(read[1].correlation == nil && read[1].causation == nil && read[1].producer == nil)
        #expect(read[1].contentType == nil && read[1].deadline == nil && read[1].headers.isEmpty)
        #expect(read[1].payload == [])
        #expect(read[2].correlation == "" && read[2].contentType == "")
        #expect(read[2].deadline == 0)
    }

    @Test func readsInOrderFromAnyPointWithALimit() throws {
        try store.commit(batch(events: [event(1), event(2), event(3)]))
        try store.commit(batch(events: [event(4), event(5)]))
        #expect(try store.readEvents(from: 0, limit: 100).map(\.seq) == [1, 2, 3, 4, 5])
        #expect(try store.readEvents(from: 2, limit: 2).map(\.seq) == [2, 3])
        #expect(try store.readEvents(from: 5, limit: 10).map(\.seq) == [5])
        #expect(try store.readEvents(from: 6, limit: 10).isEmpty)
        #expect(try store.readEvents(from: 1, limit: 0).isEmpty)
    }

    @Test func readEventFindsOnlyThatSequence() throws {
        try store.commit(batch(events: [event(10), event(12)]))
        #expect(try store.readEvent(seq: 10)?.id == "e10")
        #expect(try store.readEvent(seq: 12)?.id == "e12")
        #expect(try store.readEvent(seq: 11) == nil)  // not the next one
        #expect(try store.readEvent(seq: 9) == nil)
        #expect(try store.readEvent(seq: 13) == nil)
    }

    @Test func firstAndLastSequence() throws {
        try store.commit(batch(events: [event(3), event(4)]))
        #expect(try store.firstSequence() == 3)
        #expect(try store.lastSequence() == 4)
        try store.commit(batch(events: [event(9)]))
        #expect(try store.firstSequence() == 3)
        #expect(try store.lastSequence() == 9)
    }

    @Test func largePayloadRoundTrips() throws {
        let payload = (0..<1_048_576).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var e = event(1)
        e.payload = payload
        try store.commit(batch(events: [e]))
        #expect(try store.readEvent(seq: 1)?.payload == payload)
    }

    @Test func headersColumnFormat() {
        let e = Event(id: "e", topic: "a", headers: [("A", "1"), ("b", "x=y"), ("c", "")])
        #expect(e.headersText == "A=1\nb=x=y\nc=")
        #expect(Event(id: "e", topic: "a").headersText == nil)
        let parsed = Event.parseHeaders("A=1\nb=x=y\nc=")
        #expect(parsed.map(\.name) == ["A", "b", "c"])
        #expect(parsed.map(\.value) == ["1", "x=y", ""])
        #expect(Event.parseHeaders(nil).isEmpty)
        #expect(Event.parseHeaders("").isEmpty)
    }
}
