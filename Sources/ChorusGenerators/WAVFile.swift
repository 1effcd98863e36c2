/// The format of a RIFF/WAVE file, read from its header and checked for consistency.
///
/// Agents use this to validate audio before publishing it (a zero-length or truncated WAV from a crashed
/// synthesiser should fail loudly, not reach a listener). It accepts PCM (format 1), IEEE float (3) and
/// WAVE_FORMAT_EXTENSIBLE (0xFFFE), walks chunks in any order, and skips unknown chunks such as `LIST`.
///
/// Streaming writers (`espeak-ng --stdout`, ffmpeg to a pipe) cannot know the length up front and put a
/// placeholder of 0x7FFFF000 or more in the data size; then the data is taken to run to the end of the bytes.
public struct WAVFile: Equatable, Sendable {
    /// The `wFormatTag`: 1 for integer PCM, 3 for IEEE float, 0xFFFE for WAVE_FORMAT_EXTENSIBLE.
    public let format: Int
    /// Sample frames per second.
    public let sampleRate: Int
    /// Interleaved channels per frame.
    public let channels: Int
    /// Bits per sample of one channel.
    public let bitsPerSample: Int
    /// Byte offset of the first sample in the file.
    public let dataOffset: Int
    /// Length of the sample data in bytes.
    public let dataLength: Int

    /// Bytes per sample frame (all channels).
    public var blockAlign: Int { channels * bitsPerSample / 8 }

    /// Whole sample frames in the data.
    public var frameCount: Int { dataLength / blockAlign }

    /// Playing time in seconds.
    public var duration: Double { Double(frameCount) / Double(sampleRate) }

    /// Data sizes at or above this are placeholders written by streaming encoders, not real lengths.
    private static let streamingSize: UInt32 = 0x7FFF_F000

    /// Parses and validates the header of a WAV file held in memory.
    ///
    /// - Throws: `GeneratorError` with code `.invalidWAV` and a message naming what is wrong.
    public init(parsing bytes: [UInt8]) throws {
        func fail(_ message: String) -> GeneratorError { GeneratorError(.invalidWAV, "invalid WAV file: \(message)") }
        func u32(_ i: Int) -> UInt32 {
            UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24
        }
        func u16(_ i: Int) -> Int { Int(bytes[i]) | Int(bytes[i + 1]) << 8 }
        func tag(_ i: Int) -> String { String(decoding: bytes[i..<i + 4], as: UTF8.self) }

        guard bytes.count >= 12 else { throw fail("\(bytes.count) bytes is too short for a RIFF header") }
        guard tag(0) == "RIFF" else { throw fail("does not start with 'RIFF'") }
        guard tag(8) == "WAVE" else { throw fail("RIFF form type is '\(tag(8))', not 'WAVE'") }

        var fmt: (format: Int, channels: Int, rate: Int, align: Int, bits: Int)?
        var data: (offset: Int, length: Int)?
        var offset = 12
        while offset + 8 <= bytes.count, data == nil {
            let id = tag(offset)
            let declared = u32(offset + 4)
            let body = offset + 8
            let available = bytes.count - body
            if id == "data" {
                guard fmt != nil else { throw fail("'data' chunk comes before 'fmt '") }
                if Int(declared) <= available {
                    data = (body, Int(declared))
                } else if declared >= Self.streamingSize {
                    data = (body, available)
                } else {
                    throw fail("'data' chunk declares \(declared) bytes but only \(available) follow (truncated file)")
                }
                break
            }
            guard Int(declared) <= available else {
                throw fail("'\(id)' chunk declares \(declared) bytes, \(available) follow")
            }
            if id == "fmt " {
                guard declared >= 16 else { throw fail("'fmt ' chunk is \(declared) bytes, at least 16 expected") }
                fmt = (u16(body), u16(body + 2), Int(u32(body + 4)), u16(body + 12), u16(body + 14))
            }
            // Chunks are padded to an even length.
            offset = body + Int(declared) + Int(declared & 1)
        }
        guard let fmt else { throw fail("no 'fmt ' chunk") }
        guard let data else { throw fail("no 'data' chunk") }
        guard [1, 3, 0xFFFE].contains(fmt.format) else {
            throw fail("format tag \(fmt.format) is not PCM (1), float (3) or extensible (0xFFFE)")
        }
        guard fmt.channels > 0 else { throw fail("0 channels") }
        guard fmt.rate > 0 else { throw fail("sample rate 0") }
        guard [8, 16, 24, 32, 64].contains(fmt.bits) else { throw fail("\(fmt.bits) bits per sample") }
        guard fmt.align == fmt.channels * fmt.bits / 8 else {
            throw fail("block align \(fmt.align) does not match \(fmt.channels) channels of \(fmt.bits) bits")
        }
        format = fmt.format
        sampleRate = fmt.rate
        channels = fmt.channels
        bitsPerSample = fmt.bits
        dataOffset = data.offset
        dataLength = data.length
    }
}
