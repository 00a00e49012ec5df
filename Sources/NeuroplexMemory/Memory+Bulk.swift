public import Foundation
public import NeuroplexCore

/// What a bulk insert, update or delete did.
public struct BulkSummary: Sendable, Equatable {
    /// Entries (or keys) handled, written or not.
    public var processed = 0
    /// Keys that did not exist before.
    public var inserted = 0
    /// Keys that existed and were overwritten.
    public var updated = 0
    /// Keys removed.
    public var deleted = 0
    /// Keys that could not be written, with why (an update of a key that does not exist).
    public var errors: [BulkError] = []
    public var durationMs: Double = 0

    /// Whether every entry was written.
    public var success: Bool { errors.isEmpty }
}

/// One key a bulk operation could not write.
public struct BulkError: Sendable, Equatable {
    public var key: String
    public var code: NeuroplexError.Code
    public var message: String
}

/// What a migration did.
public struct MigrationSummary: Sendable, Equatable {
    /// Keys written under the target prefix.
    public var migrated = 0
    /// Source keys left alone because their target key exists (without `overwrite`).
    public var skipped = 0
    /// Source keys removed (a move).
    public var removed = 0
    public var durationMs: Double = 0
}

extension Memory {
    /// How a bulk operation treats its keys.
    public enum BulkMode: String, Sendable, CaseIterable {
        /// Writes every entry, creating or overwriting (counted as inserted or updated).
        case insert
        /// Overwrites existing keys only; a key that does not exist is reported as an error and not created.
        case update
        /// Removes the keys; keys that do not exist are skipped.
        case delete
    }

    /// Writes many keys in chunks of `batchSize`: each chunk is applied atomically (one log record, one wait for
    /// the disk), chunks one after another, so a large load goes at the log's speed, not one fsync per key.
    /// Every key and value is checked before anything is written: a bad one fails the call with nothing applied.
    /// - Parameters:
    ///   - entries: key and value pairs (for `.delete`, only the keys count).
    ///   - ttl: an expiry in seconds for every written key.
    public func bulk(
        _ mode: BulkMode, _ entries: [(key: String, value: JSONValue)], ttl: Double? = nil, batchSize: Int = 1000
    ) async throws -> BulkSummary {
        let start = ContinuousClock.now
        guard (1...100_000).contains(batchSize) else {
            throw NeuroplexError.invalid("batchSize", "the batch size must be between 1 and 100000")
        }
        for (index, entry) in entries.enumerated() {
            do {
                try validate(key: entry.key)
                if mode != .delete { try validate(value: entry.value) }
            } catch let error as NeuroplexError {
                throw NeuroplexError(error.kind, code: error.code, "entry \(index + 1): \(error.message)", field: "[\(index)]")
            }
        }
        let expiresAt = mode == .delete ? nil : try expiry(ttl: ttl)
        var summary = BulkSummary()
        var offset = 0
        while offset < entries.count {
            let chunk = entries[offset..<min(offset + batchSize, entries.count)]
            offset += chunk.count
            let writes = chunk.map { entry in
                AtomicWrite(key: entry.key) { current in
                    switch mode {
                    case .insert: return .put(entry.value, expiresAt: expiresAt)
                    case .update: return current == nil ? .keep : .put(entry.value, expiresAt: expiresAt)
                    case .delete: return current == nil ? .keep : .remove
                    }
                }
            }
            let results = try await applyAtomically(writes)
            for (entry, result) in zip(chunk, results) {
                summary.processed += 1
                switch mode {
                case .insert:
                    if result.previous == nil { summary.inserted += 1 } else { summary.updated += 1 }
                case .update:
                    if result.previous == nil {
                        summary.errors.append(
                            BulkError(key: entry.key, code: .notFound, message: "'\(entry.key)' does not exist"))
                    } else {
                        summary.updated += 1
                    }
                case .delete:
                    if result.previous != nil { summary.deleted += 1 }
                }
            }
        }
        statistics.record(.batch, since: start, failed: !summary.errors.isEmpty)
        summary.durationMs = Self.milliseconds(since: start)
        return summary
    }

