/// CRC-32 as PNG and zlib's gzip use it (ISO 3309, reflected polynomial 0xEDB88320), table driven.
///
/// Every PNG chunk ends with the CRC of its type and data; decoders reject the file on a mismatch.
struct CRC32 {
    private static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    private var crc: UInt32 = 0xFFFF_FFFF

    init() {}

    /// Folds more bytes into the checksum.
    mutating func update(_ bytes: ArraySlice<UInt8>) {
        var c = crc
        Self.table.withUnsafeBufferPointer { table in
            for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        crc = c
    }

    /// The checksum of everything folded in so far.
    var value: UInt32 { crc ^ 0xFFFF_FFFF }

    /// The checksum of `bytes` in one call.
    static func checksum(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c = CRC32()
        c.update(bytes)
        return c.value
    }
}
