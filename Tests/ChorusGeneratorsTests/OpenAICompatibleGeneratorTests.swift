import ChorusGenerators
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A stand-in OpenAI server in Python's standard library, listening on 127.0.0.1 with a port the kernel picks.
///
/// It answers the three endpoints with canned data that echoes the request, so tests can check both directions.
/// The model name steers errors: "error-500" answers HTTP 500, "slow" waits 5 s, "no-content" returns a chat
/// reply without text, "mp3" returns non-WAV speech.
final class FakeOpenAIServer {
    static let script = #"""
        import base64, http.server, io, json, sys, time, wave

        def wav_bytes(seconds):
            buf = io.BytesIO()
            with wave.open(buf, 'wb') as w:
                w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000); w.writeframes(b'\0\0' * int(16000 * seconds))
            return buf.getvalue()

        PNG = open(sys.argv[1], 'rb').read()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def send(self, status, body, kind='application/json'):
                if not isinstance(body, bytes): body = json.dumps(body).encode()
                self.send_response(status); self.send_header('Content-Type', kind)
                self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
            def do_POST(self):
                req = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                model = req.get('model')
                if model == 'error-500': return self.send(500, {'error': {'message': 'model exploded'}})
                if model == 'slow': time.sleep(5)
                auth = self.headers.get('Authorization', '')
                if self.path == '/v1/chat/completions':
                    if model == 'no-content': return self.send(200, {'choices': [{'message': {'role': 'assistant', 'content': None}}]})
                    text = 'echo: %s | max_tokens=%s temperature=%s model=%s auth=%s' % (req['messages'][0]['content'],
                        req['max_tokens'], req['temperature'], model, auth)
                    return self.send(200, {'id': 'x', 'object': 'chat.completion',
                        'choices': [{'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': 'stop'}]})
                if self.path == '/v1/images/generations':
                    ok = req['prompt'] and req['size'] == '64x64' and req['response_format'] == 'b64_json'
                    if not ok: return self.send(400, {'error': 'bad request %r' % req})
                    return self.send(200, {'created': 0, 'data': [{'b64_json': base64.b64encode(PNG).decode()}]})
                if self.path == '/v1/audio/speech':
                    if model == 'mp3': return self.send(200, b'ID3\x03\x00\x00\x00', 'audio/mpeg')
                    ok = req['input'] and req['voice'] and req['response_format'] == 'wav'
                    if not ok: return self.send(400, {'error': 'bad request %r' % req})
                    return self.send(200, wav_bytes(0.5), 'audio/wav')
                self.send(404, {'error': 'no route ' + self.path})

        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()
        """#

    let process = Process()
    let dir = TempDir()
    let port: Int

    init(png: [UInt8]) throws {
        let scriptPath = dir.write("server.py", bytes(Self.script))
        let pngPath = dir.write("image.png", png)
        let stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: Tools.which("python3") ?? "/usr/bin/python3")
        process.arguments = [scriptPath, pngPath]
        process.standardOutput = stdout
        try process.run()
        // The first line is the port; reading blocks until the server has bound, so no polling is needed.
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        guard port > 0 else {
            stop()
            throw GeneratorError(.badResponse, "fake server did not print its port")
        }
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    func stop() {
        // SIGKILL, not terminate(): Foundation's Process hands the test thread's blocked SIGTERM to the child
        // (swift-corelibs-foundation #4772), so python would never see a SIGTERM.
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        dir.remove()
    }
}

@Suite("OpenAI-compatible HTTP generator")
struct OpenAICompatibleGeneratorTests {
    static let png = PNGEncoder.encode(width: 2, height: 2, pixels: [UInt8](repeating: 128, count: 12))

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func chatSendsPromptAndReturnsAssistantText() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        let client = OpenAICompatibleGenerator(baseURL: server.url, model: "smol", apiKey: "k1", timeout: .seconds(20))
        let text = try client.chat(prompt: "What is Chorus?", maxTokens: 32, temperature: 0.25)
        #expect(text == "echo: What is Chorus? | max_tokens=32 temperature=0.25 model=smol auth=Bearer k1")
    }

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func baseURLMayIncludeV1() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        let client = OpenAICompatibleGenerator(baseURL: server.url.appendingPathComponent("v1/"), timeout: .seconds(20))
        #expect(try client.chat(prompt: "hi").hasPrefix("echo: hi"))
    }

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func imageDecodesBase64() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        let client = OpenAICompatibleGenerator(baseURL: server.url, timeout: .seconds(20))
        #expect(try client.image(prompt: "a cat", size: "64x64") == Self.png)
    }

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func speechReturnsWAV() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        let client = OpenAICompatibleGenerator(baseURL: server.url, model: "tts-1", timeout: .seconds(20))
        let wav = try WAVFile(parsing: try client.speech(text: "hello", voice: "alloy"))
        #expect(wav.duration == 0.5 && wav.sampleRate == 16000)
    }

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func errorsAreSpecific() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        func code(_ model: String, _ call: (OpenAICompatibleGenerator) throws -> Void) -> GeneratorError? {
            do {
                try call(OpenAICompatibleGenerator(baseURL: server.url, model: model, timeout: .seconds(20)))
                return nil
            } catch {
                return error as? GeneratorError
            }
        }
        let status = code("error-500") { _ = try $0.chat(prompt: "x") }
        #expect(status?.code == .httpStatus)
        #expect(status?.message.contains("HTTP 500") == true && status?.message.contains("model exploded") == true)
        #expect(code("no-content") { _ = try $0.chat(prompt: "x") }?.code == .badResponse)
        #expect(code("mp3") { _ = try $0.speech(text: "x") }?.code == .badResponse)
        // The fake answers 400 when the size is not the one it expects.
        #expect(code("m") { _ = try $0.image(prompt: "x", size: "1x1") }?.code == .httpStatus)
    }

    @Test(.enabled(if: Tools.python, "python3 is not installed"))
    func slowServerTimesOut() throws {
        let server = try FakeOpenAIServer(png: Self.png)
        defer { server.stop() }
        let client = OpenAICompatibleGenerator(baseURL: server.url, model: "slow", timeout: .milliseconds(500))
        let start = Date()
        #expect {
            try client.chat(prompt: "x")
        } throws: { error in
            (error as? GeneratorError)?.code == .timedOut
        }
        #expect(Date().timeIntervalSince(start) < 4)
    }

    @Test func connectionRefusedNamesTheURL() {
        // Port 1 (tcpmux) is privileged and unused, so connecting to it on loopback is refused at once.
        let client = OpenAICompatibleGenerator(baseURL: URL(string: "http://127.0.0.1:1")!, timeout: .seconds(10))
        #expect(throws: GeneratorError(.noServer, "no OpenAI-compatible server at http://127.0.0.1:1")) {
            try client.chat(prompt: "x")
        }
    }
}
