import ChorusGenerators
import Foundation
import Testing

@Suite("PNG encoder")
struct PNGEncoderTests {
    /// A picture with flat areas, gradients and noise, so both filters and both match and literal paths run.
    static func testPixels(width: Int, height: Int, bpp: Int) -> [UInt8] {
        var random: UInt64 = 0x1234_5678
        var out = [UInt8]()
        for y in 0..<height {
            for x in 0..<width {
                random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                let noisy = y % 7 == 3
                out.append(noisy ? UInt8(truncatingIfNeeded: random >> 33) : UInt8(truncatingIfNeeded: x * 255 / width))
                out.append(UInt8(truncatingIfNeeded: y * 255 / height))
                out.append(x < width / 2 ? 200 : UInt8(truncatingIfNeeded: x ^ y))
                if bpp == 4 { out.append(UInt8(truncatingIfNeeded: (x + y) * 3)) }
            }
        }
        return out
    }

    static let cases: [(width: Int, height: Int, format: PNGEncoder.PixelFormat, compression: PNGEncoder.Compression)] =
        [
            (1, 1, .rgb, .deflate), (37, 23, .rgb, .deflate), (64, 64, .rgba, .deflate), (300, 200, .rgb, .deflate),
            (300, 200, .rgb, .stored), (17, 9, .rgba, .stored),
        ]

    @Test func chunksCRCsAndHeaderAreValid() throws {
        for c in Self.cases {
            let pixels = Self.testPixels(width: c.width, height: c.height, bpp: c.format.bytesPerPixel)
            let png = PNGEncoder.encode(
                width: c.width, height: c.height, pixels: pixels, format: c.format, compression: c.compression)
            let reader = try PNGReader(png)
            #expect(reader.chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
            #expect(reader.width == c.width && reader.height == c.height)
            #expect(reader.bitDepth == 8 && reader.interlace == 0)
            #expect(reader.colorType == (c.format == .rgb ? 2 : 6))
            #expect(try reader.pixels() == pixels, "pixels differ for \(c)")
        }
    }

    @Test func deflateIsSmallerThanStored() {
        let pixels = Self.testPixels(width: 300, height: 200, bpp: 3)
        let packed = PNGEncoder.encode(width: 300, height: 200, pixels: pixels)
        let stored = PNGEncoder.encode(width: 300, height: 200, pixels: pixels, compression: .stored)
        #expect(packed.count * 2 < stored.count)
    }

    @Test(.enabled(if: Tools.python, "python3 with zlib is not installed"))
    func pythonDecodesTheSamePixels() throws {
        let dir = TempDir()
        defer { dir.remove() }
        // Parses chunks, checks every CRC with zlib.crc32, inflates IDAT and undoes all five filter types.
        let script = """
            import struct, sys, zlib
            data = open(sys.argv[1], 'rb').read(); want = open(sys.argv[2], 'rb').read()
            assert data[:8] == b'\\x89PNG\\r\\n\\x1a\\n'
            p, idat = 8, b''
            while p < len(data):
                n, t = struct.unpack('>I4s', data[p:p+8]); body = data[p+8:p+8+n]
                assert struct.unpack('>I', data[p+8+n:p+12+n])[0] == zlib.crc32(t + body), t
                if t == b'IHDR': w, h, depth, ctype, _, _, inter = struct.unpack('>IIBBBBB', body)
                if t == b'IDAT': idat += body
                p += 12 + n
            raw = zlib.decompress(idat); bpp = 4 if ctype == 6 else 3; s = w * bpp; out = bytearray()
            for y in range(h):
                f = raw[y*(s+1)]; line = raw[y*(s+1)+1:(y+1)*(s+1)]; prev = out[(y-1)*s:y*s] if y else bytes(s); cur = bytearray(s)
                for i in range(s):
                    a = cur[i-bpp] if i >= bpp else 0; b = prev[i]; c = prev[i-bpp] if i >= bpp else 0
                    if f == 0: q = 0
                    elif f == 1: q = a
                    elif f == 2: q = b
                    elif f == 3: q = (a + b) // 2
                    else:
                        pp = a + b - c; pa, pb, pc = abs(pp - a), abs(pp - b), abs(pp - c)
                        q = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[i] = (line[i] + q) & 255
                out += cur
            print('ok' if bytes(out) == want and depth == 8 and inter == 0 else 'pixels differ')
            """
        for (i, c) in Self.cases.enumerated() {
            let pixels = Self.testPixels(width: c.width, height: c.height, bpp: c.format.bytesPerPixel)
            let png = PNGEncoder.encode(
                width: c.width, height: c.height, pixels: pixels, format: c.format, compression: c.compression)
            let verdict = try python(script, [dir.write("\(i).png", png), dir.write("\(i).raw", pixels)])
            #expect(verdict == "ok", "case \(c)")
        }
    }

    @Test(.enabled(if: Tools.file, "/usr/bin/file is not installed"))
    func fileRecognisesPNG() throws {
        let dir = TempDir()
        defer { dir.remove() }
        let png = PNGEncoder.encode(width: 37, height: 23, pixels: Self.testPixels(width: 37, height: 23, bpp: 3))
        let path = dir.write("t.png", png)
        let out = try ExternalCommandGenerator(command: ["/usr/bin/file", "-b", path], timeout: .seconds(20)).generate(
            [])
        let description = String(decoding: out, as: UTF8.self)
        #expect(description.hasPrefix("PNG image data, 37 x 23, 8-bit/color RGB"), "file says: \(description)")
    }
}
