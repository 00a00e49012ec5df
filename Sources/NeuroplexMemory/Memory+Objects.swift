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
}
