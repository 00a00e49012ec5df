public import Foundation
public import NeuroplexCore
import Synchronization

/// One operation of a batch or an atomic transaction.
public enum MemoryOperation: Sendable, Equatable {
    case get(String)
    case exists(String)
    case set(String, JSONValue, ttl: Double? = nil)
    case delete(String)
    case increment(String, by: JSONValue)

    public var key: String {
        switch self {
        case .get(let key), .exists(let key), .set(let key, _, _), .delete(let key), .increment(let key, _): key
        }
    }
}

/// What ``Memory/executeBatch(_:continueOnError:)`` did.
public struct BatchOutcome: Sendable {
    /// Whether every operation succeeded.
    public var success: Bool { failed == 0 }
    public var total: Int
    public var successful: Int
    public var failed: Int
    /// The failures, by position in the batch.
    public var errors: [(index: Int, key: String, error: NeuroplexError)]
    /// Per operation: a read's value (`null` when absent), `{version}` for a write, `{deleted}`, `{exists}`,
    /// `{value, version}` for an increment; `nil` for a failed or skipped operation.
    public var results: [JSONValue?]
    public var durationMs: Double
}

/// The isolation of an interactive transaction.
public enum IsolationLevel: String, Sendable, CaseIterable {
    /// Each read sees the latest committed value; commit never conflicts.
    case readCommitted = "read_committed"
    /// A key reads the same for the whole transaction; commit fails if a key it read and wrote changed meanwhile
    /// (no lost updates).
    case repeatableRead = "repeatable_read"
    /// As repeatable read, and commit fails if any key it read changed meanwhile (validated at commit).
    case serializable
}

/// A condition of an atomic transaction (like etcd's `Txn` compares).
public struct MemoryCondition: Sendable, Equatable {
    public var key: String
    /// The key must be at this version.
    public var version: UInt64?
    /// The key must (not) exist.
    public var exists: Bool?
    /// The key must hold this value.
    public var value: JSONValue?

    public init(key: String, version: UInt64? = nil, exists: Bool? = nil, value: JSONValue? = nil) {
        self.key = key
        self.version = version
        self.exists = exists
        self.value = value
    }
}

extension NeuroplexError.Code {
    /// The transaction was rolled back or timed out, or never existed.
    public static let transactionNotFound: Self = "transaction_not_found"
    /// A write in a read-only transaction.
    public static let readOnlyTransaction: Self = "read_only_transaction"
}

extension Memory {
    struct Transaction: Sendable {
        enum Pending: Sendable {
            case put(JSONValue, expiresAt: Int64?)
            case delete
        }

        var isolation: IsolationLevel
        var readOnly: Bool
        var deadline: Int64
        /// Keys read, with what was seen (repeatable read and serializable).
        var reads: [String: Record?] = [:]
        var writes: [String: Pending] = [:]
        var order: [String] = []
    }

    // MARK: Batches

    /// Runs operations one after another (not atomically: see ``atomic(conditions:operations:)`` for that).
    /// With `continueOnError: false` it stops at the first failure and the rest are not run.
    public func executeBatch(_ operations: [MemoryOperation], continueOnError: Bool = false) async -> BatchOutcome {
        let start = ContinuousClock.now
        var outcome = BatchOutcome(
            total: operations.count, successful: 0, failed: 0, errors: [],
            results: Array(repeating: nil, count: operations.count), durationMs: 0)
        for (index, operation) in operations.enumerated() {
            do {
                outcome.results[index] = try await run(operation)
                outcome.successful += 1
            } catch {
                let failure =
                    error as? NeuroplexError ?? NeuroplexError(.internal, code: .internal, "\(error)")
                outcome.failed += 1
                outcome.errors.append((index, operation.key, failure))
                if !continueOnError { break }
            }
        }
        statistics.record(.batch, since: start, failed: outcome.failed > 0)
        outcome.durationMs = Self.milliseconds(since: start)
        return outcome
    }

