@testable import ChorusBroker
import ChorusProtocol
import Foundation
import Testing

@Suite struct JSONWriterTests {
    @Test func stringsAreQuotedByJSONString() {
        // Escaping itself is JSONString's, tested in ChorusProtocolTests.
        var w = JSONWriter()
        w.string("say \"hi\"\n")
        #expect(w.bytes == Array(JSONString.quoted("say \"hi\"\n").utf8))
    }

    @Test func numbersBooleansRawAndNestedArraysGetCommasBetweenElements() {
        var w = JSONWriter()
        w.beginArray()
        w.int(-7)
        w.int(Int64.min)
        w.bool(false)
        w.raw(Array("{\"k\":null}".utf8))
        w.beginArray()
        w.int(0)
        w.endArray()
        w.beginArray()
        w.endArray()
        w.endArray()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"[-7,-9223372036854775808,false,{"k":null},[0],[]]"#)
    }

    @Test func objectsKeepKeyOrderAndNest() {
        var w = JSONWriter()
        w.beginObject()
        w.member("z", 1)
        w.key("a")
        w.bool(true)
        w.key("o")
        w.beginObject()
        w.endObject()
        w.key("m")
        w.beginArray()
        w.beginObject()
        w.member("k", "v")
        w.endObject()
        w.beginObject()
        w.endObject()
        w.endArray()
        w.member("last", "x")
        w.endObject()
        #expect(String(decoding: w.bytes, as: UTF8.self) == #"{"z":1,"a":true,"o":{},"m":[{"k":"v"},{}],"last":"x"}"#)
    }
}
