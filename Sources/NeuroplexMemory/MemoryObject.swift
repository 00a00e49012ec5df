import Foundation
public import NeuroplexCore
public import NeuroplexCRDT

/// A CRDT stored under a key, beside plain JSON values in the same keyspace (as Redis keeps strings, sets and
/// hashes in one keyspace). Operations of one type on a key holding another are `wrong_type`.
public indirect enum MemoryObject: Sendable, Equatable {
    case counter(PNCounter)
    case set(ORSet<JSONValue>)
    case map(ORMap)
    case text(TextCRDT)
    case graph(GraphCRDT)

    /// The type's name, as HTTP paths and Redis `TYPE` use it.
    public var typeName: String {
        switch self {
        case .counter: "counter"
        case .set: "set"
        case .map: "map"
        case .text: "text"
        case .graph: "graph"
        }
    }

    /// What a reader sees: a counter's value, a set's elements (sorted by their JSON text), a map's entries, a
    /// text's string, a graph's `{vertices: {id: data}, edges: [{from, to, data}]}`.
    public var view: JSONValue {
        switch self {
        case .counter(let counter): .int(counter.value)
        case .set(let set): .array(set.elements.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) })
        case .map(let map): .object(map.entries)
        case .text(let text): .string(text.text)
        case .graph(let graph):
            [
                "vertices": .object(graph.vertices),
                "edges": .array(
                    graph.edges.map { ["from": .string($0.from), "to": .string($0.to), "data": $0.data] }),
            ]
        }
    }

    /// An empty object of the same type.
    var empty: MemoryObject {
        switch self {
        case .counter: .counter(PNCounter())
        case .set: .set(ORSet())
        case .map: .map(ORMap())
        case .text: .text(TextCRDT())
        case .graph: .graph(GraphCRDT())
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
        case (.map(var map), .map(let other)):
            map.merge(other)
            self = .map(map)
        case (.text(var text), .text(let other)):
            text.merge(other)
            self = .text(text)
        case (.graph(var graph), .graph(let other)):
            graph.merge(other)
            self = .graph(graph)
        default:
            break
        }
    }

    // MARK: Encoding (log records, snapshots, export)

    var typeCode: UInt8 {
        switch self {
        case .counter: 1
        case .set: 2
        case .map: 3
        case .text: 4
        case .graph: 5
        }
    }

    /// The state as JSON text (its `Codable` form).
    func encodedState() throws -> [UInt8] {
        switch self {
        case .counter(let counter): try CompactJSONEncoder().encode(counter)
        case .set(let set): try CompactJSONEncoder().encode(set)
        case .map(let map): try CompactJSONEncoder().encode(map)
        case .text(let text): try CompactJSONEncoder().encode(text)
        case .graph(let graph): try CompactJSONEncoder().encode(graph)
        }
    }

    static func decode(typeCode: UInt8, state: some Collection<UInt8>) throws -> MemoryObject {
        let data = Data(state)
        switch typeCode {
        case 1: return .counter(try JSONDecoder().decode(PNCounter.self, from: data))
        case 2: return .set(try JSONDecoder().decode(ORSet<JSONValue>.self, from: data))
        case 3: return .map(try JSONDecoder().decode(ORMap.self, from: data))
        case 4: return .text(try JSONDecoder().decode(TextCRDT.self, from: data))
        case 5: return .graph(try JSONDecoder().decode(GraphCRDT.self, from: data))
        default: throw NeuroplexError(.internal, code: .internal, "unknown object type \(typeCode) in the memory log")
        }
    }

    static func decode(typeName: String, state: JSONValue) throws -> MemoryObject {
        let code: UInt8 =
            switch typeName {
            case "counter": 1
            case "set": 2
            case "map": 3
            case "text": 4
            case "graph": 5
            default: throw NeuroplexError.invalid("type", "unknown object type '\(typeName)'")
            }
        return try decode(typeCode: code, state: state.bytes)
    }
}