    private func run(_ operation: MemoryOperation) async throws -> JSONValue {
        switch operation {
        case .get(let key):
            return get(key)?.value ?? .null
        case .exists(let key):
            return ["exists": .bool(exists(key))]
        case .set(let key, let value, let ttl):
            return ["version": .int(Int64(clamping: try await set(key, value, ttl: ttl).version ?? 0))]
        case .delete(let key):
            return ["deleted": .bool(try await delete(key))]
        case .increment(let key, let delta):
            let result = try await increment(key, by: delta)
            return ["value": result.value ?? .null, "version": .int(Int64(clamping: result.version ?? 0))]
        }
    }

    // MARK: Atomic transactions

    /// Applies `operations` all-or-nothing if every condition holds (etcd's `Txn`): reads see the transaction's
    /// own earlier writes. Returns `succeeded: false` and changes nothing when a condition fails.
    public func atomic(conditions: [MemoryCondition], operations: [MemoryOperation]) async throws -> (
        succeeded: Bool, results: [JSONValue]
    ) {
        for operation in operations {
            try validate(key: operation.key)
            if case .set(_, let value, _) = operation { try validate(value: value) }
        }
        struct ConditionFailed: Error {}
        var expiries: [Int: Int64?] = [:]
        for (index, operation) in operations.enumerated() {
            if case .set(_, _, let ttl) = operation { expiries[index] = try expiry(ttl: ttl) }
        }
        let writes = operations.enumerated().map { index, operation in
            AtomicWrite(key: operation.key) { current in
                switch operation {
                case .get, .exists: return .keep
                case .set: return .put(Self.value(of: operation)!, expiresAt: expiries[index] ?? nil)
                case .delete: return current == nil ? .keep : .remove
                case .increment(let key, let delta):
                    return .put(try Self.add(current?.value ?? .int(0), delta, key: key), expiresAt: current?.expiresAt)
                }
            }
        }
        do {
            let results = try await applyAtomically(keys: conditions.map(\.key), check: { current in
                for condition in conditions where !Self.holds(condition, current[condition.key]) {
                    throw ConditionFailed()
                }
            }, writes)
            return (true, zip(operations, results).map { operation, result in
                switch operation {
                case .get: result.value ?? .null
                case .exists: ["exists": .bool(result.value != nil)]
                case .set: ["version": .int(Int64(clamping: result.version ?? 0))]
                case .delete: ["deleted": .bool(result.previous != nil)]
                case .increment:
                    ["value": result.value ?? .null, "version": .int(Int64(clamping: result.version ?? 0))]
                }
            })
        } catch is ConditionFailed {
            return (false, [])
        }
    }

    private static func value(of operation: MemoryOperation) -> JSONValue? {
        if case .set(_, let value, _) = operation { return value }
        return nil
    }

    static func holds(_ condition: MemoryCondition, _ record: Record?) -> Bool {
        if let exists = condition.exists, exists != (record != nil) { return false }
        if let version = condition.version, record?.version != version { return false }
        if let value = condition.value, record?.visible != value { return false }
        return true
    }

    // MARK: Interactive transactions

    /// Starts a transaction; returns its id. It is rolled back if not committed within `timeout` seconds.
    public func beginTransaction(
        isolation: IsolationLevel = .readCommitted, timeout: Double = 30, readOnly: Bool = false
    ) throws -> String {
        guard timeout > 0, timeout <= 3600 else {
            throw NeuroplexError.invalid("timeoutMs", "the timeout must be between 1 ms and 1 hour")
        }
        let now = clock.now()
        let id = Identifier.make(prefix: "tx", at: now)
        let deadline = clock.milliseconds() + Int64(timeout * 1000)
        transactions.withLock { transactions in
            let current = clock.milliseconds()
            transactions = transactions.filter { $0.value.deadline > current }  // forget abandoned ones
            transactions[id] = Transaction(isolation: isolation, readOnly: readOnly, deadline: deadline)
        }
        return id
    }

    /// Reads a key as the transaction sees it: its own writes first, then the store per its isolation.
    public func transactionGet(_ id: String, _ key: String) throws -> JSONValue? {
        let now = clock.milliseconds()
        let live = shard(for: key).withLock { $0.records[key].flatMap { $0.isLive(at: now) ? $0 : nil } }
        return try withTransaction(id) { transaction in
            switch transaction.writes[key] {
            case .put(let value, _): return value
            case .delete: return nil
            case nil: break
            }
            if transaction.isolation == .readCommitted { return live?.visible }
            if let seen = transaction.reads[key] { return seen?.visible }
            transaction.reads[key] = .some(live)
            return live?.visible
        }
    }

