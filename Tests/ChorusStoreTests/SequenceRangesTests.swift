import ChorusStore
import Testing

@Suite("SequenceRanges: the text of groups.in_flight")
struct SequenceRangesTests {
    @Test(arguments: [
        ([], ""),
        ([5], "5"),
        ([5, 6], "5-6"),
        ([9, 5, 6, 7, 9, 12], "5-7,9,12"),
        ([0, UInt64.max - 1, UInt64.max], "0,18446744073709551614-18446744073709551615"),
    ] as [([UInt64], String)])
    func encodes(_ seqs: [UInt64], _ text: String) {
        #expect(SequenceRanges.encode(seqs) == text)
    }

    @Test func decodesWhatItEncodes() {
        let seqs: [UInt64] = [1, 2, 3, 10, 12, 13, 100]
        #expect(SequenceRanges.decode(SequenceRanges.encode(seqs)) == seqs)
        #expect(SequenceRanges.decode("") == [])
    }

    @Test(arguments: ["x", "5-", "-5", "7-5", "5,5", "9,3", "1,,2", "1-2-3", " 1", "1 ", "5-18446744073709551616"])
    func refusesWhatItDoesNotWrite(_ text: String) {
        #expect(SequenceRanges.decode(text) == nil)
    }

    @Test func refusesMoreNumbersThanTheLimit() {
        #expect(SequenceRanges.decode("1-10", limit: 10)?.count == 10)
        #expect(SequenceRanges.decode("1-11", limit: 10) == nil)
        #expect(SequenceRanges.decode("1-5,7-12", limit: 10) == nil)
        #expect(SequenceRanges.decode("0-18446744073709551615") == nil)
    }
}
