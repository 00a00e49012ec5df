public import NeuroplexCore
public import Foundation

/// How up to date a read must be: the seed's four levels, shared with the server's settings.
public enum ConsistencyLevel: String, Sendable, Hashable, CaseIterable, Codable {
    /// Reads see every acknowledged write (linearizable).
    case strong
    /// Reads may lag; replicas converge.
    case eventual
    /// A write is never seen before what it depended on.
    case causal
    /// A session's reads never go back in time.
    case monotonic
}

/// A key's value with its version and expiry.
///
/// ```swift
/// if let entry = try await client.entry("user:1") {
///     try await client.set("user:1", ["name": "Bob"], ifVersion: entry.version)   // 412 if it moved on
/// }
/// ```
public struct MemoryEntry: Sendable, Hashable {
    public var key: String
    public var value: JSON
    /// Grows with every write to any key (it is the sequence number of the change that wrote this value).
    public var version: UInt64
    /// When the key expires, if it has a TTL.
    public var expiresAt: Date?

    public init(key: String, value: JSON, version: UInt64, expiresAt: Date? = nil) {
        self.key = key
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
    }

    /// The value as a `Decodable` type.
    public func decode<Value: Decodable>(as type: Value.Type) throws -> Value { try value.decode(type) }

    init(_ entry: Components.Schemas.MemoryEntry) {
        self.init(
            key: entry.key, value: JSON(entry.value), version: UInt64(clamping: entry.version),
            expiresAt: entry.expiresAt)
    }
}

/// What a write did: the key's new version and its expiry.
public struct MemoryWrite: Sendable, Hashable {
    public var key: String
    public var version: UInt64
    public var expiresAt: Date?

    init(_ result: Components.Schemas.MemoryWriteResult) {
        self.key = result.key
        self.version = UInt64(clamping: result.version)
        self.expiresAt = result.expiresAt
    }
}

/// One operation of a batch (``NeuroplexClient/executeBatch(_:continueOnError:)``) or of an atomic transaction
/// (``NeuroplexClient/atomic(if:then:)``).
///
/// ```swift
/// let result = try await client.executeBatch([
///     .set("user:1", ["name": "Alice"]),
///     .increment("visits", by: 1),
///     .get("user:1"),
/// ])
/// result.results[1]?["value"]   // the new count
/// result.results[2]              // {"name":"Alice"}
/// ```
public enum MemoryOperation: Sendable, Hashable {
    /// Reads a key. Result: its value, or `null` when it does not exist.
    case get(String)
    /// Whether a key exists. Result: `{"exists": true|false}`.
    case exists(String)
    /// Writes a key, with an optional TTL. Result: `{"version": n}`.
    case set(String, JSON, ttl: Duration? = nil)
    /// Deletes a key. Result: `{"deleted": true|false}`.
    case delete(String)
    /// Adds to a number (a missing key counts as 0). Result: `{"value": new value, "version": n}`.
    case increment(String, by: Double = 1)
    /// Subtracts from a number. Result: `{"value": new value, "version": n}`.
    case decrement(String, by: Double = 1)

    /// The key the operation works on.
    public var key: String {
        switch self {
        case .get(let key), .exists(let key), .set(let key, _, _), .delete(let key), .increment(let key, _),
            .decrement(let key, _):
            key
        }
    }

    var schema: Components.Schemas.MemoryOperation {
        switch self {
        case .get(let key): .init(op: .get, key: key)
        case .exists(let key): .init(op: .exists, key: key)
        case .set(let key, let value, let ttl): .init(op: .set, key: key, value: value.container, ttl: ttl?.seconds)
        case .delete(let key): .init(op: .delete, key: key)
        case .increment(let key, let delta): .init(op: .increment, key: key, delta: delta)
        case .decrement(let key, let delta): .init(op: .decrement, key: key, delta: delta)
        }
    }
}