    /// Buffers a write; nothing is visible to others before commit.
    public func transactionSet(_ id: String, _ key: String, _ value: JSONValue, ttl: Double? = nil) throws {
        try validate(key: key)
        try validate(value: value)
        let expiresAt = try expiry(ttl: ttl)
        try withTransaction(id) { transaction in
            try Self.checkWritable(transaction)
            if transaction.writes[key] == nil { transaction.order.append(key) }
            transaction.writes[key] = .put(value, expiresAt: expiresAt)
        }
    }

    /// Buffers a deletion.
    public func transactionDelete(_ id: String, _ key: String) throws {
        try withTransaction(id) { transaction in
            try Self.checkWritable(transaction)
            if transaction.writes[key] == nil { transaction.order.append(key) }
            transaction.writes[key] = .delete
        }
    }

    /// Adds to a number as the transaction sees it, buffering the result.
    public func transactionIncrement(_ id: String, _ key: String, by delta: JSONValue) throws -> JSONValue {
        let current = try transactionGet(id, key)
        let sum = try Self.add(current ?? .int(0), delta, key: key)
        try transactionSet(id, key, sum)
        return sum
    }

    /// Applies the transaction's writes atomically, after validating what its isolation level promises; returns
    /// each written key with what the write did, in the order the transaction first wrote them.
    /// - Throws: `transaction_conflict` (and nothing is written) when a key it depended on changed meanwhile;
    ///   `transaction_not_found` for an unknown, finished or timed-out transaction.
    @discardableResult
    public func commit(_ id: String) async throws -> [(key: String, result: WriteResult)] {
        try await measured(.transaction) { try await commitTransaction(id) }
    }

    private func commitTransaction(_ id: String) async throws -> [(key: String, result: WriteResult)] {
        let transaction = try withTransaction(id, remove: true) { $0 }
        var watched: [String: Record?] = [:]
        switch transaction.isolation {
        case .readCommitted: break
        case .repeatableRead: watched = transaction.reads.filter { transaction.writes[$0.key] != nil }
        case .serializable: watched = transaction.reads
        }
        struct Conflict: Error { var key: String }
        let writes = transaction.order.map { key in
            AtomicWrite(key: key) { current in
                switch transaction.writes[key]! {
                case .put(let value, let expiresAt): .put(value, expiresAt: expiresAt)
                case .delete: current == nil ? .keep : .remove
                }
            }
        }
        do {
            let results = try await applyAtomically(keys: Array(watched.keys), check: { current in
                for (key, seen) in watched where current[key]?.version != seen?.version {
                    throw Conflict(key: key)
                }
            }, writes)
            return Array(zip(transaction.order, results)).map { (key: $0.0, result: $0.1) }
        } catch let conflict as Conflict {
            throw NeuroplexError(
                .conflict, code: .transactionConflict,
                "'\(conflict.key)' changed after this transaction read it; nothing was written — retry the transaction")
        }
    }

    /// Discards the transaction's writes.
    public func rollback(_ id: String) throws {
        _ = try withTransaction(id, remove: true) { _ in () }
    }

    private static func checkWritable(_ transaction: Transaction) throws {
        if transaction.readOnly {
            throw NeuroplexError(.conflict, code: .readOnlyTransaction, "this transaction was started read-only")
        }
    }

    private func withTransaction<T>(
        _ id: String, remove: Bool = false, _ body: (inout Transaction) throws -> T
    ) throws -> T {
        let now = clock.milliseconds()
        return try transactions.withLock { transactions in
            guard var transaction = transactions[id], transaction.deadline > now else {
                transactions[id] = nil
                throw NeuroplexError(
                    .notFound, code: .transactionNotFound,
                    "no open transaction '\(id)': it was committed, rolled back, timed out, or never existed")
            }
            let result = try body(&transaction)
            transactions[id] = remove ? nil : transaction
            return result
        }
    }
}
