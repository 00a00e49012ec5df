public import NeuroplexCore

/// A map from strings to last-writer-wins JSON registers, with add-wins keys and recorded conflicts.
///
/// Every ``set(key:value:timestamp:at:)`` gets a fresh ``Dot`` and replaces the writes of that key its
/// replica has seen. Writes made concurrently (neither saw the other) both stand: ``value(for:)`` answers
/// the one with the greatest `(timestamp, replica)`, and when their values differ the key is listed in
/// ``conflicts`` until a later write, such as ``resolve(key:value:timestamp:at:)``, replaces them.
/// A ``remove(key:)`` deletes only the writes it has seen, so a concurrent `set` keeps the key (add wins).
///
/// Timestamps come from the caller (milliseconds since 1970); the map has no clock of its own. A write that
/// saw an earlier one replaces it even if its timestamp is smaller: causality first, clocks only between
/// concurrent writes.
///
/// ```swift
/// var preferences = ORMap()
/// let delta = preferences.set(key: "theme", value: "dark", timestamp: 1_700_000_000_000, at: "a")
/// preferences.value(for: "theme")   // "dark"
/// ```
public struct ORMap: DeltaCRDT {
    var store: DotMap<String, RegisterWrite>
    /// Every write and remove this state has seen.
    public private(set) var context: CausalContext

    /// An empty map.
    public init() {
        store = DotMap()
        context = CausalContext()
    }

    /// The winning value of `key`, or `nil` if the key is absent.
    public func value(for key: String) -> JSONValue? {
        store.entries[key]?.winner?.value
    }

    /// Every key with its winning value.
    public var entries: [String: JSONValue] {
        store.entries.compactMapValues { $0.winner?.value }
    }

    /// The keys, sorted.
    public var keys: [String] { store.entries.keys.sorted() }

    /// The number of keys.
    public var count: Int { store.entries.count }

    /// The standing writes of `key`, winner first: one unless concurrent writes have not been replaced yet.
    public func writes(for key: String) -> [TimestampedValue] {
        store.entries[key]?.rankedWrites ?? []
    }

    /// Keys whose concurrent writes disagree, each with its writes (winner first).
    ///
    /// Concurrent writes of one value are not a conflict. Resolve one with
    /// ``resolve(key:value:timestamp:at:)``.
    public var conflicts: [String: [TimestampedValue]] {
        var found: [String: [TimestampedValue]] = [:]
        for (key, writes) in store.entries where writes.count > 1 {
            let first = writes.first?.value.value
            if writes.values.contains(where: { $0.value != first }) {
                found[key] = writes.rankedWrites
            }
        }
        return found
    }

    /// Writes `value` to `key` on behalf of `replica`; returns the delta.
    ///
    /// Replaces every write of `key` this replica has seen, including a conflict's writes.
    /// - Parameter timestamp: the caller's time of the write in milliseconds since 1970; it orders this write
    ///   against concurrent ones.
    @discardableResult
    public mutating func set(key: String, value: JSONValue, timestamp: Int64, at replica: ReplicaID) -> ORMap {
        let dot = context.makeDot(for: replica)
        let write = RegisterWrite(value: value, timestamp: timestamp)
        var delta = ORMap()
        delta.context = CausalContext(dots: store.dots(of: key) + [dot])
        delta.store.entries[key] = [dot: write]
        store.entries[key] = [dot: write]
        return delta
    }

    /// Settles a conflict on `key` by writing the chosen `value`; returns the delta.
    ///
    /// The same as ``set(key:value:timestamp:at:)``: a write replaces every write it has seen, so all the
    /// conflicting writes this replica knows of are gone after it.
    @discardableResult
    public mutating func resolve(key: String, value: JSONValue, timestamp: Int64, at replica: ReplicaID) -> ORMap {
        set(key: key, value: value, timestamp: timestamp, at: replica)
    }

    /// Removes `key` as far as this replica has seen it; returns the delta.
    ///
    /// A concurrent write elsewhere keeps the key. Removing an absent key returns an empty delta.
    @discardableResult
    public mutating func remove(key: String) -> ORMap {
        var delta = ORMap()
        delta.context = CausalContext(dots: store.removeValue(forKey: key))
        return delta
    }

    /// Removes every key this replica has seen; returns the delta.
    @discardableResult
    public mutating func clear() -> ORMap {
        var delta = ORMap()
        delta.context = CausalContext(dots: store.allDots)
        store.entries.removeAll()
        return delta
    }

    /// Joins another state or delta into this map.
    ///
    /// Complexity: O(size of both).
    public mutating func merge(_ other: ORMap) {
        store.join(other.store, context: context, otherContext: other.context)
        context.formUnion(other.context)
    }
}

extension ORMap: Codable {
    private enum CodingKeys: String, CodingKey {
        case entries, context
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        store = try container.decode(DotMap<String, RegisterWrite>.self, forKey: .entries)
        context = try container.decode(CausalContext.self, forKey: .context)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(store, forKey: .entries)
        try container.encode(context, forKey: .context)
    }
}
