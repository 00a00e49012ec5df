import Foundation
public import NeuroplexCore
public import NeuroplexCRDT

/// A CRDT stored under a key, beside plain JSON values in the same keyspace (as Redis keeps strings, sets and
/// hashes in one keyspace). Operations of one type on a key holding another are `wrong_type`.
public enum MemoryObject: Sendable, Equatable {
    case counter(PNCounter)
    case set(ORSet<JSONValue>)

    /// The type's name, as HTTP paths and Redis `TYPE` use it.
    public var typeName: String {
        switch self {
        case .counter: "counter"
        case .set: "set"
        }
    }

    /// What a reader sees: the counter's value, the set's elements (sorted by their JSON text).
    public var view: JSONValue {
        switch self {
        case .counter(let counter): .int(counter.value)
        case .set(let set): .array(set.elements.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        }
    }

    /// An empty object of the same type.
    var empty: MemoryObject {
        switch self {
        case .counter: .counter(PNCounter())
        case .set: .set(ORSet())
        }
    }

    /// Joins a delta (or a full state) of the same type; a delta of another type is ignored.
    mutating func merge(_ delta: MemoryObject) {
        switch (self, delta) {
        case (.counter(var counter), .counter(let other)):
            counter.merge(other)
            self = .counter(counter)
        case (.set(var set), .set(let other)):
            set.merge(other)
            self = .set(set)
        default:
            break
        }
    }

    // MARK: Encoding (log records, snapshots, export)

    var typeCode: UInt8 {
        switch self {
        case .counter: 1
        case .set: 2
        }
    }

    /// The state as JSON text (its `Codable` form).
    func encodedState() throws -> [UInt8] {
        switch self {
        case .counter(let counter): try CompactJSONEncoder().encode(counter)
        case .set(let set): try CompactJSONEncoder().encode(set)
        }
    }

    static func decode(typeCode: UInt8, state: some Collection<UInt8>) throws -> MemoryObject {
        let data = Data(state)
        switch typeCode {
        case 1: return .counter(try JSONDecoder().decode(PNCounter.self, from: data))
        case 2: return .set(try JSONDecoder().decode(ORSet<JSONValue>.self, from: data))
        default: throw NeuroplexError(.internal, code: .internal, "unknown object type \(typeCode) in the memory log")
        }
    }

    static func decode(typeName: String, state: JSONValue) throws -> MemoryObject {
        let code: UInt8 =
            switch typeName {
            case "counter": 1
            case "set": 2
            default: throw NeuroplexError.invalid("type", "unknown object type '\(typeName)'")
            }
        return try decode(typeCode: code, state: state.bytes)
    }
}
