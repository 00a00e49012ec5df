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
        let (result, ticket) = try mutateApplying(key, allowExpired: allowExpired, decide)
        if let ticket { try await ticket.log.waitUntilDurable(ticket.position) }
        return result
    }

    /// The write path without the wait: applies the change in memory and in the log's pending buffer, and returns
    /// the ticket to wait on before acknowledging it (`nil` with async durability, or when nothing was written).
    func mutateApplying(
        _ key: String, allowExpired: Bool = false, _ decide: (Record?, Int64) throws -> Mutation
    ) throws -> (WriteResult, DurabilityTicket?) {
        let now = clock.milliseconds()
        // One hash lookup: the whole decision runs on the dictionary's slot for the key.
        func apply(_ slot: inout Record?) throws -> (WriteResult, UInt64?, WriteAheadLog?) {
            let stored = slot
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
                // The value's size limit, checked on the JSON just encoded rather than by measuring it first.
                let valueBytes = encoded.count - Self.putHeaderBytes - key.utf8.count
                if valueBytes > configuration.maxValueBytes { throw Self.tooLarge(valueBytes, limit: configuration.maxValueBytes) }
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
                slot = Record(value: value, version: version, expiresAt: expiresAt)
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
                slot = Record(value: .null, version: version, expiresAt: expiresAt, object: object)
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
                slot = nil
                return (WriteResult(previous: previous), position, log)
            }
        }
        let (result, position, log) = try shard(for: key).withLock { shard in try apply(&shard.records[key]) }
        guard let position, let log else { return (result, nil) }
        if log.length > configuration.snapshotAfterLogBytes { snapshotInBackground() }
        return (result, configuration.durability == .sync ? DurabilityTicket(position: position, log: log) : nil)
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

/// A write's place in the write-ahead log: acknowledge the write once the log is durable up to it.
public struct DurabilityTicket: Sendable {
    let position: UInt64
    let log: WriteAheadLog

    /// Suspends until the write is on disk.
    public func wait() async throws { try await log.waitUntilDurable(position) }

    /// Calls `done` once the write is on disk (with `nil`) or the log failed (with the error): at once, on this
    /// thread, when it already is; otherwise later, on the log's flusher thread.
    public func whenDurable(_ done: @escaping @Sendable ((any Error)?) -> Void) { log.whenDurable(position, done) }

    /// The later of two tickets (waiting on it covers both).
    public static func latest(_ a: DurabilityTicket?, _ b: DurabilityTicket?) -> DurabilityTicket? {
        guard let a else { return b }
        guard let b else { return a }
        return a.position >= b.position ? a : b
    }
}
