import ChorusGenerators
import Testing

@Suite("WAV header validation")
struct WAVFileTests {
    @Test func parsesPCM() throws {
        let wav = try WAVFile(parsing: makeWAV(rate: 16000, channels: 1, bits: 16, samples: 8000))
        #expect(wav.format == 1 && wav.sampleRate == 16000 && wav.channels == 1 && wav.bitsPerSample == 16)
        #expect(wav.dataLength == 16000 && wav.dataOffset == 44 && wav.frameCount == 8000)
        #expect(wav.duration == 0.5)
    }

    @Test func stereoFloatAndExtraChunks() throws {
        let bytes = makeWAV(
            rate: 48000, channels: 2, bits: 32, format: 3, samples: 4800, extraChunks: [("LIST", [1, 2, 3])])
        let wav = try WAVFile(parsing: bytes)
        #expect(wav.format == 3 && wav.channels == 2 && wav.blockAlign == 8)
        #expect(wav.dataOffset == 12 + 8 + 4 + 24 + 8)  // RIFF header, LIST with pad byte, fmt, data header
        #expect(wav.duration == 0.1)
    }

    @Test func streamingPlaceholderSizeUsesTheAvailableBytes() throws {
        let wav = try WAVFile(parsing: makeWAV(samples: 1600, declaredDataSize: 0x7FFF_F000))
        #expect(wav.dataLength == 3200)
        let wav2 = try WAVFile(parsing: makeWAV(samples: 1600, declaredDataSize: 0xFFFF_FFFF))
        #expect(wav2.dataLength == 3200)
    }

    static let broken: [(String, [UInt8], String)] = [
        ("empty", [], "too short"),
        ("not RIFF", bytes("RIFX") + Array(makeWAV().dropFirst(4)), "'RIFF'"),
        ("not WAVE", Array(makeWAV().prefix(8)) + bytes("AVI ") + Array(makeWAV().dropFirst(12)), "not 'WAVE'"),
        ("truncated data", Array(makeWAV(samples: 1000).dropLast(10)), "truncated"),
        ("bad block align", makeWAV(blockAlign: 3), "block align"),
        ("MP3 format tag", makeWAV(format: 0x55), "format tag"),
        ("odd bit depth", makeWAV(bits: 12), "bits per sample"),
        ("zero channels", makeWAV(channels: 0), "channels"),
        ("no fmt", bytes("RIFF") + [4, 0, 0, 0] + bytes("WAVE"), "no 'fmt '"),
    ]

    @Test func rejectsBrokenHeadersWithAClearMessage() {
        for (name, bytes, fragment) in Self.broken {
            do {
                _ = try WAVFile(parsing: bytes)
                Issue.record("\(name) was accepted")
            } catch let error as GeneratorError {
                #expect(error.code == .invalidWAV)
                #expect(error.message.contains(fragment), "\(name): \(error.message)")
            } catch {
                Issue.record("\(name): unexpected \(error)")
            }
        }
    }
}