/// What a batch did, operation by operation.
public struct BatchResult: Sendable, Hashable {
    /// One operation that failed.
    public struct Failure: Sendable, Hashable {
        /// Its position in the batch.
        public var index: Int
        public var key: String
        /// The stable code, e.g. `wrong_type`.
        public var code: String
        public var message: String
    }

    /// Whether every operation succeeded.
    public var success: Bool
    public var totalOperations: Int
    public var successfulOperations: Int
    public var failedOperations: Int
    public var errors: [Failure]
    /// How long the server took.
    public var duration: Duration
    /// Each operation's result in order (see ``MemoryOperation``); `nil` for one that failed or was skipped after a
    /// failure (without `continueOnError`).
    public var results: [JSON?]

    init(_ result: Components.Schemas.MemoryBatchResult, continueOnError: Bool) {
        self.success = result.success
        self.totalOperations = result.totalOperations
        self.successfulOperations = result.successfulOperations
        self.failedOperations = result.failedOperations
        self.errors = result.errors.map { Failure(index: $0.index, key: $0.key, code: $0.code, message: $0.message) }
        self.duration = .milliseconds(result.durationMs)
        let failed = Set(errors.map(\.index))
        let stoppedAt = continueOnError ? nil : errors.map(\.index).min()
        self.results = result.results.enumerated().map { index, value in
            if failed.contains(index) { return nil }
            if let stoppedAt, index > stoppedAt { return nil }
            return JSON(value)
        }
    }
}

/// A condition of an atomic transaction (``NeuroplexClient/atomic(if:then:)``), checked before anything is written.
///
/// ```swift
/// let result = try await client.atomic(
///     if: [.version("account:1", is: 7), .absent("lock:account:1")],
///     then: [.decrement("account:1:balance", by: 100), .increment("account:2:balance", by: 100)])
/// result.succeeded   // false when a condition did not hold; then nothing changed
/// ```
public struct MemoryCondition: Sendable, Hashable {
    public var key: String
    /// The key must be at this version.
    public var version: UInt64?
    /// The key must (`true`) or must not (`false`) exist.
    public var exists: Bool?
    /// The key must hold this value.
    public var value: JSON?

    public init(key: String, version: UInt64? = nil, exists: Bool? = nil, value: JSON? = nil) {
        self.key = key
        self.version = version
        self.exists = exists
        self.value = value
    }

    /// The key is at `version`.
    public static func version(_ key: String, is version: UInt64) -> Self { .init(key: key, version: version) }
    /// The key exists.
    public static func exists(_ key: String) -> Self { .init(key: key, exists: true) }
    /// The key does not exist.
    public static func absent(_ key: String) -> Self { .init(key: key, exists: false) }
    /// The key holds `value`.
    public static func value(_ key: String, equals value: JSON) -> Self { .init(key: key, value: value) }

    var schema: Components.Schemas.MemoryCondition {
        .init(key: key, version: version.map { Int64(clamping: $0) }, exists: exists, value: value?.container)
    }
}

/// What an atomic transaction did.
public struct AtomicResult: Sendable, Hashable {
    /// Whether every condition held; when `false`, nothing changed.
    public var succeeded: Bool
    /// Each operation's result in order (empty when it did not apply).
    public var results: [JSON]
}

/// The isolation of an interactive transaction (``NeuroplexClient/transaction(isolation:timeout:readOnly:_:)``).
public enum IsolationLevel: String, Sendable, Hashable, CaseIterable {
    /// Each read sees the latest committed value.
    case readCommitted = "read_committed"
    /// A key read twice reads the same value.
    case repeatableRead = "repeatable_read"
    /// Every key read is checked at commit; the loser of a conflict gets 409 `transaction_conflict`.
    case serializable
}

