public import NeuroplexCore
import OpenAPIRuntime

/// Consistency levels, causal tokens and conflicts.
extension NeuroplexClient {
    /// The server's consistency settings: the default level, per-key levels, and the node's causal token.
    ///
    /// ```swift
    /// try await client.setConsistency(default: .eventual, keys: ["account:*": .strong])
    /// let settings = try await client.consistency()
    /// settings.keyLevels["account:*"]   // .strong
    /// settings.token                    // "c1:1042": this node has every change up to 1042
    /// ```
    public func consistency() async throws -> ConsistencySettings {
        switch try await call({ try await $0.getMemoryConsistency() }) {
        case .ok(let ok): return ConsistencySettings(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The node's causal token: the position of the latest change it has.
    public func causalToken() async throws -> String { try await consistency().token }

    /// Changes the default level and/or levels of keys or glob patterns (a `nil` level removes a key's level); the
    /// server saves them with the data.
    /// - Returns: the settings after the change.
    @discardableResult
    public func setConsistency(default level: ConsistencyLevel? = nil, keys: [String: ConsistencyLevel?] = [:])
        async throws -> ConsistencySettings
    {
        let levels = JSON.object(keys.mapValues { $0.map { .string($0.rawValue) } ?? .null })
        let body = Operations.SetMemoryConsistency.Input.Body.JsonPayload(
            defaultLevel: level.flatMap { .init(rawValue: $0.rawValue) },
            keyLevels: keys.isEmpty ? nil : levels.objectContainer.map { .init(additionalProperties: $0) })
        switch try await call({ try await $0.setMemoryConsistency(body: .json(body)) }) {
        case .ok(let ok): return ConsistencySettings(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Unresolved conflicts (concurrent writes to one entry of a CRDT map) in maps whose keys match `pattern`.
    ///
    /// ```swift
    /// for conflict in try await client.conflicts(pattern: "profile:*") {
    ///     try await client.resolveConflict(conflict.key, entry: conflict.entry, with: .local)
    /// }
    /// ```
    public func conflicts(pattern: String = "*") async throws -> [MemoryConflict] {
        switch try await call({ try await $0.listMemoryConflicts(query: .init(pattern: pattern)) }) {
        case .ok(let ok):
            return try ok.body.json.conflicts.map { conflict in
                MemoryConflict(
                    key: conflict.key, entry: conflict.entry,
                    writes: conflict.writes.map {
                        MemoryConflict.Write(value: JSON($0.value), timestamp: $0.timestamp, replica: $0.replica)
                    })
            }
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Settles the conflict on one entry of the map under `key`; returns the value kept.
    /// - Throws: 404 `not_found` when that entry has no conflict.
    @discardableResult
    public func resolveConflict(_ key: String, entry: String, with resolution: ConflictResolution) async throws
        -> JSON
    {
        let body: Operations.ResolveMemoryConflict.Input.Body.JsonPayload
        switch resolution {
        case .local: body = .init(entry: entry, resolver: .local)
        case .remote: body = .init(entry: entry, resolver: .remote)
        case .value(let value): body = .init(entry: entry, resolver: .value, value: value.container)
        }
        switch try await call({ try await $0.resolveMemoryConflict(path: .init(key: key), body: .json(body)) }) {
        case .ok(let ok): return JSON(try ok.body.json.value)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}
