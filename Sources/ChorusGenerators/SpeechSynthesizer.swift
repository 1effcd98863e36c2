import Foundation

/// Speaks text into a WAV file with eSpeak NG (`espeak-ng`), run as a separate process.
///
/// eSpeak NG is a formant synthesiser: fast (tens of milliseconds a sentence), preinstalled on our Debian images, and
/// clearly robotic. Its output is 16-bit mono PCM at 22,050 Hz. The text goes to espeak-ng on stdin
/// (`--stdin`), never as an argument, so text that starts with `-` cannot be read as an option.
public struct SpeechSynthesizer: Sendable {
    /// The espeak-ng executable: a path, or a name looked up on PATH.
    public let executable: String
    /// How long one synthesis may take before espeak-ng is killed.
    public let timeout: Duration

    /// A synthesiser that runs `executable`.
    public init(executable: String = "espeak-ng", timeout: Duration = .seconds(30)) {
        self.executable = executable
        self.timeout = timeout
    }

    /// Whether the executable can be found, so callers and tests can check before relying on it.
    public var isAvailable: Bool { CommandRunner.resolve(executable) != nil }

    /// Speaks `text` and returns the WAV file's bytes, already validated with `WAVFile`.
    ///
    /// - Parameters:
    ///   - voice: an espeak-ng voice such as `en-us` or `en+f3` (`espeak-ng --voices` lists them); nil for the
    ///     default.
    ///   - speed: words per minute, 80...450 (espeak-ng's default is 175); nil for the default.
    /// - Throws: `GeneratorError` `.notInstalled` ("espeak-ng not found: install it with apt-get install
    ///   espeak-ng"), `.timedOut`, `.commandFailed` with espeak-ng's stderr, or `.invalidWAV` if it wrote a
    ///   broken file.
    public func synthesize(text: String, voice: String? = nil, speed: Int? = nil) throws -> [UInt8] {
        guard CommandRunner.resolve(executable) != nil else {
            throw GeneratorError(.notInstalled, "espeak-ng not found: install it with apt-get install espeak-ng")
        }
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("chorus-speech-\(UUID().uuidString).wav").path
        defer { try? FileManager.default.removeItem(atPath: path) }

        var arguments = [executable, "-w", path, "--stdin"]
        if let voice { arguments += ["-v", voice] }
        if let speed { arguments += ["-s", String(speed)] }
        let result = try CommandRunner.run(arguments, input: Array(text.utf8), timeout: timeout)
        guard result.status == 0, !result.signaled else {
            let tail = result.stderrTail
            throw GeneratorError(
                .commandFailed, "espeak-ng exited with status \(result.status)" + (tail.isEmpty ? "" : ": \(tail)"))
        }
        // espeak-ng exits 0 for an unknown voice, only printing an error; the missing file is how we notice.
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else {
            let tail = result.stderrTail
            throw GeneratorError(.commandFailed, "espeak-ng wrote no audio" + (tail.isEmpty ? "" : ": \(tail)"))
        }
        let bytes = [UInt8](data)
        _ = try WAVFile(parsing: bytes)
        return bytes
    }
}
