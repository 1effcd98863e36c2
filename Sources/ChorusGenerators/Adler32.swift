/// Adler-32 (RFC 1950), the checksum a zlib stream carries after its DEFLATE data.
struct Adler32 {
    private static let modulus: UInt32 = 65521
    /// The most bytes that can be summed before `b` could overflow 32 bits (zlib's NMAX); reducing modulo 65521
    /// only once per run keeps the loop to two additions per byte.
    private static let runLength = 5552

    private var a: UInt32 = 1
    private var b: UInt32 = 0

    init() {}

    /// Folds more bytes into the checksum.
    mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { buffer in
            var start = 0
            while start < buffer.count {
                let end = min(start + Self.runLength, buffer.count)
                for i in start..<end {
                    a &+= UInt32(buffer[i])
                    b &+= a
                }
                a %= Self.modulus
                b %= Self.modulus
                start = end
            }
        }
    }

    /// The checksum of everything folded in so far.
    var value: UInt32 { b << 16 | a }

    /// The checksum of `bytes` in one call.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        var c = Adler32()
        c.update(bytes)
        return c.value
    }
}
