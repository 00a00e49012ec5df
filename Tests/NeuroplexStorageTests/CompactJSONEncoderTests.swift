import Foundation
import NeuroplexCore
import Testing

/// The compact encoder must write JSON that any decoder reads back as the same value; Foundation's decoder is
/// the judge, and Foundation's encoder is the reference for what the values mean.
@Suite("Compact JSON encoder", .timeLimit(.minutes(3)))
struct CompactJSONEncoderTests {
    enum Colour: String, Codable, Equatable { case red, green }

    struct Limit: Codable, Equatable {
        var maximum: Int
        var windowSeconds: Int
    }

    struct Record: Codable, Equatable {
        var id: String
        var count: Int
        var ratio: Double
        var small: Float
        var flag: Bool
        var colour: Colour
        var tags: [String]
        var limit: Limit?
        var missing: Limit?
        var nested: [[Int]]
        var table: [String: Int]
        var when: Date
    }

    /// Two `encode(to:)` calls on one encoder, as generated `allOf` types do: one object.
    struct Merged: Codable, Equatable {
        var a: Limit
        var b: Record
        func encode(to encoder: any Encoder) throws {
            try a.encode(to: encoder)
            try b.encode(to: encoder)
        }
        init(a: Limit, b: Record) {
            self.a = a
            self.b = b
        }
        init(from decoder: any Decoder) throws {
            a = try Limit(from: decoder)
            b = try Record(from: decoder)
        }
    }

    /// Hand-written coding with nested containers, written before and after each other.
    struct Manual: Codable, Equatable {
        var x: Int
        var list: [Int]
        var inner: String
        enum Keys: String, CodingKey { case x, list, inner, after }
        enum InnerKeys: String, CodingKey { case value }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            var inner = container.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
            var list = container.nestedUnkeyedContainer(forKey: .list)
            try inner.encode(self.inner, forKey: .value)  // back into a container after another was opened
            for value in self.list { try list.encode(value) }
            try container.encode(x, forKey: .x)
        }
        init(x: Int, list: [Int], inner: String) {
            self.x = x
            self.list = list
            self.inner = inner
        }
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Keys.self)
            x = try container.decode(Int.self, forKey: .x)
            list = try container.decode([Int].self, forKey: .list)
            inner = try container.nestedContainer(keyedBy: InnerKeys.self, forKey: .inner)
                .decode(String.self, forKey: .value)
        }
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            guard let date = Timestamp.parse(text) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: text))
            }
            return date
        }
        return decoder
    }()

    static func record(_ id: String, ratio: Double = 0.1) -> Record {
        Record(
            id: id, count: Int.min, ratio: ratio, small: 0.1, flag: true, colour: .green,
            tags: ["", "a\"b", "line\nbreak\ttab\u{1}", "slash/\\back", "é 日本 🎉"],
            limit: Limit(maximum: 5, windowSeconds: Int.max), missing: nil, nested: [[], [1, -2], [3]],
            table: ["k": 1], when: Date(timeIntervalSince1970: 1_800_000_000.25))
    }

    @Test("arrays of doubles read back exactly (the one-loop path), and non-finite values are refused")
    func doubleArrays() throws {
        struct Sample: Codable, Equatable { var values: [Double]; var nested: [[Double]] }
        var generator = SystemRandomNumberGenerator()
        let values = (0..<500).map { _ in Double.random(in: -1e6...1e6, using: &generator) } + [0, 1, -2, 0.1, 1e-300, 5e15]
        let sample = Sample(values: values, nested: [[], [0.5], values])
        let bytes = try CompactJSONEncoder().encode(sample)
        #expect(try JSONDecoder().decode(Sample.self, from: Data(bytes)) == sample)
        #expect(String(decoding: try CompactJSONEncoder().encode([1.0, 0.5]), as: UTF8.self) == "[1,0.5]")
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(Sample(values: [1, .nan], nested: [])) }
    }

    @Test("values read back equal, with escapes, unicode, extremes, optionals and nesting")
    func roundTrips() throws {
        for ratio in [0.1, -2.5, 3.0, 1e300, 5e-324, 123_456_789.125, 0] {
            let value = Self.record("r-\(ratio)", ratio: ratio)
            try roundTrip(value)
        }
        try roundTrip(Merged(a: Limit(maximum: 1, windowSeconds: 2), b: Self.record("m")))
        try roundTrip(Manual(x: 7, list: [1, 2, 3], inner: "in"))
        try roundTrip([Self.record("a"), Self.record("b")])
    }

    func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let bytes = try CompactJSONEncoder().encode(value)
        let decoded = try #require(
            try? Self.decoder.decode(T.self, from: Data(bytes)), "\(String(decoding: bytes, as: UTF8.self))")
        #expect(decoded == value)
    }

    @Test("the text is compact, in declaration order, with RFC 3339 dates and absent optionals left out")
    func exactText() throws {
        struct Small: Codable {
            var name: String
            var at: Date
            var none: Int?
            var whole: Double
            var items: [Bool]
        }
        let text = String(
            decoding: try CompactJSONEncoder().encode(
                Small(name: "x\u{7F}", at: Date(timeIntervalSince1970: 0), none: nil, whole: 2, items: [true, false])),
            as: UTF8.self)
        #expect(text == #"{"name":"x\#u{7F}","at":"1970-01-01T00:00:00.000Z","whole":2,"items":[true,false]}"#)
        #expect(String(decoding: try CompactJSONEncoder().encode([String: [Int]]()), as: UTF8.self) == "{}")
        #expect(String(decoding: try CompactJSONEncoder().encode([Int]()), as: UTF8.self) == "[]")
        #expect(String(decoding: try CompactJSONEncoder().encode("top"), as: UTF8.self) == #""top""#)
    }

    @Test("non-finite numbers are refused, as JSON has no way to write them")
    func nonFinite() {
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(["x": Float.infinity]) }
    }
}
