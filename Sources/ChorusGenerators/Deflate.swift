// DESIGN
//
// A small DEFLATE compressor (RFC 1951) and its zlib wrapper (RFC 1950), enough for PNG's IDAT.
//
// - One block with the fixed Huffman code (BTYPE 01). Dynamic Huffman tables would save another 10–20 % on
//   pictures, but cost a code-length builder and a second pass; the fixed code keeps this file short.
// - LZ77 with a hash chain over the last 32 KiB: each 3-byte prefix hashes to the newest position that had it
//   (`head`) and each position links to the previous one with the same hash (`prev`, a ring of window size).
//   Chains are cut at `maxChain` candidates, so worst-case input costs O(n · maxChain), and a match of the
//   maximum length (258) ends the search at once, which makes long runs (flat sky) cheap.
// - Greedy parsing, no lazy matching: simpler, and within a few percent on the images we make.
// - If the result is larger than the input would be in stored blocks (random data), stored blocks are emitted
//   instead, so the output never grows by more than 5 bytes per 64 KiB.

/// DEFLATE compression: fixed-Huffman blocks with LZ77 matching, or stored blocks when that is smaller.
enum Deflate {
    /// The furthest back a match may reach. One less than the 32 KiB window so that a `prev` slot is never
    /// overwritten while a chain can still reach it (the position 32 KiB later reuses the slot).
    private static let maxDistance = 32767
    private static let windowMask = 32767
    private static let minMatch = 3
    private static let maxMatch = 258
    private static let hashBits = 15
    /// How many earlier positions to try per match; 32 trades a little ratio for predictable speed.
    private static let maxChain = 32

    /// Bit-reversed fixed Huffman code and its length for each literal/length symbol 0...287 (RFC 1951 3.2.6).
    /// Huffman codes are defined most significant bit first but packed least significant bit first.
    private static let literalCodes: [(code: UInt32, length: Int)] = (0..<288).map { s in
        switch s {
        case 0...143: return (reverse(UInt32(0x30 + s), 8), 8)
        case 144...255: return (reverse(UInt32(0x190 + s - 144), 9), 9)
        case 256...279: return (reverse(UInt32(s - 256), 7), 7)
        default: return (reverse(UInt32(0xC0 + s - 280), 8), 8)
        }
    }

    /// For each match length 3...258: its symbol's code with the extra bits already appended, ready to write.
    private static let lengthCodes: [(bits: UInt32, count: Int)] = (0...maxMatch).map { length in
        guard length >= minMatch else { return (0, 0) }
        let symbol: Int
        let extraCount: Int
        let extraValue: Int
        if length == 258 {
            (symbol, extraCount, extraValue) = (285, 0, 0)
        } else if length <= 10 {
            (symbol, extraCount, extraValue) = (257 + length - 3, 0, 0)
        } else {
            // Lengths 11...257 come in groups of four codes per power of two, each with `top - 2` extra bits.
            let v = length - 3
            let top = Int.bitWidth - 1 - v.leadingZeroBitCount
            extraCount = top - 2
            symbol = 257 + 4 * (top - 1) + ((v >> extraCount) & 3)
            extraValue = v & ((1 << extraCount) - 1)
        }
        let (code, codeLength) = literalCodes[symbol]
        return (code | UInt32(extraValue) << UInt32(codeLength), codeLength + extraCount)
    }

    /// A zlib stream: 2-byte header, DEFLATE data, Adler-32 of the uncompressed bytes (big-endian).
    static func zlib(_ data: [UInt8]) -> [UInt8] {
        // CMF 0x78: DEFLATE with a 32 KiB window. FLG 0x01: "fastest" level, no dictionary, and
        // (0x78 << 8 | 0x01) is a multiple of 31 as the header check requires.
        var out: [UInt8] = [0x78, 0x01]
        out += compress(data)
        let adler = Adler32.checksum(data)
        out += [UInt8(adler >> 24), UInt8(adler >> 16 & 0xFF), UInt8(adler >> 8 & 0xFF), UInt8(adler & 0xFF)]
        return out
    }

    /// Raw DEFLATE data for `data`, without a zlib header.
    static func compress(_ data: [UInt8]) -> [UInt8] {
        let packed = fixedHuffman(data)
        let storedSize = data.count + 5 * max(1, (data.count + 65534) / 65535)
        return packed.count <= storedSize ? packed : stored(data)
    }

