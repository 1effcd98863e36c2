import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A client for a server that speaks the OpenAI HTTP API: chat completions, image generation, speech.
///
/// Works with `transformers serve`, llama.cpp's `llama-server`, vLLM, LocalAI, Ollama's `/v1` and OpenAI itself.
/// Calls are synchronous: agents run generators on worker threads, and a blocking call with a hard deadline is
/// easier to reason about there than a task tree. Each request has a total deadline of `timeout` (URLSession's
/// own timeout only bounds the gap between packets, so a slow-but-steady server could otherwise hold us forever).
///
/// Requests sent (JSON, `Content-Type: application/json`, `Authorization: Bearer` when `apiKey` is set):
/// - `POST /v1/chat/completions` `{model, messages: [{role: "user", content}], max_tokens, temperature,
///   stream: false}` → `choices[0].message.content`
/// - `POST /v1/images/generations` `{model?, prompt, n: 1, size, response_format: "b64_json"}` →
///   base64-decoded `data[0].b64_json`
/// - `POST /v1/audio/speech` `{model?, input, voice, response_format: "wav"}` → the response body, a WAV file
public struct OpenAICompatibleGenerator: Sendable {
    /// The server's base URL, such as `http://127.0.0.1:8080`. A trailing `/v1` is accepted too.
    public let baseURL: URL
    /// The model name sent with each request; nil leaves it out (servers with one model often ignore it).
    public let model: String?
    /// Sent as `Authorization: Bearer KEY` when set.
    public let apiKey: String?
    /// The most one request may take, from sending to the last byte of the answer.
    public let timeout: Duration

