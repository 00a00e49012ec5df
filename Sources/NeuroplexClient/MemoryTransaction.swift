public import NeuroplexCore
import OpenAPIRuntime

extension NeuroplexClient {
    /// Runs `body` in an interactive transaction: commits when it returns, rolls back when it throws.
    ///
    /// ```swift
    /// try await client.transaction(isolation: .serializable) { tx in
    ///     let balance = try await tx.get("account:1", as: Int.self) ?? 0
    ///     guard balance >= 100 else { throw InsufficientFunds() }   // rolled back: nothing written
    ///     try await tx.set("account:1", balance - 100)
    ///     try await tx.set("account:2", (try await tx.get("account:2", as: Int.self) ?? 0) + 100)
    /// }
    /// ```
    ///
    /// Writes are buffered on the server until the commit, and the whole transaction runs on one node (no failover
    /// once it has begun). Under `serializable`, the loser of a conflict gets 409 `transaction_conflict` from the
    /// commit; run the transaction again.
    /// - Parameters:
    ///   - isolation: the isolation level.
    ///   - timeout: the server ends a transaction left open this long (1 ms – 1 hour).
    ///   - readOnly: refuse writes (409 on the first `set` or `delete`).
    ///   - body: the work; its result is the transaction's.
    /// - Throws: what `body` throws (after rolling back), or ``NeuroplexClientError`` from the server.
    nonisolated(nonsending)
    public func transaction<Result>(
        isolation: IsolationLevel = .readCommitted, timeout: Duration = .seconds(30), readOnly: Bool = false,
        _ body: nonisolated(nonsending) (MemoryTransaction) async throws -> Result
    ) async throws -> Result {
        let request = Components.Schemas.MemoryTransactionRequest(
            isolation: .init(rawValue: isolation.rawValue),
            timeoutMs: max(1, Int(timeout.seconds * 1000)), readOnly: readOnly)
        let (output, node) = try await callNode(.once, on: nil) {
            try await $0.beginMemoryTransaction(body: .json(request))
        }
        let transaction: MemoryTransaction
        switch output {
        case .created(let created):
            let begun = try created.body.json
            transaction = MemoryTransaction(
                client: self, node: node, id: begun.id, isolation: isolation, readOnly: begun.readOnly)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
        let result: Result
        do {
            result = try await body(transaction)
        } catch {
            await transaction.rollbackIgnoringCancellation()
            throw error
        }
        try await transaction.commit()
        return result
    }
}

/// An open interactive transaction, handed to the closure of
/// ``NeuroplexClient/transaction(isolation:timeout:readOnly:_:)``: reads see its own writes; nothing it writes is
/// visible to others before the commit.
public struct MemoryTransaction: Sendable {
    let client: NeuroplexClient
    let node: Int
    /// The server's id of the transaction.
    public let id: String
    public let isolation: IsolationLevel
    public let readOnly: Bool

    /// A key's value as the transaction sees it, or `nil` when it does not exist.
    public func get(_ key: String) async throws -> JSON? {
        let (output, _) = try await client.callNode(.safe, on: node) {
            try await $0.getMemoryTransactionValue(path: .init(id: id, key: key))
        }
        switch output {
        case .ok(let ok): return JSON(try ok.body.json.value)
        case .default(let status, let problem):
            let error = NeuroplexClientError(status, problem)
            if status == 404 && error.code == "not_found" { return nil }
            throw error
        }
    }

    /// A key's value as a `Decodable` type, or `nil` when it does not exist.
    public func get<Value: Decodable>(_ key: String, as type: Value.Type) async throws -> Value? {
        try await get(key)?.decode(type)
    }

    /// Writes a key when the transaction commits (conditions do not apply here: the isolation level decides
    /// conflicts).
    public func set(_ key: String, _ value: JSON, ttl: Duration? = nil) async throws {
        let body = Components.Schemas.MemorySetRequest(value: value.container, ttl: ttl?.seconds)
        let (output, _) = try await client.callNode(.safe, on: node) {
            try await $0.setMemoryTransactionValue(path: .init(id: id, key: key), body: .json(body))
        }
        switch output {
        case .noContent: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Writes a key with any `Encodable` value when the transaction commits.
    public func set(_ key: String, _ value: some Encodable, ttl: Duration? = nil) async throws {
        try await set(key, try JSON(encoding: value), ttl: ttl)
    }

    /// Deletes a key when the transaction commits.
    public func delete(_ key: String) async throws {
        let (output, _) = try await client.callNode(.safe, on: node) {
            try await $0.deleteMemoryTransactionValue(path: .init(id: id, key: key))
        }
        switch output {
        case .noContent: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    func commit() async throws {
        let (output, _) = try await client.callNode(.once, on: node) {
            try await $0.commitMemoryTransaction(path: .init(id: id))
        }
        switch output {
        case .ok: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Rolls back, best effort: a failure here must not hide the error that caused it, and the server ends the
    /// transaction after its time-out anyway. When the task is cancelled, the rollback still goes out (the request
    /// would otherwise be cancelled with it); it is awaited, so nothing outlives this call.
    func rollbackIgnoringCancellation() async {
        let rollback: @Sendable () async -> Void = { [client, node, id] in
            _ = try? await client.callNode(.safe, on: node) {
                try await $0.rollbackMemoryTransaction(path: .init(id: id))
            }
        }
        if Task.isCancelled {
            await Task { await rollback() }.value
        } else {
            await rollback()
        }
    }
}
