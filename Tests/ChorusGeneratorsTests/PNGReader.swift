/// Reads back PNG files produced by the encoder: chunk framing, CRCs, IHDR, and the pixels (through
/// `TestInflater`), independent of the encoder's own helpers.
struct PNGReader {
    struct Chunk {
        let type: String
        let data: [UInt8]
    }

    let chunks: [Chunk]
    let width: Int
    let height: Int
    let bitDepth: UInt8
    let colorType: UInt8
    let interlace: UInt8

    init(_ file: [UInt8]) throws {
        guard file.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw TestInflater.Failure(description: "no PNG signature")
        }
        func u32(_ i: Int) -> Int {
            Int(file[i]) << 24 | Int(file[i + 1]) << 16 | Int(file[i + 2]) << 8 | Int(file[i + 3])
        }
        var chunks = [Chunk]()
        var p = 8
        while p < file.count {
            guard p + 12 <= file.count else { throw TestInflater.Failure(description: "truncated chunk") }
            let length = u32(p)
            guard p + 12 + length <= file.count else { throw TestInflater.Failure(description: "chunk overruns file") }
            let typeAndData = Array(file[(p + 4)..<(p + 8 + length)])
            guard UInt32(u32(p + 8 + length)) == Self.crc(typeAndData) else {
                throw TestInflater.Failure(description: "CRC mismatch")
            }
            chunks.append(
                Chunk(
                    type: String(decoding: typeAndData.prefix(4), as: UTF8.self), data: Array(typeAndData.dropFirst(4)))
            )
            p += 12 + length
        }
        guard let ihdr = chunks.first, ihdr.type == "IHDR", ihdr.data.count == 13 else {
            throw TestInflater.Failure(description: "IHDR is not first")
        }
        guard chunks.last?.type == "IEND" else { throw TestInflater.Failure(description: "IEND is not last") }
        let d = ihdr.data
        width = Int(d[0]) << 24 | Int(d[1]) << 16 | Int(d[2]) << 8 | Int(d[3])
        height = Int(d[4]) << 24 | Int(d[5]) << 16 | Int(d[6]) << 8 | Int(d[7])
        bitDepth = d[8]
        colorType = d[9]
        interlace = d[12]
        self.chunks = chunks
    }

    /// Bitwise CRC-32, deliberately not table-driven like the encoder's.
    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
        }
        return ~c
    }

    /// The decoded pixel bytes, undoing filters None, Sub, Up, Average and Paeth.
    func pixels() throws -> [UInt8] {
        let idat = chunks.filter { $0.type == "IDAT" }.flatMap(\.data)
        let raw = try TestInflater.zlib(idat)
        let bpp = colorType == 6 ? 4 : 3
        let stride = width * bpp
        guard raw.count == height * (stride + 1) else { throw TestInflater.Failure(description: "wrong data size") }
        var out = [UInt8](repeating: 0, count: height * stride)
        for y in 0..<height {
            let filter = raw[y * (stride + 1)]
            for i in 0..<stride {
                let x = raw[y * (stride + 1) + 1 + i]
                let a = i >= bpp ? Int(out[y * stride + i - bpp]) : 0
                let b = y > 0 ? Int(out[(y - 1) * stride + i]) : 0
                let c = i >= bpp && y > 0 ? Int(out[(y - 1) * stride + i - bpp]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c
                    let pa = abs(p - a)
                    let pb = abs(p - b)
                    let pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : (pb <= pc ? b : c)
                default: throw TestInflater.Failure(description: "bad filter \(filter)")
                }
                out[y * stride + i] = x &+ UInt8(predictor & 0xFF)
            }
        }
        return out
    }
}