/// The engine's statistics (`GET /memory/stats`).
public struct MemoryStats: Sendable, Hashable {
    /// One operation's counts and latencies.
    public struct Operation: Sendable, Hashable {
        public var operation: String
        public var count: Int
        public var errors: Int
        public var averageMs: Double
        /// An upper bound (power-of-two microsecond buckets).
        public var p95Ms: Double
        public var p99Ms: Double
        /// The average rate since the engine started.
        public var perSecond: Double
    }

    public var keys: Int
    public var memoryEstimateBytes: Int
    /// The change stream's position: the sequence number of the latest change.
    public var sequence: UInt64
    public var watchers: Int
    public var subscribers: Int
    public var openTransactions: Int
    public var uptimeSeconds: Double
    public var operations: [Operation]

    init(_ stats: Components.Schemas.MemoryStats) {
        self.keys = stats.keys
        self.memoryEstimateBytes = stats.memoryEstimateBytes
        self.sequence = UInt64(clamping: stats.sequence)
        self.watchers = stats.watchers
        self.subscribers = stats.subscribers
        self.openTransactions = stats.openTransactions
        self.uptimeSeconds = stats.uptimeSeconds
        self.operations = stats.operations.map {
            Operation(
                operation: $0.operation, count: $0.count, errors: $0.errors, averageMs: $0.averageMs, p95Ms: $0.p95Ms,
                p99Ms: $0.p99Ms, perSecond: $0.perSecond)
        }
    }
}

/// What an import wrote and skipped (entries already at that version or newer are skipped).
public struct ImportSummary: Sendable, Hashable {
    public var imported: Int
    public var skipped: Int
}

/// The server's consistency settings and this node's causal token.
public struct ConsistencySettings: Sendable, Hashable {
    /// The level of keys without one of their own.
    public var defaultLevel: ConsistencyLevel
    /// Levels of particular keys or glob patterns.
    public var keyLevels: [String: ConsistencyLevel]
    /// The node's causal token: the position of the latest change it has. A session that carries it can tell
    /// whether another node has caught up with what it wrote (read-your-writes, monotonic reads).
    public var token: String

    init(_ schema: Components.Schemas.MemoryConsistency) {
        self.defaultLevel = ConsistencyLevel(rawValue: schema.defaultLevel.rawValue) ?? .strong
        self.keyLevels = schema.keyLevels.additionalProperties.compactMapValues { ConsistencyLevel(rawValue: $0.rawValue) }
        self.token = schema.token
    }
}

/// Concurrent writes to one entry of a CRDT map, the winner first.
public struct MemoryConflict: Sendable, Hashable {
    /// One of the concurrent writes.
    public struct Write: Sendable, Hashable {
        public var value: JSON
        /// The write's timestamp (the order writes are ranked in, then by replica).
        public var timestamp: Int64
        /// The replica that wrote it.
        public var replica: String
    }

    /// The map's key.
    public var key: String
    /// The entry of the map written concurrently.
    public var entry: String
    public var writes: [Write]
}

/// How ``NeuroplexClient/resolveConflict(_:entry:with:)`` settles a conflict.
public enum ConflictResolution: Sendable, Hashable {
    /// Keep the value that currently wins.
    case local
    /// Take the strongest write that does not currently win.
    case remote
    /// Write this value.
    case value(JSON)
}

extension Duration {
    /// The duration in seconds, as the contract's TTLs are.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}

/// What a bulk insert, update or delete did.
public struct BulkResult: Sendable, Equatable {
    /// One key a bulk operation could not write.
    public struct Failure: Sendable, Equatable {
        public var key: String
        public var code: String
        public var message: String
    }

    public var success: Bool
    public var processed: Int
    public var inserted: Int
    public var updated: Int
    public var deleted: Int
    public var errors: [Failure]
    public var durationMs: Double
}

/// What a migration did.
public struct MigrationResult: Sendable, Equatable {
    /// Keys written under the target prefix.
    public var migrated: Int
    /// Source keys left alone because their target exists (without `overwrite`).
    public var skipped: Int
    /// Source keys removed (a move).
    public var removed: Int
}
