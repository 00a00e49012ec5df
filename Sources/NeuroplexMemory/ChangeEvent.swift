public import Foundation
public import NeuroplexCore

/// One acknowledged change, as the change stream delivers it.
public struct ChangeEvent: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case insert, update, delete, expire, conflict
    }

    /// The global position of the change: every change has one, and they only grow.
    public var sequence: UInt64
    public var type: Kind
    public var key: String
    /// The value after the change (`nil` for deletions and expiries).
    public var value: JSONValue?
    /// The value before it (`nil` for insertions).
    public var previousValue: JSONValue?
    /// The key's version after the change (its last version for deletions).
    public var version: UInt64
    public var timestamp: Date
    public var nodeId: String
    /// The CRDT type when the key holds one (`counter`, `set`, …); not part of the JSON form.
    var objectType: String? = nil

    enum CodingKeys: String, CodingKey {
        case sequence, type, key, value, previousValue, version, timestamp, nodeId
    }
}
