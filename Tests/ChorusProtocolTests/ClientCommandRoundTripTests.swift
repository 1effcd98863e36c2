import ChorusProtocol
import Testing

@Suite("ClientCommand encode/decode round trip")
struct ClientCommandRoundTripTests {
    static let lease = Lease(seq: 42, token: 0xDEAD_BEEF_0000_0001)

    static let commands: [ClientCommand] = [
        .hello(requestID: bytes("r1"), properties: Properties([("client", "agent-a"), ("heartbeat", "1000")])),
        .hello(requestID: [], properties: Properties()),
        .publish(
            requestID: bytes("r2"),
            request: PublishRequest(
                topic: "jobs.text", properties: Properties([("correlation", "c-1"), ("key", "k-1"), ("h.X", "y")]),
                payload: [0, 1, 2, 0xFF])),
        .publish(requestID: bytes("r3"), request: PublishRequest(topic: "a", payload: [])),
        .publishMany(
            requestID: bytes("m1"),
            [
                PublishRequest(topic: "jobs.text", properties: Properties([("key", "k-1")]), payload: [1, 2]),
                PublishRequest(topic: "a", payload: []),
            ]),
        .subscribe(
            requestID: bytes("r4"), group: "workers", patterns: ["jobs.*", "audit.>"],
            properties: Properties([("start", "first"), ("credit", "10")])),
        .subscribe(requestID: bytes("r5"), group: "g.1:x@y", patterns: ["$dlq.>"], properties: Properties()),
        .unsubscribe(requestID: bytes("r6"), group: "workers"),
        .ack(requestID: bytes("r7"), group: "workers", leases: [lease]),
        .ack(
            requestID: [], group: "workers",
            leases: [lease, Lease(seq: 0, token: 0), Lease(seq: 9_999_999_999_999_999_999, token: .max)]),
        .nack(requestID: bytes("r8"), group: "workers", lease: lease, mode: .requeue, reason: "busy"),
        .nack(requestID: bytes("r9"), group: "workers", lease: lease, mode: .delay(milliseconds: 1500), reason: ""),
        .nack(requestID: [], group: "workers", lease: lease, mode: .reject, reason: "bad input: ✗"),
        .extend(requestID: bytes("r10"), group: "workers", lease: lease, milliseconds: 60_000),
        .extend(requestID: [], group: "workers", lease: lease, milliseconds: 0),
        .heartbeat(requestID: []),
        .heartbeat(requestID: bytes("hb")),
        .bye(requestID: []),
        .bye(requestID: Array(repeating: 0xAB, count: 255)),
    ]

    @Test(arguments: commands)
    func roundTrip(_ command: ClientCommand) throws {
        let frames = command.encode()
        #expect(frames[0] == bytes("CHORUS1"))
        #expect(frames[2] == command.requestID)
        let decoded = try ClientCommand.decode(frames[...])
        #expect(decoded == command)
        #expect(decoded.requestID == command.requestID)
    }

    @Test func decodesFromASliceThatDoesNotStartAtZero() throws {
        // The broker drops the routing envelope by slicing; indices then start above 0.
        let command = ClientCommand.unsubscribe(requestID: bytes("r"), group: "g")
        let withEnvelope = [bytes("identity"), []] + command.encode()
        #expect(try ClientCommand.decode(withEnvelope[2...]) == command)
    }

    @Test func commandNamesAreTheWireNames() {
        let names: [(ClientCommand, String)] = [
            (.hello(requestID: [], properties: Properties()), "HELLO"),
            (.publish(requestID: [], request: PublishRequest(topic: "a", payload: [])), "PUBLISH"),
            (.subscribe(requestID: [], group: "g", patterns: ["a"], properties: Properties()), "SUBSCRIBE"),
            (.unsubscribe(requestID: [], group: "g"), "UNSUBSCRIBE"),
            (.ack(requestID: [], group: "g", leases: [Self.lease]), "ACK"),
            (.nack(requestID: [], group: "g", lease: Self.lease, mode: .reject, reason: ""), "NACK"),
            (.extend(requestID: [], group: "g", lease: Self.lease, milliseconds: 1), "EXTEND"),
            (.heartbeat(requestID: []), "HEARTBEAT"),
            (.bye(requestID: []), "BYE"),
        ]
        for (command, name) in names {
            #expect(command.encode()[1] == bytes(name))
        }
    }

    @Test func frameCountsPerCommand() {
        #expect(ClientCommand.ack(requestID: [], group: "g", leases: [Self.lease, Self.lease]).encode().count == 8)
        #expect(ClientCommand.nack(requestID: [], group: "g", lease: Self.lease, mode: .reject, reason: "").encode().count == 8)
        #expect(ClientCommand.extend(requestID: [], group: "g", lease: Self.lease, milliseconds: 1).encode().count == 7)
        #expect(ClientCommand.heartbeat(requestID: []).encode().count == 3)
    }
}
