import ChorusProtocol
import ChorusGenerators
import Testing

@Suite("SHA-256 against the FIPS 180-4 / NIST test vectors")
struct SHA256Tests {
    @Test func emptyString() {
        #expect(SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test func abc() {
        #expect(SHA256.hexDigest(bytes("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func twoBlockMessage448Bits() {
        let message = bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        #expect(SHA256.hexDigest(message) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    }

    @Test func oneMillionA() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000)) == expected)
        // The same message fed in odd-sized pieces, to exercise the partial-block carry.
        var hasher = SHA256()
        var left = 1_000_000
        var piece = 1
        while left > 0 {
            let n = min(piece, left)
            hasher.update([UInt8](repeating: 0x61, count: n))
            left -= n
            piece = piece % 997 + 13
        }
        #expect(SHA256.hex(hasher.finalize()) == expected)
    }

    @Test(arguments: [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 1000])
    func incrementalMatchesOneShot(length: Int) {
        let message = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for split in Set([0, length / 3, length / 2, length]) {
            var hasher = SHA256()
            hasher.update(Array(message[..<split]))
            hasher.update(Array(message[split...]))
            #expect(hasher.finalize() == SHA256.hash(message))
        }
    }

    @Test func finalizeDoesNotEndTheHash() {
        var hasher = SHA256()
        hasher.update(bytes("ab"))
        _ = hasher.finalize()
        hasher.update(bytes("c"))
        #expect(SHA256.hex(hasher.finalize()) == SHA256.hexDigest(bytes("abc")))
    }

    @Test func hexIsLowercaseTwoDigitsPerByte() {
        #expect(SHA256.hex([0x00, 0x0F, 0xA0, 0xFF]) == "000fa0ff")
        #expect(SHA256.hash([]).count == SHA256.digestLength)
    }
}
