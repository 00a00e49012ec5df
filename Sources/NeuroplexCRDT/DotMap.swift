/// A dot store mapping keys to the writes (dots with their payloads) that currently stand for them.
///
/// This is the paper's `DotMap<K, DotFun<V>>` (Almeida et al., arXiv 1603.01529, section 7.2). It holds no
/// context of its own: a CRDT pairs it with a ``CausalContext`` (several stores may share one, as a graph's
/// vertices and edges do) and passes both contexts to ``join(_:context:otherContext:)``.
struct DotMap<Key: Hashable & Sendable, Payload: Equatable & Sendable>: Sendable, Equatable {
    var entries: [Key: [Dot: Payload]] = [:]

    /// The dots that stand for `key`.
    func dots(of key: Key) -> [Dot] {
        entries[key].map { Array($0.keys) } ?? []
    }

    /// Every dot in the store.
    var allDots: [Dot] {
        entries.values.flatMap(\.keys)
    }

    /// Joins `other`, whose state saw `otherContext`, into this store, whose state saw `context`.
    ///
    /// A dot survives if both stores hold it, or if one holds it and the other side never saw it; a dot one
    /// side saw and dropped is a removal. Call before joining the contexts themselves.
    /// Complexity: O(dots in both stores).
    mutating func join(_ other: DotMap, context: CausalContext, otherContext: CausalContext) {
        if !otherContext.isEmpty {
            // Collected first: changing `entries` while iterating it would copy it.
            var changed: [(key: Key, kept: [Dot: Payload])] = []
            for (key, writes) in entries where other.entries[key] == nil {
                let kept = writes.filter { !otherContext.contains($0.key) }
                if kept.count != writes.count { changed.append((key, kept)) }
            }
            for change in changed { entries[change.key] = change.kept.isEmpty ? nil : change.kept }
        }
        for (key, theirs) in other.entries {
            let mine = entries[key] ?? [:]
            var joined = mine.filter { theirs[$0.key] != nil || !otherContext.contains($0.key) }
            for (dot, payload) in theirs where mine[dot] == nil && !context.contains(dot) {
                joined[dot] = payload
            }
            entries[key] = joined.isEmpty ? nil : joined
        }
    }

    /// Drops the writes of `key` and returns their dots.
    mutating func removeValue(forKey key: Key) -> [Dot] {
        guard let writes = entries.removeValue(forKey: key) else { return [] }
        return Array(writes.keys)
    }
}

extension DotMap: Codable where Key: Codable, Payload: Codable {
    /// One key with its writes, as encoded.
    private struct Entry: Codable {
        var key: Key
        var writes: [Write]
    }

    /// One dot with its payload, as encoded.
    private struct Write: Codable {
        var dot: Dot
        var payload: Payload
    }

    init(from decoder: any Decoder) throws {
        let list = try decoder.singleValueContainer().decode([Entry].self)
        for entry in list where !entry.writes.isEmpty {
            for write in entry.writes { entries[entry.key, default: [:]][write.dot] = write.payload }
        }
    }

    func encode(to encoder: any Encoder) throws {
        let list = entries.map { key, writes in
            Entry(key: key, writes: writes.sorted { $0.key < $1.key }.map { Write(dot: $0.key, payload: $0.value) })
        }
        var container = encoder.singleValueContainer()
        try container.encode(list)
    }
}
