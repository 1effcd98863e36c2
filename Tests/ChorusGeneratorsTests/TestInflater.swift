/// A minimal zlib/DEFLATE decoder for stored and fixed-Huffman blocks, written from RFC 1950/1951 for the
/// tests only, so the encoder can be checked on many inputs without spawning Python for each.
enum TestInflater {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static let lengthBase = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115,
        131, 163, 195, 227, 258,
    ]
    static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    static let distanceBase = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025,
        1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
    ]
    static let distanceExtra = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12,
        12, 13, 13,
    ]

    /// Decodes a zlib stream and checks its header and Adler-32.
    static func zlib(_ stream: [UInt8]) throws -> [UInt8] {
        guard stream.count >= 6 else { throw Failure(description: "zlib stream too short") }
        guard stream[0] & 0x0F == 8, (Int(stream[0]) << 8 | Int(stream[1])) % 31 == 0 else {
            throw Failure(description: "bad zlib header")
        }
        var reader = BitReader(bytes: stream, position: 2)
        let out = try inflate(&reader)
        let p = reader.bytePosition
        guard p + 4 <= stream.count else { throw Failure(description: "missing Adler-32") }
        let stored =
            UInt32(stream[p]) << 24 | UInt32(stream[p + 1]) << 16 | UInt32(stream[p + 2]) << 8 | UInt32(stream[p + 3])
        var a: UInt32 = 1
        var b: UInt32 = 0
        for byte in out {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        guard stored == b << 16 | a else { throw Failure(description: "Adler-32 mismatch") }
        return out
    }

    static func inflate(_ r: inout BitReader) throws -> [UInt8] {
        var out = [UInt8]()
        var final = false
        while !final {
            final = try r.bits(1) == 1
            switch try r.bits(2) {
            case 0:
                r.alignToByte()
                let len = try r.bits(16)
                let nlen = try r.bits(16)
                guard len == ~nlen & 0xFFFF else { throw Failure(description: "stored LEN/NLEN mismatch") }
                for _ in 0..<len { out.append(UInt8(try r.bits(8))) }
            case 1:
                while true {
                    let symbol = try fixedSymbol(&r)
                    if symbol < 256 {
                        out.append(UInt8(symbol))
                    } else if symbol == 256 {
                        break
                    } else {
                        let i = symbol - 257
                        guard i < 29 else { throw Failure(description: "bad length symbol \(symbol)") }
                        let length = lengthBase[i] + (try r.bits(lengthExtra[i]))
                        var code = 0
                        for _ in 0..<5 { code = code << 1 | (try r.bits(1)) }
                        guard code < 30 else { throw Failure(description: "bad distance code \(code)") }
                        let distance = distanceBase[code] + (try r.bits(distanceExtra[code]))
                        guard distance <= out.count else { throw Failure(description: "distance \(distance) too far") }
                        for _ in 0..<length { out.append(out[out.count - distance]) }
                    }
                }
            default:
                throw Failure(description: "unsupported block type")
            }
        }
        return out
    }

    /// Reads one fixed-Huffman literal/length symbol, code bits most significant first.
    static func fixedSymbol(_ r: inout BitReader) throws -> Int {
        var code = 0
        for _ in 0..<7 { code = code << 1 | (try r.bits(1)) }
        if code <= 0b0010111 { return 256 + code }
        code = code << 1 | (try r.bits(1))
        if (0x30...0xBF).contains(code) { return code - 0x30 }
        if (0xC0...0xC7).contains(code) { return 280 + code - 0xC0 }
        code = code << 1 | (try r.bits(1))
        if (0x190...0x1FF).contains(code) { return 144 + code - 0x190 }
        throw Failure(description: "bad fixed code")
    }

    struct BitReader {
        let bytes: [UInt8]
        var position: Int
        var bit = 0

        var bytePosition: Int { bit == 0 ? position : position + 1 }

        mutating func bits(_ n: Int) throws -> Int {
            var value = 0
            for i in 0..<n {
                guard position < bytes.count else { throw Failure(description: "unexpected end of data") }
                value |= Int(bytes[position] >> UInt8(bit) & 1) << i
                bit += 1
                if bit == 8 {
                    bit = 0
                    position += 1
                }
            }
            return value
        }

        mutating func alignToByte() {
            if bit != 0 {
                bit = 0
                position += 1
            }
        }
    }
}