    /// Writes several keys at once, atomically (as Redis `MSET`): all are checked first, then applied as one log
    /// record, so readers and a crash see all of them or none. A key named twice keeps its last value.
    @discardableResult
    public func set(_ entries: [(key: String, value: JSONValue)], ttl: Double? = nil) async throws -> [WriteResult] {
        for entry in entries {
            try validate(key: entry.key)
            try validate(value: entry.value)
        }
        let expiresAt = try expiry(ttl: ttl)
        return try await measured(.set) {
            try await applyAtomically(entries.map { entry in
                AtomicWrite(key: entry.key) { _ in .put(entry.value, expiresAt: expiresAt) }
            })
        }
    }

    /// Deletes several keys at once, atomically; returns for each whether a live entry existed.
    @discardableResult
    public func delete(_ keys: [String]) async throws -> [Bool] {
        let results = try await measured(.delete) {
            try await applyAtomically(keys.map { key in
                AtomicWrite(key: key) { current in current == nil ? .keep : .remove }
            })
        }
        return results.map { $0.previous != nil }
    }

    /// Copies (or, with `move`, moves) every key starting with `source` to the same key with `target` in place of
    /// that prefix, keeping values, TTLs and CRDT state (objects are copied whole, with their causal history).
    ///
    /// Keys are copied one by one and a moved key's source is removed only after its copy is written, so a crash
    /// part-way leaves some keys in both places, never in neither; running the migration again finishes it.
    /// - Parameter overwrite: replace target keys that exist; without it they are left alone and counted as skipped.
    /// - Throws: `validation_failed` when the prefixes are empty, equal or nested, or a target key would be too long,
    ///   before anything is written.
    public func migrate(
        from source: String, to target: String, move: Bool = false, overwrite: Bool = false
    ) async throws -> MigrationSummary {
        let start = ContinuousClock.now
        guard !source.isEmpty else { throw NeuroplexError.invalid("source", "the source prefix must not be empty") }
        guard !target.isEmpty else { throw NeuroplexError.invalid("target", "the target prefix must not be empty") }
        guard !source.hasPrefix(target), !target.hasPrefix(source) else {
            throw NeuroplexError.invalid(
                "target", "the source and target prefixes must not contain one another ('\(source)', '\(target)')")
        }
        let entries = exportedEntries { $0.hasPrefix(source) }
        let renamed = entries.map { target + $0.key.dropFirst(source.count) }
        for name in renamed {
            do { try validate(key: name) } catch let error as NeuroplexError {
                throw NeuroplexError(error.kind, code: error.code, "target key: \(error.message)", field: "target")
            }
        }
        var summary = MigrationSummary()
        for (entry, name) in zip(entries, renamed) {
            let expiresAt = entry.expiresAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
            let object = try entry.state.map { try MemoryObject.decode(typeName: entry.type, state: $0) }
            var exists = false
            var wrote = false
            if overwrite, object != nil {
                // A logged object delta merges into what the key holds on replay, so clear the key first.
                _ = try await mutate(name) { current, _ in current == nil ? .keep : .remove }
            }
            _ = try await mutate(name) { current, now in
                if let expiresAt, expiresAt <= now { return .keep }
                if current != nil, !overwrite {
                    exists = true
                    return .keep
                }
                wrote = true
                if let object { return .object(object, delta: object, expiresAt: expiresAt) }
                return .put(entry.value, expiresAt: expiresAt)
            }
            if exists { summary.skipped += 1 }
            guard wrote else { continue }
            summary.migrated += 1
            if move, try await delete(entry.key) { summary.removed += 1 }
        }
        summary.durationMs = Self.milliseconds(since: start)
        return summary
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
    }
}
