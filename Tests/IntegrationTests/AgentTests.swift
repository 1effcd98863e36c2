import ChorusClient
import ChorusProtocol
import Foundation
import Testing

/// Real agent processes (`chorus agent`) with the real generators, a real broker, and real requests.
@Suite struct AgentTests {
    static let joinConfig = """
        [joins.media]
        open = "gen.request"
        emit = "gen.merged"
        timeout = "20s"
        [joins.media.parts.text]
        topic = "gen.result.text"
        group = "text"
        [joins.media.parts.image]
        topic = "gen.result.image"
        group = "image"
        [joins.media.parts.audio]
        topic = "gen.result.audio"
        group = "audio"
        """

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Starts `chorus agent` with a manifest from agents/ or written here, with `environment` added to the test's own.
    static func agent(_ broker: BrokerProcess, manifest: String, label: String, environment: [String: String] = [:]) throws -> ChildProcess {
        try broker.client(["agent", manifest, "--log-level", "info"], label: label, environment: environment)
    }

    static func writeManifest(_ broker: BrokerProcess, _ name: String, _ text: String) throws -> String {
        let path = broker.directory.file("\(name).toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func waitSubscribed(_ agents: [ChildProcess]) -> Bool {
        waitUntil(20) { agents.allSatisfy { $0.stderr.contains("subscribed") } }
    }

    static func record(_ e: Event) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(e.payload)) as? [String: Any])
    }

    static func part(_ r: [String: Any], _ name: String) -> [String: Any]? {
        (r["parts"] as? [[String: Any]])?.first { $0["name"] as? String == name }
    }

    @Test func threeAgentsAndARequestGiveACompleteRecordWithAPlayableWAVAndADecodablePNG() throws {
        let broker = try BrokerProcess(config: Self.joinConfig)
        defer { broker.stop() }
        let agents = try ["text", "image", "audio"].map {
            try Self.agent(broker, manifest: Self.repositoryRoot.appendingPathComponent("agents/\($0).toml").path, label: "agent-\($0)")
        }
        defer { agents.forEach { $0.terminate() } }
        #expect(Self.waitSubscribed(agents), "agents did not subscribe: \(agents.map(\.stderr))")
        let out = broker.directory.file("out")
        let request = try broker.client(
            ["request", "gen.request", "--data", "{\"prompt\":\"a red fox in the snow\"}", "--correlation", "fox-1", "--wait", "20", "--save", out],
            label: "request")
        #expect(request.waitForExit(30) == 0, "request failed: \(request.stderr)")
        let r = try #require(try JSONSerialization.jsonObject(with: Data(request.stdout.utf8)) as? [String: Any])
        #expect(r["status"] as? String == "complete")
        #expect(r["correlation"] as? String == "fox-1")
        for name in ["text", "image", "audio"] {
            let p = try #require(Self.part(r, name))
            #expect(p["status"] as? String == "ok")
            #expect(p["producer"] as? String == "\(name)-agent")
        }
        #expect(((Self.part(r, "text")?["text"] as? String) ?? "").count > 20)
        // The WAV plays: a RIFF/WAVE header with PCM and a non-zero duration.
        let wav = try #require(FileManager.default.contents(atPath: out + "/audio.wav"))
        let info = try WAVHeaderCheck(Array(wav))
        #expect(info.duration > 0.3)
        #expect(info.sampleRate > 8000)
        // The PNG decodes: signature, IHDR of 512 x 512, and the deflate stream inflates to the right size.
        let png = try #require(FileManager.default.contents(atPath: out + "/image.png"))
        let decoded = try PNGCheck(Array(png))
        #expect(decoded.width == 512 && decoded.height == 512)
        #expect(decoded.inflatedBytes == 512 * (512 * 3 + 1))
        // The artifacts are content-addressed blobs: fetching by hash gives the same bytes.
        let hash = try #require((Self.part(r, "image")?["blob"] as? [String: Any])?["sha256"] as? String)
        let got = try broker.connect().getBlob(hash)
        #expect(got.content == Array(png))
        #expect(got.mediaType == "image/png")
    }

    @Test func aMissingAgentGivesAPartialRecordNamingIt() throws {
        let broker = try BrokerProcess(config: Self.joinConfig.replacingOccurrences(of: "timeout = \"20s\"", with: "timeout = \"2s\""))
        defer { broker.stop() }
        let agents = try ["text", "image"].map {
            try Self.agent(broker, manifest: Self.repositoryRoot.appendingPathComponent("agents/\($0).toml").path, label: "agent-\($0)")
        }
        defer { agents.forEach { $0.terminate() } }
        #expect(Self.waitSubscribed(agents))
        let c = try broker.connect()
        let seq = try c.publish(topic: "gen.request", payload: Array("{\"prompt\":\"quiet\"}".utf8), properties: Properties([("correlation", "q-1")])).seq
        let merged = try #require(try c.awaitEvent(correlation: "q-1", pattern: "@reply", afterSeq: seq, timeoutMilliseconds: 15_000))
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "partial")
        #expect(r["missing"] as? [String] == ["audio"])
        // chorus request --wait says so on standard error (the JSON alone is easy to misread as success).
        let request = try broker.client(["request", "gen.request", "--data", "{\"prompt\":\"quiet\"}", "--correlation", "q-2", "--wait", "15"], label: "request")
        #expect(request.waitForExit(25) == 0, "\(request.stderr)")
        #expect(request.stderr.contains("chorus request: the join closed partial: timeout after 2000 ms; missing: audio (chorus inspect q-2 tells why)"), "\(request.stderr)")
        #expect(!request.stdout.contains("\\/"), "slashes escaped: \(request.stdout)")
    }

    @Test func aFailingAgentGivesAFailedPart() throws {
        let broker = try BrokerProcess(config: Self.joinConfig)
        defer { broker.stop() }
        let broken = try Self.writeManifest(broker, "broken", """
            [agent]
            name = "broken-audio"
            group = "audio"
            topics = ["gen.request"]
            result_topic = "gen.result.audio"
            [generator]
            kind = "command"
            command = ["/bin/sh", "-c", "echo 'the model weights are missing' >&2; exit 3"]
            """)
        let agents = [
            try Self.agent(broker, manifest: broken, label: "broken"),
            try Self.agent(broker, manifest: Self.repositoryRoot.appendingPathComponent("agents/text.toml").path, label: "text"),
        ]
        defer { agents.forEach { $0.terminate() } }
        #expect(Self.waitSubscribed(agents))
        let c = try broker.connect()
        let seq = try c.publish(topic: "gen.request", payload: Array("{\"prompt\":\"x\"}".utf8), properties: Properties([("correlation", "f-1")])).seq
        let merged = try #require(try c.awaitEvent(correlation: "f-1", pattern: "@reply", afterSeq: seq, timeoutMilliseconds: 15_000))
        let r = try Self.record(merged)
        #expect(r["status"] as? String == "failed")
        let audio = try #require(Self.part(r, "audio"))
        #expect(audio["status"] as? String == "failed")
        #expect((audio["error"] as? String)?.contains("weights are missing") == true)
    }

    /// `api_key_env` naming a variable the agent's environment lacks is most likely a forgotten export: the
    /// agent says so when it starts (not at the first 401), and does not when the variable is there.
    @Test func anAPIKeyVariableThatIsNotSetIsWarnedAboutAtStart() throws {
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let manifest = try Self.writeManifest(broker, "remote", """
            [agent]
            name = "remote-text"
            group = "text"
            topics = ["gen.request"]
            result_topic = "gen.result.text"
            [generator]
            kind = "openai-chat"
            url = "http://127.0.0.1:9"
            api_key_env = "CHORUS_TEST_API_KEY"
            """)
        let unset = try Self.agent(broker, manifest: manifest, label: "unset", environment: ["CHORUS_TEST_API_KEY": ""])
        defer { unset.terminate() }
        #expect(Self.waitSubscribed([unset]), "\(unset.stderr)")
        #expect(unset.stderr.contains("generator.api_key_env names CHORUS_TEST_API_KEY, which is not set"))
        let set = try Self.agent(broker, manifest: manifest, label: "set", environment: ["CHORUS_TEST_API_KEY": "sk-test"])
        defer { set.terminate() }
        #expect(Self.waitSubscribed([set]), "\(set.stderr)")
        #expect(!set.stderr.contains("api_key_env"))
    }

    /// The broker's limits come in WELCOME, and the agent runtime keeps to them: a result under the manifest's
    /// inline limit but over the broker's max-payload goes by claim check (not refused as PAYLOAD_TOO_LARGE), and
    /// one over max-blob becomes an error result without being sent.
    @Test func resultsKeepToTheLimitsTheBrokerAnnounces() throws {
        let broker = try BrokerProcess(config: "[storage]\nmax_payload = 2048\nmax_blob = 300000\n")
        defer { broker.stop() }
        let c = try broker.connect()
        let welcome = try c.hello(name: "limits-test")
        #expect(welcome["max-payload"] == "2048")
        #expect(welcome["max-blob"] == "300000")
        func manifest(_ name: String, bytes: Int) throws -> String {
            try Self.writeManifest(broker, name, """
                [agent]
                name = "\(name)"
                group = "\(name)"
                topics = ["limits.\(name)"]
                result_topic = "limits.\(name).result"
                inline_limit = 1000000
                [generator]
                kind = "command"
                command = ["/bin/sh", "-c", "head -c \(bytes) /dev/zero"]
                content_type = "application/octet-stream"
                """)
        }
        let agents = [
            try Self.agent(broker, manifest: try manifest("medium", bytes: 5000), label: "medium"),
            try Self.agent(broker, manifest: try manifest("huge", bytes: 400_000), label: "huge"),
        ]
        defer { agents.forEach { $0.terminate() } }
        #expect(Self.waitSubscribed(agents))
        func result(_ name: String) throws -> Event {
            let seq = try c.publish(topic: "limits.\(name)", payload: Array("{\"prompt\":\"x\"}".utf8), properties: Properties([("correlation", "lim-\(name)")])).seq
            return try #require(try c.awaitEvent(correlation: "lim-\(name)", pattern: "limits.\(name).result", afterSeq: seq, timeoutMilliseconds: 15_000))
        }
        let medium = try result("medium")
        #expect(medium.header("status") == "ok")
        #expect(medium.payload.isEmpty)
        #expect(medium.header("blob-size") == "5000")
        let hash = try #require(medium.header("blob"))
        #expect(try c.getBlob(hash).content == [UInt8](repeating: 0, count: 5000))
        let huge = try result("huge")
        #expect(huge.header("status") == "error")
        #expect(huge.header("error")?.contains("max-blob of 300000") == true)
        #expect(huge.header("blob") == nil)
    }

    @Test func anAgentKilledMidJobHasItsJobRedeliveredToAnotherMember() throws {
        let broker = try BrokerProcess(config: Self.joinConfig)
        defer { broker.stop() }
        // A slow text agent: the job takes 3 s, long enough to kill the process holding it.
        let slow = """
            [agent]
            name = "NAME"
            group = "text"
            topics = ["gen.request"]
            result_topic = "gen.result.text"
            [generator]
            kind = "command"
            content_type = "text/plain"
            command = ["/bin/sh", "-c", "sleep 3; echo slow answer"]
            """
        let first = try Self.agent(broker, manifest: try Self.writeManifest(broker, "slow-1", slow.replacingOccurrences(of: "NAME", with: "slow-1")), label: "slow-1")
        #expect(Self.waitSubscribed([first]))
        let c = try broker.connect()
        let seq = try c.publish(topic: "gen.request", payload: Array("{\"prompt\":\"x\"}".utf8), properties: Properties([("correlation", "k-1")])).seq
        // The first agent, the only member, holds the job (its group lists it as a first delivery in flight); then a
        // second member starts and the first dies.
        let db = broker.directory.file("data/chorus.sqlite")
        #expect(waitUntil(10) { (try? sqlite(db, "select in_flight from groups where name = 'text'")) == ["\(seq)"] })
        let second = try Self.agent(broker, manifest: try Self.writeManifest(broker, "slow-2", slow.replacingOccurrences(of: "NAME", with: "slow-2")), label: "slow-2")
        defer { second.terminate() }
        #expect(Self.waitSubscribed([second]))
        first.kill9()
        let text = try #require(try c.awaitEvent(correlation: "k-1", pattern: "gen.result.text", afterSeq: seq, timeoutMilliseconds: 20_000))
        #expect(text.producer == "slow-2")
        #expect(text.headers.contains { $0.name == "attempt" && $0.value == "2" })
    }

    @Test func sigtermDrainsAnAgentThatFinishesItsJobFirst() throws {
        let broker = try BrokerProcess(config: Self.joinConfig)
        defer { broker.stop() }
        let manifest = try Self.writeManifest(broker, "drain", """
            [agent]
            name = "drainer"
            group = "text"
            topics = ["gen.request"]
            result_topic = "gen.result.text"
            [generator]
            kind = "command"
            content_type = "text/plain"
            command = ["/bin/sh", "-c", "sleep 1; echo finished"]
            """)
        let agent = try Self.agent(broker, manifest: manifest, label: "drain")
        #expect(Self.waitSubscribed([agent]))
        let c = try broker.connect()
        let seq = try c.publish(topic: "gen.request", payload: [], properties: Properties([("correlation", "d-1")])).seq
        #expect(waitUntil(10) { (try? sqlite(broker.directory.file("data/chorus.sqlite"), "select in_flight from groups where name = 'text'")) == ["\(seq)"] })
        agent.process.terminate()
        #expect(agent.waitForExit(15) == 0, "\(agent.stderr)")
        let result = try #require(try c.awaitEvent(correlation: "d-1", pattern: "gen.result.text", afterSeq: seq, timeoutMilliseconds: 5000))
        #expect(String(decoding: result.payload, as: UTF8.self).contains("finished"))
        #expect(agent.stderr.contains("draining"))
    }
}

