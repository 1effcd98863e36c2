import ChorusProtocol
import Testing

@Suite("PublishRequest.makeEvent")
struct PublishRequestTests {
    @Test func copiesEveryFieldAndReturnsKey() throws {
        let request = PublishRequest(
            topic: "jobs.text",
            properties: Properties([
                ("id", "e-1"), ("correlation", "c-1"), ("causation", "e-0"), ("producer", "agent-a"),
                ("content-type", "application/json"), ("deadline", "1700000000000"), ("key", "k-1"),
                ("h.Trace", "t1"), ("h.b", "x=y"),
            ]),
            payload: bytes("hi"))
        let (event, key) = try request.makeEvent { Issue.record("id generated although given"); return "gen" }
        #expect(key == "k-1")
        #expect(event.seq == 0)
        #expect(event.time == 0)
        #expect(event.id == "e-1")
        #expect(event.topic == "jobs.text")
        #expect(event.correlation == "c-1")
        #expect(event.causation == "e-0")
        #expect(event.producer == "agent-a")
        #expect(event.contentType == "application/json")
        #expect(event.deadline == 1_700_000_000_000)
        #expect(event.headers.map(\.name) == ["Trace", "b"])
        #expect(event.headers.map(\.value) == ["t1", "x=y"])
        #expect(event.payload == bytes("hi"))
    }

    @Test func generatesIDWhenMissing() throws {
        let (event, key) = try PublishRequest(topic: "a", payload: []).makeEvent { "generated-1" }
        #expect(event.id == "generated-1")
        #expect(key == nil)
        #expect(event.correlation == nil && event.causation == nil && event.producer == nil)
        #expect(event.contentType == nil && event.deadline == nil && event.headers.isEmpty)
    }

    @Test func generatesIDWhenGivenEmpty() throws {
        let request = PublishRequest(topic: "a", properties: Properties([("id", "")]), payload: [])
        #expect(try request.makeEvent { "g" }.event.id == "g")
    }

    @Test func publisherTimeIsIgnored() throws {
        let request = PublishRequest(topic: "a", properties: Properties([("time", "123")]), payload: [])
        #expect(try request.makeEvent { "g" }.event.time == 0)
    }

    @Test(arguments: ["seq", "topic", "attempt", "ids", "trace"])
    func unknownPropertyIsRejected(_ name: String) {
        let request = PublishRequest(topic: "a", properties: Properties([(name, "x")]), payload: [])
        let error = #expect(throws: ProtocolError.self) { try request.makeEvent { "g" } }
        #expect(error?.code == .invalidProperty)
        #expect(error?.message.contains(name) == true)
    }

    @Test(arguments: ["", "soon", "0", "-5", "1.5", "99999999999999999999"])
    func badDeadlineIsRejected(_ value: String) {
        let request = PublishRequest(topic: "a", properties: Properties([("deadline", value)]), payload: [])
        let error = #expect(throws: ProtocolError.self) { try request.makeEvent { "g" } }
        #expect(error?.code == .invalidProperty)
        #expect(error?.message.contains("deadline") == true)
    }
}
