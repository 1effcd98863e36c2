import ChorusGenerators
import Foundation
import Logging

/// Builds the handler for a manifest's `[generator]`: built in, an external command, or an OpenAI-compatible
/// server. Errors a retry could fix (a server not answering) are retryable; the rest are permanent.
public enum GeneratorHandler {
    /// `logger` hears about settings that will not work as their author meant (an API key variable not set).
    public static func make(_ g: AgentManifest.Generator, logger: Logger) throws -> AgentHandler {
        let timeout = Duration.milliseconds(g.timeoutMilliseconds)
        switch g.kind {
        case .builtinText:
            let generator = TextGenerator()
            return { job in
                AgentOutput(payload: Array(generator.generate(prompt: job.prompt).utf8), contentType: "text/plain; charset=utf-8",
                            headers: ["engine": "chorus-builtin-text"])
            }
        case .builtinImage:
            let generator = ImageGenerator(width: g.width, height: g.height)
            return { job in
                AgentOutput(payload: generator.generate(prompt: job.prompt), contentType: "image/png", headers: ["engine": "chorus-builtin-image"])
            }
        case .builtinSpeech:
            let synthesizer = SpeechSynthesizer(timeout: timeout)
            let voice = g.voice
            let speed = g.speed
            return { job in
                do {
                    return AgentOutput(
                        payload: try synthesizer.synthesize(text: job.prompt, voice: voice, speed: speed), contentType: "audio/wav",
                        headers: ["engine": "espeak-ng"])
                } catch {
                    throw AgentFailure.permanent("\(error)")
                }
            }
        case .command:
            let generator = ExternalCommandGenerator(command: g.command, timeout: timeout)
            let type = g.contentType ?? "application/octet-stream"
            return { job in
                do {
                    return AgentOutput(payload: try generator.generate(job.event.payload), contentType: type, headers: ["engine": g.command[0]])
                } catch {
                    throw AgentFailure.permanent("\(error)")
                }
            }
        case .openaiChat, .openaiImage, .openaiSpeech:
            guard let url = URL(string: g.url ?? "") else { throw AgentFailure.permanent("generator.url is not a URL") }
            let apiKey = g.apiKeyEnvironment.flatMap { ProcessInfo.processInfo.environment[$0] }.flatMap { $0.isEmpty ? nil : $0 }
            if let name = g.apiKeyEnvironment, apiKey == nil {
                // Local servers need no key, so this is not an error; but naming a variable that is not set is
                // most likely a shell that forgot to export it, and the 401s would come much later.
                logger.warning("generator.api_key_env names \(name), which is not set (or empty) in this agent's environment; requests go without an Authorization header")
            }
            let client = OpenAICompatibleGenerator(baseURL: url, model: g.model, apiKey: apiKey, timeout: timeout)
            let kind = g.kind
            let voice = g.voice ?? "alloy"
            let maxTokens = g.maxTokens
            let size = "\(g.width)x\(g.height)"
            return { job in
                do {
                    switch kind {
                    case .openaiChat:
                        return AgentOutput(payload: Array(try client.chat(prompt: job.prompt, maxTokens: maxTokens).utf8),
                                           contentType: "text/plain; charset=utf-8", headers: ["engine": g.model ?? "openai-chat"])
                    case .openaiImage:
                        return AgentOutput(payload: try client.image(prompt: job.prompt, size: size), contentType: "image/png",
                                           headers: ["engine": g.model ?? "openai-image"])
                    default:
                        return AgentOutput(payload: try client.speech(text: job.prompt, voice: voice), contentType: "audio/wav",
                                           headers: ["engine": g.model ?? "openai-speech"])
                    }
                } catch let error as GeneratorError {
                    // A server that is down or slow may come back; a bad request will not.
                    if error.code == .noServer || error.code == .timedOut { throw AgentFailure.retryable(error.description) }
                    throw AgentFailure.permanent(error.description)
                }
            }
        }
    }
}
