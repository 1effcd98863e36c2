import ChorusConfig
@testable import ChorusBroker
import ChorusProtocol
import ChorusStore
import Foundation
import Testing

/// The merged record byte for byte (docs/JOINS.md, "The merged record"): keys in their documented order, each
/// part status written as documented, payloads embedded or referenced.
@Suite struct MergedRecordTests {
    static let definition = try! JoinStateTests.definition(optional: ["audio"])

    static let events: [UInt64: Event] = [
        1: Event(seq: 1, id: "req-1", topic: "req", correlation: "c", time: 100, contentType: "application/json", payload: Array(#" {"prompt": "a cat"} "#.utf8)),
        2: Event(seq: 2, id: "res-2", topic: "res.text", correlation: "c", producer: "text-agent", time: 110, contentType: "text/plain",
                 headers: [("attempt", "2"), ("engine", "builtin")], payload: Array("a \"quoted\" cat".utf8)),
        3: Event(seq: 3, id: "res-3", topic: "res.image", correlation: "c", producer: "image-agent", time: 120, contentType: "image/png",
                 headers: [("blob", String(repeating: "ab", count: 32)), ("blob-size", "5000"), ("blob-type", "image/png")], payload: []),
    ]

    func record(_ state: JoinState, _ outcome: JoinState.Outcome, reason: String) -> String {
        let bytes = MergedRecord.build(definition: Self.definition, state: state, outcome: outcome, reason: reason, closedAt: 150) { Self.events[$0].map { LogEntry($0) } }
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func aCompleteRecordEmbedsTextAndJSONAndReferencesBlobs() throws {
        var s = JoinStateTests.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: nil, definition: Self.definition)
        _ = s.receive(part: 1, seq: 3, at: 120, error: nil, definition: Self.definition)
        let text = record(s, .complete, reason: "all required parts succeeded")
        let hash = String(repeating: "ab", count: 32)
        let expected = #"{"join":"media","correlation":"c","status":"complete","reason":"all required parts succeeded","opened_at":100,"closed_at":150,"duration_ms":50,"#
            + #""request":{"seq":1,"id":"req-1","topic":"req","size":21,"time":100,"content_type":"application/json","payload":{"prompt": "a cat"}},"#
            + #""parts":[{"name":"text","required":true,"status":"ok","received_at":110,"after_ms":10,"seq":2,"id":"res-2","topic":"res.text","size":14,"time":110,"producer":"text-agent","content_type":"text/plain","attempt":2,"engine":"builtin","text":"a \"quoted\" cat"},"#
            + #"{"name":"image","required":true,"status":"ok","received_at":120,"after_ms":20,"seq":3,"id":"res-3","topic":"res.image","size":0,"time":120,"producer":"image-agent","content_type":"image/png","blob":{"sha256":"\#(hash)","size":5000,"media_type":"image/png"}},"#
            + #"{"name":"audio","required":false,"status":"missing"}],"missing":["audio"],"failed":[]}"#
        #expect(text == expected)
        #expect(JSONSyntax.isValid(Array(text.utf8)), "not JSON: \(text)")
    }

    @Test func failedAndTimedOutPartsSayWhy() throws {
        var s = JoinStateTests.state()
        _ = s.receive(part: 0, seq: 0, at: 111, error: "dead-lettered in group g: \"boom\"", definition: Self.definition)
        _ = s.partTimedOut(2, at: 140, definition: Self.definition)
        let text = record(s, .failed, reason: "r")
        #expect(text.contains(#"{"name":"text","required":true,"status":"failed","error":"dead-lettered in group g: \"boom\"","received_at":111,"after_ms":11},"#))
        #expect(text.contains(#"{"name":"image","required":true,"status":"missing"}"#))
        #expect(text.contains(#"{"name":"audio","required":false,"status":"timeout","timed_out_at":140}"#))
        #expect(text.hasSuffix(#""missing":["image","audio"],"failed":["text"]}"#))
        #expect(JSONSyntax.isValid(Array(text.utf8)), "not JSON: \(text)")
    }

    /// Text payloads: ASCII is escaped from the bytes, other valid UTF-8 goes through String, invalid UTF-8 is
    /// left out (the record must stay JSON).
    @Test(arguments: [
        (Array("tab\there \u{1}".utf8), #""text":"tab\there \u0001""#),
        (Array("café ☕".utf8), #""text":"café ☕""#),
        ([0x61, 0xFF, 0x62], nil),
    ] as [([UInt8], String?)])
    func textPartsAreEmbeddedOnlyWhenValidUTF8(payload: [UInt8], expected: String?) throws {
        var events = Self.events
        events[2]?.payload = payload
        var s = JoinStateTests.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: nil, definition: Self.definition)
        let bytes = MergedRecord.build(definition: Self.definition, state: s, outcome: .partial, reason: "r", closedAt: 150) { events[$0].map { LogEntry($0) } }
        let text = String(decoding: bytes, as: UTF8.self)
        if let expected {
            #expect(text.contains(#""engine":"builtin","# + expected + "}"), "\(text)")
        } else {
            #expect(text.contains(#""engine":"builtin"},"#), "\(text)")
        }
        #expect(JSONSyntax.isValid(bytes), "not JSON: \(text)")
    }

    /// A join's `embed_limit`: payloads up to it are embedded, larger ones only named; at 0 none is, the
    /// request's JSON included. The text part is 14 bytes and the request 21.
    @Test(arguments: [
        (65536, true, true), (21, true, true), (20, true, false), (14, true, false), (13, false, false), (0, false, false),
    ])
    func payloadsAreEmbeddedUpToTheJoinsEmbedLimit(limit: Int, embedsText: Bool, embedsRequest: Bool) throws {
        var definition = Self.definition
        definition.embedLimit = limit
        var s = JoinStateTests.state()
        _ = s.receive(part: 0, seq: 2, at: 110, error: nil, definition: definition)
        let bytes = MergedRecord.build(definition: definition, state: s, outcome: .partial, reason: "r", closedAt: 150) { Self.events[$0].map { LogEntry($0) } }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains(#""text":"a \"quoted\" cat""#) == embedsText, "\(text)")
        #expect(text.contains(#""payload":{"prompt": "a cat"}"#) == embedsRequest, "\(text)")
        #expect(text.contains(#""seq":2,"id":"res-2","topic":"res.text","size":14,"#), "the part is named whatever the limit: \(text)")
        #expect(JSONSyntax.isValid(bytes), "not JSON: \(text)")
    }

    @Test func theEmbedLimitIsReadFromTheJoinsSectionAndChecked() throws {
        func join(_ line: String) throws -> JoinDefinition {
            try #require(try BrokerConfig.parse(text: "[joins.m]\nopen = \"a\"\nemit = \"b\"\n\(line)\n[joins.m.parts.p]\ntopic = \"c\"\n", file: "t.toml").joins.first)
        }
        #expect(try join("").embedLimit == 65536, "the default: 64 KiB, as before the key")
        #expect(try join("embed_limit = 0").embedLimit == 0)
        #expect(try join("embed_limit = 4096").embedLimit == 4096)
        for bad in ["embed_limit = 65537", "embed_limit = -1"] {
            let error = #expect(throws: ConfigError.self) { try join(bad) }
            #expect(error?.key == "joins.m.embed_limit" && error?.file == "t.toml", "\(String(describing: error))")
        }
    }

    @Test func aRequestNoLongerInTheLogIsLeftOutAndTheRecordStaysJSON() throws {
        let bytes = MergedRecord.build(definition: Self.definition, state: JoinStateTests.state(), outcome: .partial, reason: "timeout", closedAt: 150) { _ in nil }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(!text.contains("\"request\""))
        #expect(text.contains(#""duration_ms":50,"parts":["#))
        #expect(JSONSyntax.isValid(Array(text.utf8)), "not JSON: \(text)")
    }
}