    /// A client for the server at `baseURL`.
    public init(baseURL: URL, model: String? = nil, apiKey: String? = nil, timeout: Duration = .seconds(60)) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.timeout = timeout
    }

    /// Sends `prompt` as a single user message and returns the assistant's reply.
    ///
    /// - Throws: `GeneratorError` `.noServer`, `.timedOut`, `.httpStatus` (with the body's start), or
    ///   `.badResponse` when the reply has no text.
    public func chat(prompt: String, maxTokens: Int = 256, temperature: Double = 0.7) throws -> String {
        let request = ChatRequest(
            model: model, messages: [.init(role: "user", content: prompt)], maxTokens: maxTokens,
            temperature: temperature, stream: false)
        let body = try post("chat/completions", request)
        let reply: ChatResponse = try decode(body, from: "chat/completions")
        guard let content = reply.choices.first?.message.content else {
            throw GeneratorError(.badResponse, "\(endpoint("chat/completions")) returned no message content")
        }
        return content
    }

    /// Asks for one image of `size` (such as `512x512`) and returns its bytes (PNG from OpenAI; other servers
    /// may encode differently).
    ///
    /// - Throws: as `chat`, and `.badResponse` when the answer has no `b64_json` or it is not valid base64.
    public func image(prompt: String, size: String = "512x512") throws -> [UInt8] {
        let request = ImageRequest(model: model, prompt: prompt, n: 1, size: size, responseFormat: "b64_json")
        let body = try post("images/generations", request)
        let reply: ImageResponse = try decode(body, from: "images/generations")
        guard let encoded = reply.data.first?.b64JSON else {
            throw GeneratorError(.badResponse, "\(endpoint("images/generations")) returned no b64_json image")
        }
        guard let bytes = Data(base64Encoded: encoded, options: .ignoreUnknownCharacters) else {
            throw GeneratorError(.badResponse, "\(endpoint("images/generations")) returned invalid base64")
        }
        return [UInt8](bytes)
    }

    /// Speaks `text` with `voice` and returns a WAV file, validated with `WAVFile`.
    ///
    /// - Throws: as `chat`, and `.badResponse` when the body is not a WAV file (some servers ignore
    ///   `response_format` and send MP3).
    public func speech(text: String, voice: String = "alloy") throws -> [UInt8] {
        let request = SpeechRequest(model: model, input: text, voice: voice, responseFormat: "wav")
        let body = [UInt8](try post("audio/speech", request))
        do {
            _ = try WAVFile(parsing: body)
        } catch let error as GeneratorError {
            throw GeneratorError(.badResponse, "\(endpoint("audio/speech")) did not return WAV audio: \(error.message)")
        }
        return body
    }

    /// The URL of an API path such as `chat/completions`, under `/v1` whether or not `baseURL` ends with it.
    func endpoint(_ path: String) -> URL {
        var base = baseURL.absoluteString
        while base.hasSuffix("/") { base.removeLast() }
        if !base.hasSuffix("/v1") { base += "/v1" }
        return URL(string: "\(base)/\(path)") ?? baseURL.appendingPathComponent("v1/\(path)")
    }

    /// POSTs `body` as JSON and returns the response body of a 200 answer.
    private func post(_ path: String, _ body: some Encodable) throws -> Data {
        let url = endpoint(path)
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = try JSONEncoder().encode(body)
        request.timeoutInterval = timeout.timeInterval

        let outcome = Locked<(data: Data?, response: URLResponse?, error: (any Error)?)>((nil, nil, nil))
        let done = DispatchSemaphore(value: 0)
        let task = URLSession.shared.dataTask(with: request) { data, response, error in
            outcome.value = (data, response, error)
            done.signal()
        }
        task.resume()
        if done.wait(timeout: .now() + timeout.timeInterval) == .timedOut {
            task.cancel()
            throw GeneratorError(.timedOut, "no answer from \(url) within \(timeout.timeInterval) s")
        }
        let (data, response, error) = outcome.value
        if let error { throw Self.describe(error, url: url, timeout: timeout) }
        guard let http = response as? HTTPURLResponse else {
            throw GeneratorError(.badResponse, "\(url) did not answer with HTTP")
        }
        let bytes = data ?? Data()
        guard http.statusCode == 200 else {
            let excerpt = String(decoding: bytes.prefix(300), as: UTF8.self)
            throw GeneratorError(.httpStatus, "\(url) answered HTTP \(http.statusCode): \(excerpt)")
        }
        return bytes
    }

    private func decode<T: Decodable>(_ body: Data, from path: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: body)
        } catch {
            let excerpt = String(decoding: body.prefix(300), as: UTF8.self)
            throw GeneratorError(.badResponse, "\(endpoint(path)) returned unexpected JSON: \(excerpt)")
        }
    }

    private static func describe(_ error: any Error, url: URL, timeout: Duration) -> GeneratorError {
        let server = "\(url.scheme ?? "http")://\(url.host ?? "?")\(url.port.map { ":\($0)" } ?? "")"
        guard let urlError = error as? URLError else {
            return GeneratorError(.badResponse, "request to \(url) failed: \(error.localizedDescription)")
        }
        switch urlError.code {
        case .cannotConnectToHost, .cannotFindHost, .dnsLookupFailed, .notConnectedToInternet:
            return GeneratorError(.noServer, "no OpenAI-compatible server at \(server)")
        case .timedOut:
            return GeneratorError(.timedOut, "no answer from \(url) within \(timeout.timeInterval) s")
        default:
            return GeneratorError(.badResponse, "request to \(url) failed: \(urlError.localizedDescription)")
        }
    }
}

private struct ChatRequest: Encodable {
    struct Message: Codable {
        var role: String
        var content: String?
    }
    var model: String?
    var messages: [Message]
    var maxTokens: Int
    var temperature: Double
    var stream: Bool

    enum CodingKeys: String, CodingKey {
        case model, messages, temperature, stream
        case maxTokens = "max_tokens"
    }
}

private struct ChatResponse: Decodable {
    struct Choice: Decodable { var message: ChatRequest.Message }
    var choices: [Choice]
}

private struct ImageRequest: Encodable {
    var model: String?
    var prompt: String
    var n: Int
    var size: String
    var responseFormat: String

    enum CodingKeys: String, CodingKey {
        case model, prompt, n, size
        case responseFormat = "response_format"
    }
}

private struct ImageResponse: Decodable {
    struct Item: Decodable {
        var b64JSON: String?
        enum CodingKeys: String, CodingKey { case b64JSON = "b64_json" }
    }
    var data: [Item]
}

private struct SpeechRequest: Encodable {
    var model: String?
    var input: String
    var voice: String
    var responseFormat: String

    enum CodingKeys: String, CodingKey {
        case model, input, voice
        case responseFormat = "response_format"
    }
}
