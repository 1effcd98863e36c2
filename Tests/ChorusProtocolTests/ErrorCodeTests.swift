import ChorusProtocol
import Testing

@Suite("Error code catalog")
struct ErrorCodeTests {
    @Test func catalogNumbersAreStable() {
        let expected: [(ErrorCode, Int, String)] = [
            (.malformed, 100, "MALFORMED"), (.unsupportedVersion, 101, "UNSUPPORTED_VERSION"),
            (.unknownCommand, 102, "UNKNOWN_COMMAND"), (.invalidTopic, 103, "INVALID_TOPIC"),
            (.invalidPattern, 104, "INVALID_PATTERN"), (.invalidProperty, 105, "INVALID_PROPERTY"),
            (.payloadTooLarge, 106, "PAYLOAD_TOO_LARGE"), (.reservedTopic, 107, "RESERVED_TOPIC"),
            (.blobTooLarge, 108, "BLOB_TOO_LARGE"),
            (.notSubscribed, 200, "NOT_SUBSCRIBED"), (.staleLease, 201, "STALE_LEASE"),
            (.groupMismatch, 202, "GROUP_MISMATCH"), (.invalidStart, 203, "INVALID_START"),
            (.limitReached, 204, "LIMIT_REACHED"), (.deadlinePassed, 205, "DEADLINE_PASSED"),
            (.awaitTimeout, 206, "AWAIT_TIMEOUT"), (.notFound, 207, "NOT_FOUND"),
            (.storageFailed, 300, "STORAGE_FAILED"), (.shuttingDown, 301, "SHUTTING_DOWN"),
        ]
        for (code, number, name) in expected {
            #expect(code.number == number)
            #expect(code.name == name)
        }
        #expect(ErrorCode.all == expected.map(\.0))
    }

    @Test func catalogIsInNumberOrderWithoutDuplicates() {
        let numbers = ErrorCode.all.map(\.number)
        #expect(numbers == numbers.sorted())
        #expect(Set(numbers).count == numbers.count)
    }

    @Test func lookupByNumber() {
        #expect(ErrorCode.from(number: 201) == .staleLease)
        #expect(ErrorCode.from(number: 999) == ErrorCode(999, "UNKNOWN"))
    }

    @Test func descriptions() {
        #expect(ErrorCode.malformed.description == "100 MALFORMED")
        #expect(ProtocolError(.staleLease, "gone").description == "STALE_LEASE (201): gone")
    }
}
