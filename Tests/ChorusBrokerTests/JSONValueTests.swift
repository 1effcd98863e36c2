@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

@Suite("JSONValue")
struct JSONValueTests {
    func written(_ value: JSONValue) -> String {
        var out: [UInt8] = []
        value.write(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    @Test func stringsAreQuotedByJSONString() {
        // Escaping itself is JSONString's, tested in ChorusProtocolTests.
        #expect(written(.string("say \"hi\"\n")) == JSONString.quoted("say \"hi\"\n"))
    }

    @Test func numbersBooleansRawAndNesting() {
        #expect(written(.array([.int(-7), .bool(false), .raw("{\"k\":null}"), .array([.int(0)])])) == #"[-7,false,{"k":null},[0]]"#)
    }

    @Test func objectsKeepKeyOrder() {
        #expect(written(.object([("z", .int(1)), ("a", .bool(true)), ("m", .array([]))])) == #"{"z":1,"a":true,"m":[]}"#)
    }
}
