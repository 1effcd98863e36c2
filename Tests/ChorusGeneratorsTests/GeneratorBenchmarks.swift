import ChorusProtocol
import ChorusGenerators
import Foundation
import Testing

/// Timings for docs/GENERATORS.md. Benchmarks never run as ordinary tests: set CHORUS_GENERATOR_BENCH=1 and
/// build in release (`swift build -c release --build-tests -Xswiftc -enable-testing`) for meaningful numbers.
/// With CHORUS_GENERATOR_SAMPLES=DIR it also writes sample pictures there, to look at.
@Suite("Generator benchmarks", .enabled(if: ProcessInfo.processInfo.environment["CHORUS_GENERATOR_BENCH"] == "1"))
struct GeneratorBenchmarks {
    /// Best of `runs` wall-clock times in milliseconds: the least disturbed by other load on the machine.
    func best(_ runs: Int = 5, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<runs {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        return best
    }

    @Test func timings() throws {
        let tenMB = [UInt8](repeating: 0x61, count: 10_000_000)
        let sha = best { _ = SHA256.hash(tenMB) }
        let image = ImageGenerator()
        var pixels = [UInt8]()
        let render = best { pixels = image.render(prompt: "a quiet harbour at dusk") }
        var png = [UInt8]()
        let encode = best { png = PNGEncoder.encode(width: 512, height: 512, pixels: pixels) }
        let stored = PNGEncoder.encode(width: 512, height: 512, pixels: pixels, compression: .stored)
        let whole = best { _ = image.generate(prompt: "a quiet harbour at dusk") }
        var sizes = [Int]()
        for i in 0..<20 { sizes.append(image.generate(prompt: "prompt \(i)").count) }
        let text = best(50) { _ = TextGenerator().generate(prompt: "Explain how ZeroMQ routers balance messages") }
        var speech = Double.nan
        if SpeechSynthesizer().isAvailable {
            speech = try best(3) {
                _ = try SpeechSynthesizer().synthesize(text: "Hello from the audio agent of Chorus.")
            }
        }
        print(
            """
            BENCH sha256 10 MB: \(String(format: "%.1f", sha)) ms (\(String(format: "%.0f", 10_000 / sha)) MB/s)
            BENCH image render 512x512: \(String(format: "%.1f", render)) ms; PNG encode: \(String(format: "%.1f", encode)) ms; \
            generate total: \(String(format: "%.1f", whole)) ms
            BENCH image PNG size: \(png.count) bytes (stored: \(stored.count)); 20 prompts: \
            min \(sizes.min()!) max \(sizes.max()!) mean \(sizes.reduce(0, +) / sizes.count)
            BENCH text: \(String(format: "%.3f", text)) ms
            BENCH espeak-ng sentence: \(String(format: "%.1f", speech)) ms
            """)
        if let dir = ProcessInfo.processInfo.environment["CHORUS_GENERATOR_SAMPLES"] {
            for prompt in ["a quiet harbour at dusk", "a red bicycle", "night train", "hello", "chorus", "mountains"] {
                let name = prompt.replacingOccurrences(of: " ", with: "-")
                _ = FileManager.default.createFile(
                    atPath: "\(dir)/\(name).png", contents: Data(image.generate(prompt: prompt)))
            }
        }
    }
}
