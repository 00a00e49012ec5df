public import NeuroplexCore
public import NeuroplexCRDT
import Synchronization

extension NeuroplexError.Code {
    /// A create of a key that already exists.
    public static let alreadyExists: Self = "already_exists"
}

extension Memory {
    /// This node's replica id in every CRDT it changes.
    var replica: ReplicaID { ReplicaID(configuration.nodeID) }

    /// The CRDT a key holds; `nil` when the key is absent. Throws `wrong_type` when it holds a JSON value.
    public func object(_ key: String) throws -> MemoryObject? {
        let now = clock.milliseconds()
        let record = shard(for: key).withLock { $0.records[key].flatMap { $0.isLive(at: now) ? $0 : nil } }
        guard let record else { return nil }
        guard let object = record.object else {
            throw NeuroplexError(.conflict, code: .wrongType, "'\(key)' holds a JSON value, not a CRDT")
        }
        return object
    }

    /// Creates a CRDT under a new key.
    /// - Throws: `already_exists` (409) when the key exists.
    @discardableResult
    public func createObject(_ key: String, _ initial: MemoryObject) async throws -> MemoryEntry {
        try validate(key: key)
        let result = try await mutate(key) { current, _ in
            if current != nil {
                throw NeuroplexError(.conflict, code: .alreadyExists, "'\(key)' already exists", field: "name")
            }
            return .object(initial, delta: initial, expiresAt: nil)
        }
        return MemoryEntry(key: key, value: result.value ?? .null, type: initial.typeName, version: result.version ?? 0)
    }

    /// Changes the CRDT under `key` with `change`, which mutates it and returns the delta it made plus a result.
    /// A missing key gets `missing` first when given (Redis creates a set on SADD); otherwise `not_found`.
    /// - Throws: `wrong_type` when the key holds another type (or a JSON value).
    public func updateObject<Result: Sendable>(
        _ key: String, type: String, missing: MemoryObject? = nil,
        _ change: (inout MemoryObject, ReplicaID) throws -> (delta: MemoryObject, result: Result)
    ) async throws -> Result {
        try validate(key: key)
        let outcome = Mutex<Result?>(nil)
        let replica = self.replica
        _ = try await mutate(key) { current, _ in
            var object: MemoryObject
            if let current {
                guard let held = current.object, held.typeName == type else {
                    throw NeuroplexError(
                        .conflict, code: .wrongType,
                        "'\(key)' holds \(current.object.map { "a \($0.typeName)" } ?? "a JSON value"), not a \(type)")
                }
                object = held
            } else if let missing {
                object = missing
            } else {
                throw NeuroplexError.notFound(type, id: key)
            }
            let (delta, result) = try change(&object, replica)
            outcome.withLock { $0 = result }
            return .object(object, delta: current == nil ? object : delta, expiresAt: current?.expiresAt)
        }
        return outcome.withLock { $0 }!
    }

    // MARK: Counters

    /// Adds to a PN-counter; returns its value.
    public func counterAdd(_ key: String, _ amount: Int64) async throws -> Int64 {
        try await updateObject(key, type: "counter") { object, replica in
            guard case .counter(var counter) = object else { preconditionFailure() }
            let delta = amount >= 0 ? counter.increment(by: amount, at: replica) : counter.decrement(by: -amount, at: replica)
            object = .counter(counter)
            return (.counter(delta), counter.value)
        }
    }

    /// Brings a PN-counter to 0 (increments made concurrently elsewhere survive).
    public func counterReset(_ key: String) async throws -> Int64 {
        try await updateObject(key, type: "counter") { object, replica in
            guard case .counter(var counter) = object else { preconditionFailure() }
            let delta = counter.reset(at: replica)
            object = .counter(counter)
            return (.counter(delta), counter.value)
        }
    }

    /// A new counter holding `initial`.
    public func makeCounter(_ initial: Int64) -> MemoryObject {
        var counter = PNCounter()
        if initial > 0 { counter.increment(by: initial, at: replica) }
        if initial < 0 { counter.decrement(by: -initial, at: replica) }
        return .counter(counter)
    }

    // MARK: Sets

    /// A new OR-set holding `elements`.
    public func makeSet(_ elements: [JSONValue]) -> MemoryObject {
        var set = ORSet<JSONValue>()
        for element in elements { set.add(element, at: replica) }
        return .set(set)
    }

    /// Adds elements to an OR-set (creating it when `create`); returns how many were not there before.
    public func setAdd(_ key: String, _ elements: [JSONValue], create: Bool = false) async throws -> Int {
        try await updateObject(key, type: "set", missing: create ? .set(ORSet()) : nil) { object, replica in
            guard case .set(var set) = object else { preconditionFailure() }
            var delta = ORSet<JSONValue>()
            var added = 0
            for element in elements {
                if !set.contains(element) { added += 1 }
                delta.merge(set.add(element, at: replica))
            }
            object = .set(set)
            return (.set(delta), added)
        }
    }