    /// Stored (uncompressed) blocks of at most 65535 bytes each.
    static func stored(_ data: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(data.count + 5 * (data.count / 65535 + 1))
        var start = 0
        repeat {
            let end = min(start + 65535, data.count)
            let length = end - start
            // BFINAL in bit 0, BTYPE 00 in bits 1–2; the rest of the byte is padding before LEN/NLEN.
            out.append(end == data.count ? 1 : 0)
            out += [UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8 & 0xFF)]
            out += data[start..<end]
            start = end
        } while start < data.count
        return out
    }

    /// One final fixed-Huffman block with greedy LZ77 matches.
    static func fixedHuffman(_ data: [UInt8]) -> [UInt8] {
        var writer = BitWriter(capacity: data.count / 2 + 64)
        writer.write(0b011, 3)  // BFINAL = 1, BTYPE = 01 (fixed Huffman), written low bit first
        let n = data.count
        var head = [Int32](repeating: -1, count: 1 << hashBits)
        var prev = [Int32](repeating: -1, count: windowMask + 1)
        literalCodes.withUnsafeBufferPointer { literal in
            lengthCodes.withUnsafeBufferPointer { lengthCode in
                data.withUnsafeBufferPointer { d in
                    head.withUnsafeMutableBufferPointer { head in
                        prev.withUnsafeMutableBufferPointer { prev in
                            @inline(__always) func hash(_ i: Int) -> Int {
                                let key = UInt32(d[i]) | UInt32(d[i + 1]) << 8 | UInt32(d[i + 2]) << 16
                                return Int((key &* 2_654_435_761) >> UInt32(32 - hashBits))
                            }
                            @inline(__always) func insert(_ i: Int) -> Int32 {
                                let h = hash(i)
                                let previous = head[h]
                                prev[i & windowMask] = previous
                                head[h] = Int32(i)
                                return previous
                            }
                            var i = 0
                            while i < n {
                                var bestLength = 0
                                var bestDistance = 0
                                if i + minMatch <= n {
                                    var candidate = Int(insert(i))
                                    let limit = min(maxMatch, n - i)
                                    var chain = maxChain
                                    while candidate >= 0, i - candidate <= maxDistance, chain > 0 {
                                        // Checking the byte that would extend the best match first rejects
                                        // most candidates without a full comparison.
                                        if d[candidate + bestLength] == d[i + bestLength] {
                                            var length = 0
                                            while length < limit, d[candidate + length] == d[i + length] { length += 1 }
                                            if length > bestLength {
                                                bestLength = length
                                                bestDistance = i - candidate
                                                if length == limit { break }
                                            }
                                        }
                                        candidate = Int(prev[candidate & windowMask])
                                        chain -= 1
                                    }
                                }
                                if bestLength >= minMatch {
                                    let code = lengthCode[bestLength]
                                    writer.write(code.bits, code.count)
                                    writer.writeDistance(bestDistance)
                                    // Index the positions inside the match too, so later data can refer to them.
                                    let end = min(i + bestLength, n - minMatch + 1)
                                    var j = i + 1
                                    while j < end {
                                        _ = insert(j)
                                        j += 1
                                    }
                                    i += bestLength
                                } else {
                                    let code = literal[Int(d[i])]
                                    writer.write(code.code, code.length)
                                    i += 1
                                }
                            }
                        }
                    }
                }
            }
        }
        let end = literalCodes[256]
        writer.write(end.code, end.length)
        return writer.finish()
    }

    /// `value`'s low `count` bits in reverse order.
    static func reverse(_ value: UInt32, _ count: Int) -> UInt32 {
        var v = value
        var r: UInt32 = 0
        for _ in 0..<count {
            r = r << 1 | (v & 1)
            v >>= 1
        }
        return r
    }
}

/// Packs bit fields least significant bit first, as DEFLATE requires.
private struct BitWriter {
    private var out: [UInt8]
    private var buffer: UInt64 = 0
    private var count = 0

    init(capacity: Int) {
        out = []
        out.reserveCapacity(capacity)
    }

    /// Appends the low `bits` bits of `value` (at most 32).
    @inline(__always)
    mutating func write(_ value: UInt32, _ bits: Int) {
        buffer |= UInt64(value) << UInt64(count)
        count += bits
        if count >= 32 {
            // Four bytes at a time keeps the append count down; `count` stays below 64 because we flush at 32.
            out.append(UInt8(truncatingIfNeeded: buffer))
            out.append(UInt8(truncatingIfNeeded: buffer >> 8))
            out.append(UInt8(truncatingIfNeeded: buffer >> 16))
            out.append(UInt8(truncatingIfNeeded: buffer >> 24))
            buffer >>= 32
            count -= 32
        }
    }

    /// Appends a match distance 1...32768: a 5-bit fixed code (most significant bit first), then extra bits.
    @inline(__always)
    mutating func writeDistance(_ distance: Int) {
        let symbol: Int
        let extraCount: Int
        let extraValue: Int
        if distance <= 4 {
            (symbol, extraCount, extraValue) = (distance - 1, 0, 0)
        } else {
            // Two codes per power of two, each with `top - 1` extra bits.
            let d = distance - 1
            let top = Int.bitWidth - 1 - d.leadingZeroBitCount
            extraCount = top - 1
            symbol = 2 * top + ((d >> extraCount) & 1)
            extraValue = d & ((1 << extraCount) - 1)
        }
        write(Deflate.reverse(UInt32(symbol), 5) | UInt32(extraValue) << 5, 5 + extraCount)
    }

    /// Flushes the last partial byte (zero padded) and returns the bytes.
    mutating func finish() -> [UInt8] {
        while count > 0 {
            out.append(UInt8(truncatingIfNeeded: buffer))
            buffer >>= 8
            count = max(0, count - 8)
        }
        return out
    }
}
