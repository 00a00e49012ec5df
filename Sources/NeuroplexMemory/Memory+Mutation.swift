import Foundation
import NeuroplexCore
import Synchronization

extension Memory {
    /// What a write decides to do with a key, given its current record.
    enum Mutation {
        case keep
        case put(JSONValue, expiresAt: Int64?)
        /// A put that keeps a given version (imports); later writes of any key get higher versions.
        case restore(JSONValue, expiresAt: Int64?, version: UInt64)
        /// Stores a CRDT after applying `delta` to it; the log gets the delta (or, with `version`, the full state of
        /// an import, keeping that version).
        case object(MemoryObject, delta: MemoryObject, expiresAt: Int64?, version: UInt64? = nil)
        case remove
        case expire
    }

    /// The one write path: decides under the key's shard lock, orders the change under the log lock (sequence
    /// number, log record, change event), applies it, and — with sync durability — waits for the disk.
    ///
    /// `decide` sees the live record (or, with `allowExpired`, the stored one even if expired) and the time in ms.
    func mutate(
        _ key: String, allowExpired: Bool = false, _ decide: (Record?, Int64) throws -> Mutation
    ) async throws -> WriteResult {
        let now = clock.milliseconds()
        let (result, position, log) = try shard(for: key).withLock {
            shard -> (WriteResult, UInt64?, WriteAheadLog?) in
            let stored = shard.records[key]
            let live = stored.flatMap { $0.isLive(at: now) ? $0 : nil }
            let current = allowExpired ? stored : live
            let mutation = try decide(current, now)
            let previous = current?.visible
            switch mutation {
            case .keep:
                return (
                    WriteResult(
                        version: live?.version, value: live?.visible, expiresAt: live.flatMap(\.expiresAt).map(Self.date),
                        previous: previous), nil, nil
                )
            case .put(let value, let expiresAt), .restore(let value, let expiresAt, _):
                var kept: UInt64?
                if case .restore(_, _, let version) = mutation { kept = version }
                // Encoded before the log lock (which every writer shares); only the sequence is filled in under it.
                var encoded = Self.encodePut(sequence: 0, version: kept ?? 0, key: key, value: value, expiresAt: expiresAt)
                let (sequence, position, log) = commit(now: now, atLeast: kept ?? 0) { sequence in
                    Self.fillSequence(sequence, keepingVersion: kept != nil, into: &encoded)
                    return (
                        encoded,
                        ChangeEvent(
                            sequence: sequence, type: live == nil ? .insert : .update, key: key, value: value,
                            previousValue: live?.visible, version: kept ?? sequence, timestamp: Self.date(now),
                            nodeId: configuration.nodeID)
                    )
                }
                let version = kept ?? sequence
                shard.records[key] = Record(value: value, version: version, expiresAt: expiresAt)
                return (
                    WriteResult(version: version, value: value, expiresAt: expiresAt.map(Self.date), previous: previous),
                    position, log
                )
            case .object(let object, let delta, let expiresAt, let kept):
                let state = try delta.encodedState()
                let (sequence, position, log) = commit(now: now, atLeast: kept ?? 0) { sequence in
                    (
                        Self.encodeObject(
                            sequence: sequence, version: kept, key: key, typeCode: delta.typeCode, state: state,
                            expiresAt: expiresAt),
                        ChangeEvent(
                            sequence: sequence, type: live == nil ? .insert : .update, key: key, value: object.view,
                            previousValue: live?.visible, version: kept ?? sequence, timestamp: Self.date(now),
                            nodeId: configuration.nodeID, objectType: object.typeName)
                    )
                }
                let version = kept ?? sequence
                shard.records[key] = Record(value: .null, version: version, expiresAt: expiresAt, object: object)
                return (
                    WriteResult(
                        version: version, value: object.view, expiresAt: expiresAt.map(Self.date),
                        previous: live?.visible), position, log
                )
            case .remove, .expire:
                guard stored != nil else { return (WriteResult(previous: nil), nil, nil) }
                let kind: ChangeEvent.Kind = if case .expire = mutation { .expire } else { .delete }
                let (_, position, log) = commit(now: now) { sequence in
                    (
                        Self.encodeRemove(sequence: sequence, key: key),
                        ChangeEvent(
                            sequence: sequence, type: kind, key: key, value: nil, previousValue: stored?.visible,
                            version: sequence, timestamp: Self.date(now), nodeId: configuration.nodeID)
                    )
                }
                shard.records[key] = nil
                return (WriteResult(previous: previous), position, log)
            }
        }
        if let position, let log, configuration.durability == .sync {
            try await log.waitUntilDurable(position)
        }
        if let log, log.length > configuration.snapshotAfterLogBytes { snapshotInBackground() }
        return result
    }

    /// Takes the next sequence number, appends the record to the log and publishes the event, in one step.
    /// `atLeast` moves the sequence past a restored version first, so versions stay unique and growing.
    private func commit(
        now: Int64, atLeast floor: UInt64 = 0, _ make: (UInt64) -> (record: [UInt8], event: ChangeEvent)
    ) -> (UInt64, UInt64?, WriteAheadLog?) {
        logState.withLock { state in
            state.sequence = max(state.sequence, floor)
            state.sequence += 1
            let sequence = state.sequence
            let (record, event) = make(sequence)
            let position = state.log?.append(record)
            reapEndedWatchers(&state)
            publish(event, into: &state)
            return (sequence, position, state.log)
        }
    }

    static func date(_ milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
