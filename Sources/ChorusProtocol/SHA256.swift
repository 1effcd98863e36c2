/// SHA-256 (FIPS 180-4) in pure Swift, fed incrementally.
///
/// Blobs are content-addressed by this digest and generators seed themselves from it, so it has to be exact
/// and fast without pulling in a crypto package: the block function works on unsafe buffers and a stack
/// allocated message schedule (10 MB in 45–130 ms in a release build on a busy 2-core machine).
///
/// ```swift
/// var hasher = SHA256()
/// hasher.update(Array("ab".utf8))
/// hasher.update(Array("c".utf8))
/// SHA256.hex(hasher.finalize())   // "ba7816bf…"
/// ```
public struct SHA256: Sendable {
    /// The digest length in bytes.
    public static let digestLength = 32

    private static let blockLength = 64

    /// Round constants: the first 32 bits of the fractional parts of the cube roots of the first 64 primes.
    private static let k: [UInt32] = [
        0x428a_2f98, 0x7137_4491, 0xb5c0_fbcf, 0xe9b5_dba5, 0x3956_c25b, 0x59f1_11f1, 0x923f_82a4, 0xab1c_5ed5,
        0xd807_aa98, 0x1283_5b01, 0x2431_85be, 0x550c_7dc3, 0x72be_5d74, 0x80de_b1fe, 0x9bdc_06a7, 0xc19b_f174,
        0xe49b_69c1, 0xefbe_4786, 0x0fc1_9dc6, 0x240c_a1cc, 0x2de9_2c6f, 0x4a74_84aa, 0x5cb0_a9dc, 0x76f9_88da,
        0x983e_5152, 0xa831_c66d, 0xb003_27c8, 0xbf59_7fc7, 0xc6e0_0bf3, 0xd5a7_9147, 0x06ca_6351, 0x1429_2967,
        0x27b7_0a85, 0x2e1b_2138, 0x4d2c_6dfc, 0x5338_0d13, 0x650a_7354, 0x766a_0abb, 0x81c2_c92e, 0x9272_2c85,
        0xa2bf_e8a1, 0xa81a_664b, 0xc24b_8b70, 0xc76c_51a3, 0xd192_e819, 0xd699_0624, 0xf40e_3585, 0x106a_a070,
        0x19a4_c116, 0x1e37_6c08, 0x2748_774c, 0x34b0_bcb5, 0x391c_0cb3, 0x4ed8_aa4a, 0x5b9c_ca4f, 0x682e_6ff3,
        0x748f_82ee, 0x78a5_636f, 0x84c8_7814, 0x8cc7_0208, 0x90be_fffa, 0xa450_6ceb, 0xbef9_a3f7, 0xc671_78f2,
    ]

    /// Initial hash value: the first 32 bits of the fractional parts of the square roots of the first 8 primes.
    private var h: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    /// Bytes of an incomplete block, carried to the next `update`.
    private var pending: [UInt8] = []
    /// Total message length in bytes, needed for the final padding.
    private var length: UInt64 = 0

    /// Starts an empty hash.
    public init() {
        pending.reserveCapacity(Self.blockLength)
    }

    /// The digest of `bytes` in one call.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// The lowercase hex digest of `bytes` in one call, the form used for content addresses.
    public static func hexDigest(_ bytes: [UInt8]) -> String {
        hex(hash(bytes))
    }

    /// Lowercase hex of any bytes, two characters per byte.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Feeds more of the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Feeds more of the message from raw memory (a `Data`, a mapped file) without copying it into an array.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard !buffer.isEmpty else { return }
        length &+= UInt64(buffer.count)
        var offset = 0
        // Complete a block left over from the previous call first.
        if !pending.isEmpty {
            let take = min(Self.blockLength - pending.count, buffer.count)
            pending.append(contentsOf: buffer[0..<take])
            offset = take
            guard pending.count == Self.blockLength else { return }
            let block = pending
            block.withUnsafeBytes { compress(blocks: $0) }
            pending.removeAll(keepingCapacity: true)
        }
        // Whole blocks straight from the caller's memory: the fast path for large inputs.
        let whole = (buffer.count - offset) / Self.blockLength * Self.blockLength
        if whole > 0 {
            compress(blocks: UnsafeRawBufferPointer(rebasing: buffer[offset..<offset + whole]))
            offset += whole
        }
        pending.append(contentsOf: buffer[offset...])
    }

    /// The 32-byte digest of everything fed so far. Does not change the hasher, so more can still be fed.
    public func finalize() -> [UInt8] {
        var copy = self
        let bitLength = length &* 8
        // Padding: a 1 bit, zeros up to 56 mod 64, then the message length in bits, big-endian.
        var tail = pending
        tail.append(0x80)
        while tail.count % Self.blockLength != 56 { tail.append(0) }
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        tail.withUnsafeBytes { copy.compress(blocks: $0) }
        var digest = [UInt8]()
        digest.reserveCapacity(Self.digestLength)
        for word in copy.h {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// Runs the compression function over a whole number of 64-byte blocks.
    private mutating func compress(blocks: UnsafeRawBufferPointer) {
        precondition(blocks.count % Self.blockLength == 0)
        var h0 = h[0]
        var h1 = h[1]
        var h2 = h[2]
        var h3 = h[3]
        var h4 = h[4]
        var h5 = h[5]
        var h6 = h[6]
        var h7 = h[7]
        Self.k.withUnsafeBufferPointer { k in
            withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 64) { w in
                var base = 0
                while base < blocks.count {
                    for t in 0..<16 {
                        let i = base + t * 4
                        w[t] =
                            UInt32(blocks[i]) << 24 | UInt32(blocks[i + 1]) << 16
                            | UInt32(blocks[i + 2]) << 8 | UInt32(blocks[i + 3])
                    }
                    for t in 16..<64 {
                        let x = w[t - 15]
                        let y = w[t - 2]
                        let s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3)
                        let s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >> 10)
                        w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
                    }
                    var a = h0
                    var b = h1
                    var c = h2
                    var d = h3
                    var e = h4
                    var f = h5
                    var g = h6
                    var hh = h7
                    for t in 0..<64 {
                        let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                        let ch = (e & f) ^ (~e & g)
                        let t1 = hh &+ s1 &+ ch &+ k[t] &+ w[t]
                        let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                        let maj = (a & b) ^ (a & c) ^ (b & c)
                        let t2 = s0 &+ maj
                        hh = g
                        g = f
                        f = e
                        e = d &+ t1
                        d = c
                        c = b
                        b = a
                        a = t1 &+ t2
                    }
                    h0 &+= a
                    h1 &+= b
                    h2 &+= c
                    h3 &+= d
                    h4 &+= e
                    h5 &+= f
                    h6 &+= g
                    h7 &+= hh
                    base += Self.blockLength
                }
            }
        }
        h = [h0, h1, h2, h3, h4, h5, h6, h7]
    }
}

@inline(__always)
private func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 {
    (x >> n) | (x << (32 - n))
}
