/// The identity of one replica (a node, or a simulated one in tests) that makes changes to CRDTs.
///
/// Every replica that writes must have an id of its own: two writers sharing one id would mint the same
/// ``Dot`` for different writes. Ids are ordered by their text; that order breaks ties deterministically
/// (equal timestamps in last-writer-wins registers, concurrent inserts at one place in a text).
/// It is encoded as a plain JSON string and can key a JSON object.
public struct ReplicaID: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The id's text, such as a node name.
    public var rawValue: String
    /// The replica named `rawValue`.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public static func < (a: ReplicaID, b: ReplicaID) -> Bool { a.rawValue < b.rawValue }
    public var description: String { rawValue }
}

extension ReplicaID: ExpressibleByStringLiteral, CodingKeyRepresentable {
    public init(stringLiteral value: String) { self.rawValue = value }

    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }

    public var codingKey: any CodingKey { ReplicaCodingKey(stringValue: rawValue) }

    public init?<T: CodingKey>(codingKey: T) { self.rawValue = codingKey.stringValue }
}

/// The coding key of a dictionary keyed by ``ReplicaID``: the id's text.
private struct ReplicaCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
