public import Foundation
public import NeuroplexCore
public import NeuroplexCRDT
import Synchronization

/// How up to date a read must be. On one node every level is met by every read; the levels are recorded now so that
/// clients and replication (a later issue) share one vocabulary.
public enum ConsistencyLevel: String, Sendable, CaseIterable, Codable {
    /// Reads see every acknowledged write (linearizable).
    case strong
    /// Reads may lag; replicas converge.
    case eventual
    /// Reads respect causality: a write is never seen before what it depended on.
    case causal
    /// A session's reads never go back in time.
    case monotonic
}

/// The consistency settings: a default level and levels for particular keys (exact keys or glob patterns).
public struct ConsistencySettings: Sendable, Equatable, Codable {
    public var defaultLevel: ConsistencyLevel = .strong
    public var keyLevels: [String: ConsistencyLevel] = [:]

    /// The level that applies to a key: the first matching key pattern (exact keys first), else the default.
    public func level(for key: String) -> ConsistencyLevel {
        if let exact = keyLevels[key] { return exact }
        for (pattern, level) in keyLevels.sorted(by: { $0.key < $1.key }) where GlobPattern(pattern).matches(key) {
            return level
        }
        return defaultLevel
    }
}

/// Concurrent writes to one entry of an OR-map, kept until someone resolves them.
public struct MemoryConflict: Sendable, Equatable {
    public var key: String
    public var entry: String
    /// The winner (by timestamp, then replica) first.
    public var writes: [TimestampedValue]
}

extension Memory {
    static let consistencyFile = "consistency.json"

    /// The current settings.
    public var consistency: ConsistencySettings { consistencySettings.withLock { $0 } }

    /// Changes the default level and/or key levels (`nil` for a key removes its level); saved with the data.
    /// - Throws: `validation_failed` for an empty or over-long key pattern.
    @discardableResult
    public func updateConsistency(
        defaultLevel: ConsistencyLevel? = nil, keyLevels: [String: ConsistencyLevel?] = [:]
    ) throws -> ConsistencySettings {
        for key in keyLevels.keys { try validate(key: key) }
        let updated = consistencySettings.withLock { settings in
            if let defaultLevel { settings.defaultLevel = defaultLevel }
            for (key, level) in keyLevels { settings.keyLevels[key] = level }
            return settings
        }
        if let directory = configuration.directory {
            let path = (directory as NSString).appendingPathComponent(Self.consistencyFile)
            try Self.writeDurably(try CompactJSONEncoder().encode(updated), to: path + ".tmp")
            guard rename(path + ".tmp", path) == 0 else { throw POSIXFailure("rename \(path)") }
        }
        return updated
    }

    /// Reads the saved settings at start (defaults when there are none).
    func loadConsistency(from directory: String) throws {
        let path = (directory as NSString).appendingPathComponent(Self.consistencyFile)
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let settings = try JSONDecoder().decode(ConsistencySettings.self, from: data)
        consistencySettings.withLock { $0 = settings }
    }

    /// Every unresolved conflict in the OR-maps whose keys match `pattern`.
    public func conflicts(_ pattern: GlobPattern = .all) -> [MemoryConflict] {
        let now = clock.milliseconds()
        var found: [MemoryConflict] = []
        for shard in shards {
            shard.withLock { shard in
                for (key, record) in shard.records where record.isLive(at: now) && pattern.matches(key) {
                    guard case .map(let map)? = record.object else { continue }
                    for (entry, writes) in map.conflicts {
                        found.append(MemoryConflict(key: key, entry: entry, writes: writes))
                    }
                }
            }
        }
        return found.sorted { ($0.key, $0.entry) < ($1.key, $1.entry) }
    }

    /// How a conflict is settled.
    public enum ConflictResolver: Sendable, Equatable {
        /// Keep the value that currently wins.
        case local
        /// Take the strongest value that does not currently win.
        case remote
        /// Write this value.
        case value(JSONValue)
    }

    /// Settles the conflict on one entry of an OR-map; returns the value kept.
    /// - Throws: `not_found` when that entry has no conflict.
    @discardableResult
    public func resolveConflict(_ key: String, entry: String, with resolver: ConflictResolver) async throws -> JSONValue {
        let now = clock.milliseconds()
        return try await updateObject(key, type: "map") { object, replica in
            guard case .map(var map) = object else { preconditionFailure() }
            guard let writes = map.conflicts[entry], let winner = writes.first else {
                throw NeuroplexError.notFound("conflict", id: "\(key)/\(entry)")
            }
            let chosen: JSONValue =
                switch resolver {
                case .local: winner.value
                case .remote: writes.first { $0.value != winner.value }?.value ?? winner.value
                case .value(let value): value
                }
            let delta = map.resolve(key: entry, value: chosen, timestamp: max(now, writes.map(\.timestamp).max() ?? now), at: replica)
            object = .map(map)
            return (.map(delta), chosen)
        }
    }

    /// A token for read-your-writes and monotonic reads: the position of the latest change this node has.
    public var causalToken: String { "c1:\(latestSequence)" }

    /// Whether this node has seen everything up to a token another read or write returned.
    /// - Throws: `validation_failed` for a token that is not one of ours.
    public func hasSeen(_ token: String) throws -> Bool {
        try Self.position(of: token) <= latestSequence
    }

    /// Waits until this node has seen everything up to `token` (read-your-writes and monotonic reads for a
    /// session that carries its last token from node to node). Returns `false` if that did not happen in `timeout`.
    /// - Throws: `validation_failed` for a token that is not one of ours.
    public func waitUntilSeen(_ token: String, timeout: Duration) async throws -> Bool {
        let target = try Self.position(of: token)
        if target <= latestSequence { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitForSequence(target) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }

    /// Suspends until the sequence reaches `target`; returns `false` when cancelled or closed first.
    private func waitForSequence(_ target: UInt64) async -> Bool {
        let id = nextSequenceWaiter.add(1, ordering: .relaxed).newValue
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let reached: Bool? = logState.withLock { state in
                    if state.sequence >= target { return true }
                    if state.cancelledWaiters.remove(id) != nil { return false }
                    state.sequenceWaiters[id] = (target, continuation)
                    return nil
                }
                if let reached { continuation.resume(returning: reached) }
            }
        } onCancel: {
            let waiter = logState.withLock { state in
                let waiter = state.sequenceWaiters.removeValue(forKey: id)
                if waiter == nil { state.cancelledWaiters.insert(id) }
                return waiter
            }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Wakes the waiters whose position the sequence has reached (under the log lock).
    static func wakeSequenceWaiters(_ state: inout LogState) {
        for (id, waiter) in state.sequenceWaiters where waiter.target <= state.sequence {
            state.sequenceWaiters[id] = nil
            waiter.continuation.resume(returning: true)
        }
    }

    static func position(of token: String) throws -> UInt64 {
        guard token.hasPrefix("c1:"), let position = UInt64(token.dropFirst(3)) else {
            throw NeuroplexError.invalid("token", "'\(token)' is not a causal token of this server")
        }
        return position
    }
}
