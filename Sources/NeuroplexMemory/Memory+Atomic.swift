import Foundation
import NeuroplexCore
import Synchronization

extension Memory {
    /// The shard index of a key.
    ///
    /// FNV-1a over the key's bytes: several times cheaper than `Hasher` on a short key, and it needs no seed
    /// (keys that collide on purpose only share a lock; each shard's dictionary still hashes with a random seed).
    func shardIndex(for key: String) -> Int {
        var key = key
        return key.withUTF8 { bytes in
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
            return Int((hash ^ (hash >> 32)) % UInt64(Self.shardCount))
        }
    }

    /// Runs `body` with the given shards locked (always in index order, so two callers never deadlock), handing it
    /// their contents by index. The pointers are valid only inside `body`.
    func withShardsLocked<T: Sendable>(
        _ indices: [Int], _ body: ([Int: UnsafeMutablePointer<Shard>]) throws -> T
    ) throws -> T {
        let ordered = Array(Set(indices)).sorted()
        var held: [Int: UnsafeMutablePointer<Shard>] = [:]
        func nest(_ position: Int) throws -> T {
            if position == ordered.count { return try body(held) }
            let index = ordered[position]
            return try shards[index].withLock { shard in
                try withUnsafeMutablePointer(to: &shard) { pointer in
                    held[index] = pointer
                    return try nest(position + 1)
                }
            }
        }
        return try nest(0)
    }

    /// One write of an atomic group.
    struct AtomicWrite {
        var key: String
        /// Given the key's live record (after the group's earlier writes to it), what to do.
        var decide: (Record?) throws -> Mutation
    }

    /// Applies several writes all-or-nothing: every key's shard is locked, every `check` and `decide` runs first
    /// (any error leaves everything as it was), then the changes get consecutive sequence numbers in one log
    /// record, so a crash keeps all of them or none.
    /// - Parameter check: runs with the live records of `keys`, before any write is decided.
    /// - Returns: for each write, its result.
    func applyAtomically(
        keys extraKeys: [String] = [], check: ([String: Record]) throws -> Void = { _ in }, _ writes: [AtomicWrite]
    ) async throws -> [WriteResult] {
        let now = clock.milliseconds()
        let allKeys = extraKeys + writes.map(\.key)
        let (results, position, log) = try withShardsLocked(allKeys.map(shardIndex)) {
            shards -> ([WriteResult], UInt64?, WriteAheadLog?) in
            func live(_ key: String) -> Record? {
                shards[shardIndex(for: key)]!.pointee.records[key].flatMap { $0.isLive(at: now) ? $0 : nil }
            }
            var current: [String: Record?] = [:]
            for key in allKeys where current[key] == nil { current[key] = .some(live(key)) }
            try check(current.compactMapValues { $0 })
            // Decide every write against the state the earlier writes of the group leave.
            var planned: [(key: String, mutation: Mutation, before: Record?)] = []
            for write in writes {
                let before = current[write.key] ?? nil
                let mutation = try write.decide(before)
                planned.append((write.key, mutation, before))
                switch mutation {
                case .keep: break
                case .put(let value, let expiresAt), .restore(let value, let expiresAt, _):
                    current[write.key] = .some(Record(value: value, version: 0, expiresAt: expiresAt))
                case .object:
                    preconditionFailure("CRDT objects do not go through atomic groups")
                case .remove, .expire: current[write.key] = .some(nil)
                }
            }
            return logState.withLock { state -> ([WriteResult], UInt64?, WriteAheadLog?) in
                reapEndedWatchers(&state)
                var record: [UInt8] = [RecordTag.group.rawValue]
                var results: [WriteResult] = []
                var changed = 0
                for (key, mutation, before) in planned {
                    let shard = shards[shardIndex(for: key)]!
                    switch mutation {
                    case .keep:
                        let now = shard.pointee.records[key].flatMap { $0.isLive(at: now) ? $0 : nil }
                        results.append(
                            WriteResult(
                                version: now?.version, value: now?.visible, expiresAt: now?.expiresAt.map(Self.date),
                                previous: before?.visible))
                    case .restore, .object:
                        preconditionFailure("imports and CRDT objects do not go through atomic groups")
                    case .put(let value, let expiresAt):
                        state.sequence += 1
                        let sequence = state.sequence
                        Self.appendPart(
                            Self.encodePut(sequence: sequence, key: key, value: value, expiresAt: expiresAt),
                            to: &record)
                        publish(
                            ChangeEvent(
                                sequence: sequence, type: before == nil ? .insert : .update, key: key, value: value,
                                previousValue: before?.visible, version: sequence, timestamp: Self.date(now),
                                nodeId: configuration.nodeID),
                            into: &state)
                        shard.pointee.records[key] = Record(value: value, version: sequence, expiresAt: expiresAt)
                        results.append(
                            WriteResult(
                                version: sequence, value: value, expiresAt: expiresAt.map(Self.date),
                                previous: before?.visible))
                        changed += 1
                    case .remove, .expire:
                        guard before != nil else {
                            results.append(WriteResult(previous: nil))
                            continue
                        }
                        state.sequence += 1
                        let sequence = state.sequence
                        Self.appendPart(Self.encodeRemove(sequence: sequence, key: key), to: &record)
                        publish(
                            ChangeEvent(
                                sequence: sequence, type: .delete, key: key, value: nil, previousValue: before?.visible,
                                version: sequence, timestamp: Self.date(now), nodeId: configuration.nodeID),
                            into: &state)
                        shard.pointee.records[key] = nil
                        results.append(WriteResult(previous: before?.visible))
                        changed += 1
                    }
                }
                guard changed > 0 else { return (results, nil, nil) }
                return (results, state.log?.append(record), state.log)
            }
        }
        if let position, let log, configuration.durability == .sync {
            try await log.waitUntilDurable(position)
        }
        if let log, log.length > configuration.snapshotAfterLogBytes { snapshotInBackground() }
        return results
    }

    static func appendPart(_ part: [UInt8], to record: inout [UInt8]) {
        WriteAheadLog.put(UInt32(part.count), into: &record)
        record.append(contentsOf: part)
    }
}
