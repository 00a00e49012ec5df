public import Foundation
@_exported public import NeuroplexCore
import OpenAPIRuntime

/// A JSON value: what the memory stores under a key, in a CRDT set, map or graph, and in channel events.
///
/// Integers stay exact: a whole number that fits in 64 bits is ``int(_:)``, any other number ``double(_:)``.
/// Equality is numeric (`1 == 1.0`), as on the server, so compare-and-swap and set membership mean what a JSON
/// user expects. Literals build values; ``init(encoding:)`` and ``decode(_:)`` convert to and from your own
/// `Codable` types.
///
/// ```swift
/// let user: JSON = ["name": "Alice", "age": 30, "tags": ["admin"]]
/// user["age"]?.intValue          // 30
/// try await client.set("user:1", user)
/// struct User: Codable { var name: String; var age: Int }
/// let typed = try await client.get("user:1", as: User.self)   // User(name: "Alice", age: 30)
/// ```
///
/// It is NeuroplexCore's `JSONValue` (the type the embedded engine stores), so values pass between the SDK and an
/// embedded `Memory` as they are; this module adds the accessors and `Codable` conversions a client wants.
public typealias JSON = JSONValue

extension JSONValue {
    /// The element of an array at `index`, or `nil` when this is not an array or the index is out of range.
    public subscript(index: Int) -> JSON? {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return nil
    }

    /// Whether this is `null`.
    public var isNull: Bool { self == .null }
    /// The Boolean, if this is one.
    public var boolValue: Bool? { if case .bool(let value) = self { value } else { nil } }
    /// The string, if this is one.
    public var stringValue: String? { if case .string(let value) = self { value } else { nil } }
    /// The number as an integer, if this is an integer or a double with no fraction that fits.
    public var intValue: Int? {
        switch self {
        case .int(let value): Int(exactly: value)
        case .double(let value): Int(exactly: value)
        default: nil
        }
    }
    /// The number as a `Double`, if this is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let value): Double(value)
        case .double(let value): value
        default: nil
        }
    }
    /// The elements, if this is an array.
    public var arrayValue: [JSON]? { if case .array(let value) = self { value } else { nil } }
    /// The members, if this is an object.
    public var objectValue: [String: JSON]? { if case .object(let value) = self { value } else { nil } }

    /// Compact JSON text (object members in key order).
    public var jsonString: String { description }

    // MARK: Conversion to and from Codable types

    /// The JSON form of any `Encodable` value (dates become RFC 3339 strings with milliseconds, as the server writes
    /// them).
    /// - Throws: `EncodingError` when the value cannot be encoded (a non-finite `Double`, say).
    public init(encoding value: some Encodable) throws {
        if let json = value as? JSON {
            self = json
            return
        }
        self = try JSON.decoder.decode(JSON.self, from: JSON.encoder.encode(value))
    }

    /// This value as a `Decodable` type (dates read from RFC 3339 strings, with or without fractions of a second).
    /// - Throws: `DecodingError` when the value does not have the type's shape.
    public func decode<Value: Decodable>(_ type: Value.Type = Value.self) throws -> Value {
        if let json = self as? Value { return json }
        return try JSON.decoder.decode(Value.self, from: JSON.encoder.encode(self))
    }

    /// Parses JSON text.
    /// - Throws: `DecodingError` when the text is not JSON.
    public init(parsing text: some DataProtocol) throws {
        self = try JSON.decoder.decode(JSON.self, from: Data(text))
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(try ISO8601DateTranscoder.iso8601WithFractionalSeconds.encode(date))
        }
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = try? ISO8601DateTranscoder.iso8601WithFractionalSeconds.decode(text) { return date }
            return try ISO8601DateTranscoder.iso8601.decode(text)
        }
        return decoder
    }()
}

// MARK: The generated client's free-form containers

extension JSON {
    /// The generated client's container for a free-form value.
    var container: OpenAPIValueContainer {
        // Every case maps to a type the container accepts, so validation cannot fail.
        try! OpenAPIValueContainer(unvalidatedValue: containerValue)
    }

    /// The generated client's container for a free-form object; `nil` when this is not an object.
    var objectContainer: OpenAPIObjectContainer? {
        guard case .object(let members) = self else { return nil }
        return try! OpenAPIObjectContainer(unvalidatedValue: members.mapValues(\.containerValue))
    }

    private var containerValue: (any Sendable)? {
        switch self {
        case .null: nil
        case .bool(let value): value
        case .int(let value): Int(exactly: value).map { $0 as any Sendable } ?? Double(value)
        case .double(let value): value
        case .string(let value): value
        case .array(let value): value.map(\.containerValue)
        case .object(let value): value.mapValues(\.containerValue)
        }
    }

    init(_ container: OpenAPIValueContainer) { self.init(any: container.value) }

    init(_ container: OpenAPIObjectContainer) { self = .object(container.value.mapValues(JSON.init(any:))) }

    /// The value of a decoded container (the types `OpenAPIValueContainer` decodes into).
    private init(any value: (any Sendable)?) {
        switch value {
        case nil: self = .null
        case let value as Bool: self = .bool(value)
        case let value as Int: self = .int(Int64(value))
        case let value as Int64: self = .int(value)
        case let value as Double: self = .double(value)
        case let value as String: self = .string(value)
        case let value as [(any Sendable)?]: self = .array(value.map(JSON.init(any:)))
        case let value as [String: (any Sendable)?]: self = .object(value.mapValues(JSON.init(any:)))
        default: self = .null
        }
    }
}
