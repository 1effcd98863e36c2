import ChorusGenerators
import Foundation

/// UTF-8 bytes of a string.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// Tools some tests need; tests that need a missing one are skipped with a message saying which.
enum Tools {
    /// The path of `name` on PATH, if any.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether `python3` runs and has its standard `zlib` module.
    static let python: Bool = {
        guard which("python3") != nil else { return false }
        let probe = ExternalCommandGenerator(
            command: ["python3", "-c", "import zlib, http.server, wave"], timeout: .seconds(20))
        return (try? probe.generate([])) != nil
    }()

    static let espeak = which("espeak-ng") != nil
    static let file = FileManager.default.isExecutableFile(atPath: "/usr/bin/file")
}

/// A temporary directory, removed with `remove()`.
struct TempDir {
    let path: String

    init() {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent(
                "chorus-gen-test-\(UUID().uuidString.prefix(8))"
            ).path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ contents: [UInt8]) -> String {
        let p = file(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(contents))
        return p
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a Python snippet with arguments and returns its stdout as a trimmed string.
func python(_ script: String, _ arguments: [String] = []) throws -> String {
    let out = try ExternalCommandGenerator(command: ["python3", "-c", script] + arguments, timeout: .seconds(60))
        .generate([])
    return String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Builds a WAV file: a RIFF header, optional extra chunks before `fmt `, and `data`.
func makeWAV(
    rate: Int = 16000, channels: Int = 1, bits: Int = 16, format: Int = 1, samples: Int = 16000,
    declaredDataSize: UInt32? = nil, blockAlign: Int? = nil, extraChunks: [(String, [UInt8])] = []
) -> [UInt8] {
    func le32(_ v: UInt32) -> [UInt8] {
        [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)]
    }
    func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
    let align = blockAlign ?? channels * bits / 8
    let data = [UInt8](repeating: 0, count: samples * channels * bits / 8)
    var body = bytes("WAVE")
    for (id, chunk) in extraChunks {
        body += bytes(id) + le32(UInt32(chunk.count)) + chunk
        if chunk.count % 2 == 1 { body.append(0) }
    }
    body += bytes("fmt ") + le32(16) + le16(format) + le16(channels) + le32(UInt32(rate))
    body += le32(UInt32(rate * align)) + le16(align) + le16(bits)
    body += bytes("data") + le32(declaredDataSize ?? UInt32(data.count)) + data
    return bytes("RIFF") + le32(UInt32(body.count)) + body
}
