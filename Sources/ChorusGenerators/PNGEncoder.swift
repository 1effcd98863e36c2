/// Encodes 8-bit RGB or RGBA pixel buffers as PNG files, in pure Swift with no zlib.
///
/// The file is the signature, IHDR, one IDAT and IEND, each chunk with its CRC-32 (PNG 1.2 / ISO 15948). IDAT is
/// a zlib stream compressed by a small DEFLATE (fixed Huffman + LZ77). Each row is filtered with None or Sub,
/// whichever has the smaller sum of absolute values, the usual heuristic for choosing a filter.
///
/// ```swift
/// let png = PNGEncoder.encode(width: 2, height: 1, pixels: [255, 0, 0, 0, 0, 255], format: .rgb)
/// ```
public enum PNGEncoder {
    /// The layout of one pixel in the input buffer.
    public enum PixelFormat: Sendable {
        /// Three bytes per pixel: red, green, blue (PNG color type 2).
        case rgb
        /// Four bytes per pixel: red, green, blue, alpha, not premultiplied (PNG color type 6).
        case rgba

        /// Bytes per pixel.
        public var bytesPerPixel: Int { self == .rgb ? 3 : 4 }

        var colorType: UInt8 { self == .rgb ? 2 : 6 }
    }

    /// How IDAT is compressed.
    public enum Compression: Sendable {
        /// DEFLATE with fixed Huffman codes and LZ77 matches: small files, a few milliseconds per megapixel.
        case deflate
        /// Stored (uncompressed) DEFLATE blocks: the fastest to write and the largest.
        case stored
    }

    /// The eight bytes every PNG file starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// PNG row filter types this encoder uses (PNG 1.2, section 6).
    enum Filter: UInt8 {
        case none = 0
        case sub = 1
    }

    /// Encodes `pixels`, row by row from the top, as a PNG file.
    ///
    /// - Precondition: `width` and `height` are in 1...2³¹−1 and `pixels.count == width * height * bytesPerPixel`;
    ///   a wrong buffer is a programming error, so it traps rather than throws.
    public static func encode(
        width: Int, height: Int, pixels: [UInt8], format: PixelFormat = .rgb, compression: Compression = .deflate
    ) -> [UInt8] {
        precondition(width > 0 && height > 0 && width <= Int(Int32.max) && height <= Int(Int32.max), "bad PNG size")
        precondition(pixels.count == width * height * format.bytesPerPixel, "pixel buffer does not match the size")

        var header = [UInt8]()
        appendBigEndian(UInt32(width), to: &header)
        appendBigEndian(UInt32(height), to: &header)
        // Bit depth 8, color type, compression method 0, filter method 0, no interlace.
        header += [8, format.colorType, 0, 0, 0]

        let filtered = filterRows(width: width, height: height, pixels: pixels, bytesPerPixel: format.bytesPerPixel)
        let idat = compression == .deflate ? Deflate.zlib(filtered) : storedZlib(filtered)

        var file = signature
        file.reserveCapacity(idat.count + 64)
        appendChunk("IHDR", header, to: &file)
        appendChunk("IDAT", idat, to: &file)
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// Prefixes each row with its filter type byte and applies that filter.
    static func filterRows(width: Int, height: Int, pixels: [UInt8], bytesPerPixel bpp: Int) -> [UInt8] {
        let stride = width * bpp
        var out = [UInt8](repeating: 0, count: height * (stride + 1))
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    let row = y * stride
                    // Score both filters by the sum of their output bytes read as signed values.
                    var costNone = 0
                    var costSub = 0
                    for i in 0..<stride {
                        let raw = src[row + i]
                        let left = i >= bpp ? src[row + i - bpp] : 0
                        costNone += abs(Int(Int8(bitPattern: raw)))
                        costSub += abs(Int(Int8(bitPattern: raw &- left)))
                    }
                    let filter: Filter = costSub < costNone ? .sub : .none
                    let base = y * (stride + 1)
                    dst[base] = filter.rawValue
                    for i in 0..<stride {
                        let raw = src[row + i]
                        dst[base + 1 + i] = filter == .sub && i >= bpp ? raw &- src[row + i - bpp] : raw
                    }
                }
            }
        }
        return out
    }

    private static func storedZlib(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        out += Deflate.stored(data)
        appendBigEndian(Adler32.checksum(data), to: &out)
        return out
    }

    /// Length, type, data, then the CRC-32 of type and data.
    private static func appendChunk(_ type: String, _ data: [UInt8], to file: inout [UInt8]) {
        appendBigEndian(UInt32(data.count), to: &file)
        let start = file.count
        file += Array(type.utf8)
        file += data
        appendBigEndian(CRC32.checksum(file[start...]), to: &file)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