/// The header of a WAV file, parsed independently of the generator's own parser.
struct WAVHeaderCheck {
    let sampleRate: Int
    let duration: Double

    init(_ b: [UInt8]) throws {
        func u32(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 | Int(b[i + 2]) << 16 | Int(b[i + 3]) << 24 }
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        guard b.count > 44, b[0..<4] == [0x52, 0x49, 0x46, 0x46], b[8..<12] == [0x57, 0x41, 0x56, 0x45] else { throw TestFailure("not RIFF/WAVE") }
        var i = 12
        var rate = 0, byteRate = 0, dataLength = 0
        while i + 8 <= b.count {
            let id = String(decoding: b[i..<i + 4], as: UTF8.self)
            let size = u32(i + 4)
            if id == "fmt " {
                guard u16(i + 8) == 1 else { throw TestFailure("not PCM") }
                rate = u32(i + 12)
                byteRate = u32(i + 16)
            } else if id == "data" {
                dataLength = min(size, b.count - i - 8)
                break
            }
            i += 8 + size + (size & 1)
        }
        guard rate > 0, byteRate > 0, dataLength > 0 else { throw TestFailure("no fmt or data chunk") }
        sampleRate = rate
        duration = Double(dataLength) / Double(byteRate)
    }
}

/// Checks a PNG: signature, IHDR, and that its IDAT stream inflates (zlib through python3's standard library).
struct PNGCheck {
    let width: Int
    let height: Int
    let inflatedBytes: Int

    init(_ b: [UInt8]) throws {
        guard b.count > 33, b[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { throw TestFailure("no PNG signature") }
        func u32(_ i: Int) -> Int { Int(b[i]) << 24 | Int(b[i + 1]) << 16 | Int(b[i + 2]) << 8 | Int(b[i + 3]) }
        width = u32(16)
        height = u32(20)
        var idat: [UInt8] = []
        var i = 8
        while i + 8 <= b.count {
            let length = u32(i)
            let type = String(decoding: b[i + 4..<i + 8], as: UTF8.self)
            if type == "IDAT" { idat += b[i + 8..<i + 8 + length] }
            i += 12 + length
        }
        let dir = TempDir()
        defer { dir.remove() }
        try Data(idat).write(to: URL(fileURLWithPath: dir.file("idat")))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import zlib,sys; print(len(zlib.decompress(open(sys.argv[1],'rb').read())))", dir.file("idat")]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0, let n = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw TestFailure("IDAT does not inflate") }
        inflatedBytes = n
    }
}
