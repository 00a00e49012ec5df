import NeuroplexCore
import Testing

@Suite("JSON values", .timeLimit(.minutes(3)))
struct JSONValueTests {
    @Test("parse and write round-trip, with sorted keys, exact integers and escapes")
    func roundTrip() throws {
        let text = #"{"b":[1,-2.5,1e3,true,false,null],"a":"x\"y\\z\n\u00e9\ud83c\udf89","c":{},"d":[],"e":9007199254740993}"#
        let value = try JSONValue.parse(text)
        #expect(value["e"] == .int(9_007_199_254_740_993))  // beyond Double's exact range, kept exact
        #expect(value["a"] == .string("x\"y\\z\né🎉"))
        let written = String(decoding: value.bytes, as: UTF8.self)
        #expect(written == #"{"a":"x\"y\\z\né🎉","b":[1,-2.5,1000,true,false,null],"c":{},"d":[],"e":9007199254740993}"#)
        #expect(try JSONValue.parse(written) == value)
        #expect(value.encodedSize == value.bytes.count)
        for sample: JSONValue in [-7, 0, .int(Int64.min), 1e300, -0.5, "a\u{01}\"", [], [:], [nil, true, false]] {
            #expect(sample.encodedSize == sample.bytes.count, "\(sample)")
        }
    }

    @Test("numbers compare by value: 1 equals 1.0, and they hash alike")
    func numericEquality() {
        #expect(JSONValue.int(1) == .double(1.0))
        #expect(Set<JSONValue>([.int(1), .double(1.0)]).count == 1)
        #expect(JSONValue.int(1) != .string("1"))
    }

    @Test("malformed text is refused with the byte offset of the problem")
    func errors() {
        let cases: [(String, Int)] = [
            ("", 0), ("{", 1), (#"{"a" 1}"#, 5), ("[1,]", 3), ("01", 1), ("1.", 2), ("tru", 0),
            (#""\ud800""#, 7), ("\"a\u{01}\"", 2), ("1 2", 2), (#"{"a":1,}"#, 7),
        ]
        for (text, offset) in cases {
            let error = #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(text) }
            #expect(error?.offset == offset, "\(text): \(String(describing: error))")
        }
        #expect(throws: JSONParseError.self) { try JSONValue.parse(Array([0x22, 0xFF, 0x22])) }  // invalid UTF-8
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 600)) }
        #expect(throws: JSONParseError.self) { try JSONValue.parse("1e999") }
    }
}
