import ChorusProtocol
import Testing

@testable import ChorusGenerators

@Suite("DEFLATE, zlib, CRC-32 and Adler-32")
struct DeflateTests {
    @Test func crc32KnownVector() {
        #expect(CRC32.checksum(ArraySlice(bytes("123456789"))) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func adler32KnownVectors() {
        #expect(Adler32.checksum(bytes("Wikipedia")) == 0x11E6_0398)
        #expect(Adler32.checksum([]) == 1)
        // Long input crosses the deferred-modulo boundary (5552 bytes) many times.
        let long = [UInt8](repeating: 0xFF, count: 100_000)
        var a: UInt32 = 1
        var b: UInt32 = 0
        for x in long {
            a = (a + UInt32(x)) % 65521
            b = (b + a) % 65521
        }
        #expect(Adler32.checksum(long) == b << 16 | a)
    }

    static func samples() -> [(String, [UInt8])] {
        var random = SeededRandom(digest: SHA256.hash(bytes("deflate samples")))
        let noise = (0..<70_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        let text = bytes(String(repeating: "the quick brown fox jumps over the lazy dog; ", count: 400))
        let lowEntropy = (0..<50_000).map { _ in UInt8(random.index(4)) }
        let farRepeat = noise.prefix(40_000) + noise.prefix(40_000)  // repeats beyond the 32 KiB window
        return [
            ("empty", []), ("one byte", [42]), ("two bytes", [1, 2]), ("three equal", [7, 7, 7]),
            ("run of zeros", [UInt8](repeating: 0, count: 100_000)), ("text", text),
            ("random", noise), ("four symbols", lowEntropy), ("far repeat", Array(farRepeat)),
            ("all byte values", (0..<2048).map { UInt8($0 & 0xFF) }),
        ]
    }

    @Test func roundTripsThroughIndependentInflater() throws {
        for (name, data) in Self.samples() {
            let stream = Deflate.zlib(data)
            let decoded = try TestInflater.zlib(stream)
            #expect(decoded == data, "round trip failed for \(name)")
        }
    }

    @Test func compressesRedundantDataAndNeverGrowsMuch() {
        for (name, data) in Self.samples() {
            let packed = Deflate.compress(data)
            #expect(packed.count <= data.count + 5 * (data.count / 65535 + 1), "\(name) grew to \(packed.count)")
        }
        #expect(Deflate.compress([UInt8](repeating: 0, count: 100_000)).count < 1000)
        #expect(Deflate.compress(bytes(String(repeating: "abcdefgh", count: 1000))).count < 200)
    }

    @Test func storedBlocksRoundTrip() throws {
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var reader = TestInflater.BitReader(bytes: Deflate.stored(data), position: 0)
        #expect(try TestInflater.inflate(&reader) == data)
    }

    @Test(.enabled(if: Tools.python, "python3 with zlib is not installed"))
    func pythonZlibAgrees() throws {
        let dir = TempDir()
        defer { dir.remove() }
        for (name, data) in Self.samples() {
            let raw = dir.write("\(name).raw", data)
            let packed = dir.write("\(name).z", Deflate.zlib(data))
            let verdict = try python(
                "import sys, zlib; print(zlib.decompress(open(sys.argv[1],'rb').read()) == open(sys.argv[2],'rb').read())",
                [packed, raw])
            #expect(verdict == "True", "python zlib disagrees on \(name)")
        }
    }
}