    /// Removes elements from an OR-set; returns how many were there.
    public func setRemove(_ key: String, _ elements: [JSONValue]) async throws -> Int {
        try await updateObject(key, type: "set") { object, _ in
            guard case .set(var set) = object else { preconditionFailure() }
            var delta = ORSet<JSONValue>()
            var removed = 0
            for element in elements where set.contains(element) {
                removed += 1
                delta.merge(set.remove(element))
            }
            object = .set(set)
            return (.set(delta), removed)
        }
    }

    /// Empties an OR-set (elements added concurrently elsewhere survive).
    public func setClear(_ key: String) async throws {
        try await updateObject(key, type: "set") { object, _ in
            guard case .set(var set) = object else { preconditionFailure() }
            let delta = set.clear()
            object = .set(set)
            return (.set(delta), ())
        }
    }

    // MARK: Maps

    /// A new OR-map holding `entries`.
    public func makeMap(_ entries: [String: JSONValue]) -> MemoryObject {
        var map = ORMap()
        let now = clock.milliseconds()
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            map.set(key: key, value: value, timestamp: now, at: replica)
        }
        return .map(map)
    }

    /// Sets one entry of an OR-map (last writer wins; concurrent writes are recorded as conflicts).
    public func mapSet(_ key: String, entry: String, _ value: JSONValue) async throws {
        let now = clock.milliseconds()
        try await updateObject(key, type: "map") { object, replica in
            guard case .map(var map) = object else { preconditionFailure() }
            let delta = map.set(key: entry, value: value, timestamp: now, at: replica)
            object = .map(map)
            return (.map(delta), ())
        }
    }

    /// Removes one entry of an OR-map; returns whether it was there.
    public func mapRemove(_ key: String, entry: String) async throws -> Bool {
        try await updateObject(key, type: "map") { object, _ in
            guard case .map(var map) = object else { preconditionFailure() }
            let existed = map.value(for: entry) != nil
            let delta = map.remove(key: entry)
            object = .map(map)
            return (.map(delta), existed)
        }
    }

    // MARK: Texts

    /// A new collaborative text holding `initial`.
    public func makeText(_ initial: String) throws -> MemoryObject {
        var text = TextCRDT()
        if !initial.isEmpty { try text.insert(initial, at: 0, by: replica) }
        return .text(text)
    }

    /// Inserts at a position (in Unicode code points); returns the text's length after.
    /// - Throws: `position_out_of_range` (400) past the end.
    public func textInsert(_ key: String, _ inserted: String, at position: Int) async throws -> Int {
        try await updateObject(key, type: "text") { object, replica in
            guard case .text(var text) = object else { preconditionFailure() }
            let delta = try text.insert(inserted, at: position, by: replica)
            object = .text(text)
            return (.text(delta), text.length)
        }
    }

    /// Deletes `length` code points at a position; returns the text's length after.
    public func textDelete(_ key: String, at position: Int, length: Int) async throws -> Int {
        try await updateObject(key, type: "text") { object, replica in
            guard case .text(var text) = object else { preconditionFailure() }
            let delta = try text.delete(at: position, length: length, by: replica)
            object = .text(text)
            return (.text(delta), text.length)
        }
    }

    // MARK: Graphs

    /// Adds or updates a vertex with its data.
    public func graphAddVertex(_ key: String, _ id: String, data: JSONValue) async throws {
        let now = clock.milliseconds()
        try await updateObject(key, type: "graph") { object, replica in
            guard case .graph(var graph) = object else { preconditionFailure() }
            let delta = graph.addVertex(id, data: data, timestamp: now, at: replica)
            object = .graph(graph)
            return (.graph(delta), ())
        }
    }

    /// Removes a vertex and its edges; returns whether it was there.
    public func graphRemoveVertex(_ key: String, _ id: String) async throws -> Bool {
        try await updateObject(key, type: "graph") { object, _ in
            guard case .graph(var graph) = object else { preconditionFailure() }
            let existed = graph.vertex(id) != nil
            let delta = graph.removeVertex(id)
            object = .graph(graph)
            return (.graph(delta), existed)
        }
    }

    /// Adds or updates a directed edge; both vertices must exist (`vertex_not_found`, 404).
    public func graphAddEdge(_ key: String, from: String, to: String, data: JSONValue) async throws {
        let now = clock.milliseconds()
        try await updateObject(key, type: "graph") { object, replica in
            guard case .graph(var graph) = object else { preconditionFailure() }
            let delta = try graph.addEdge(from: from, to: to, data: data, timestamp: now, at: replica)
            object = .graph(graph)
            return (.graph(delta), ())
        }
    }

    /// Removes an edge; returns whether it was there.
    public func graphRemoveEdge(_ key: String, from: String, to: String) async throws -> Bool {
        try await updateObject(key, type: "graph") { object, _ in
            guard case .graph(var graph) = object else { preconditionFailure() }
            let existed = graph.edge(from: from, to: to) != nil
            let delta = graph.removeEdge(from: from, to: to)
            object = .graph(graph)
            return (.graph(delta), existed)
        }
    }
}
