public import Foundation
public import Logging
public import NeuroplexCore
import Synchronization

/// The memory engine: a key-value store of JSON values with versions, TTLs, a change stream and a write-ahead log.
///
/// Usable embedded, without the server:
///
/// ```swift
/// let memory = try await Memory(configuration: .init(directory: "/var/lib/app/memory"), logger: logger)
/// let written = try await memory.set("user:1", ["name": "Alice"])
/// let entry = memory.get("user:1")          // value, version, expiresAt
/// try await memory.close()
/// ```
///
/// Keys live in hash shards, each behind its own lock, so readers of different keys do not contend. Every write
/// takes its key's shard lock and then the short global log lock, which gives it the next sequence number, appends
/// its record to the log and publishes its ``ChangeEvent``: so the log, the change stream and each key's versions
/// agree on one order. A key's version is the sequence number of its last write. With `durability: .sync` a write
/// returns once its record is on disk (group commit); readers may see it a moment earlier.
public final class Memory: Sendable {
    /// One stored key.
    struct Record: Sendable {
        /// The JSON value; `.null` when the key holds an ``object``.
        var value: JSONValue
        var version: UInt64
        /// Milliseconds since 1970; `nil` for no expiry.
        var expiresAt: Int64?
        /// The CRDT the key holds, if it holds one rather than a JSON value.
        var object: MemoryObject? = nil

        /// What readers see: the JSON value, or the object's view.
        var visible: JSONValue { object?.view ?? value }

        func isLive(at now: Int64) -> Bool { expiresAt.map { $0 > now } ?? true }
    }

    struct Shard: Sendable {
        var records: [String: Record] = [:]
    }

    /// A shard behind its lock (a class, because `Mutex` cannot be copied into an array).
    final class LockedShard: Sendable {
        private let mutex = Mutex(Shard())
        func withLock<T, E: Error>(_ body: (inout sending Shard) throws(E) -> sending T) throws(E) -> T {
            try mutex.withLock(body)
        }
    }

    struct Watcher: Sendable {
        var pattern: GlobPattern
        var continuation: AsyncThrowingStream<ChangeEvent, any Error>.Continuation
    }

    struct LogState: Sendable {
        var sequence: UInt64 = 0
        var history: [ChangeEvent] = []
        /// Index in `history` of the oldest retained change (a ring once it is full).
        var historyStart = 0
        var watchers: [UInt64: Watcher] = [:]
        var nextWatcher: UInt64 = 0
        var log: WriteAheadLog?
        /// Which changes are also published as Redis keyspace notifications.
        var notifications: KeyspaceNotifications = []
        /// Requests waiting for the sequence to reach a causal token's position, by id.
        var sequenceWaiters: [UInt64: (target: UInt64, continuation: CheckedContinuation<Bool, Never>)] = [:]
        /// Waiters cancelled before they were registered.
        var cancelledWaiters: Set<UInt64> = []
    }

    public let configuration: MemoryConfiguration
    /// Named channels (publish/subscribe), shared by every protocol.
    public let events: EventBus
    /// Operation counts and latencies.
    public let statistics = MemoryStatistics()
    let shards: [LockedShard]
    let logState: Mutex<LogState>
    let clock: any WallClock
    let logger: Logger
    let snapshotting = Mutex(false)
    /// The snapshot being written in the background, if one is.
    let backgroundSnapshot = Mutex<Task<Void, Never>?>(nil)
    /// The consistency levels (saved in the memory directory).
    let consistencySettings = Mutex(ConsistencySettings())
    /// Open interactive transactions by id.
    let transactions = Mutex<[String: Transaction]>([:])
    /// The descriptor holding the memory directory's `flock`, or -1.
    let directoryLock = Mutex<Int32>(-1)
    /// Watchers whose streams ended (consumer gone). Kept apart from the log lock because a stream may end while
    /// that lock is held (finishing it runs its termination handler at once); reaped on the next change.
    let endedWatchers = Mutex<[UInt64]>([])
    /// How many ids `endedWatchers` holds, readable without its lock.
    let endedWatcherCount = Atomic<Int>(0)
    let nextSequenceWaiter = Atomic<UInt64>(0)

    static let shardCount = 32

    /// Opens the engine; with a directory, loads the latest snapshot and replays the log after it.
    /// - Throws: when the directory cannot be created or read.
    public init(
        configuration: MemoryConfiguration = .init(), clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws {
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.shards = (0..<Self.shardCount).map { _ in LockedShard() }
        self.events = EventBus(nodeID: configuration.nodeID, buffer: configuration.watcherBuffer, clock: clock)
        self.logState = Mutex(LogState(notifications: configuration.keyspaceNotifications))
        if let directory = configuration.directory {
            try await recover(from: directory)
        }
    }

    deinit { unlockDirectory() }

    /// Writes a snapshot (so the next start replays nothing) and stops the log. The engine must not be used after.
    public func close() async throws {
        if configuration.directory != nil {
            await backgroundSnapshot.withLock { $0 }?.value
            try await writeSnapshot()
        }
        let log = logState.withLock { state in
            for watcher in state.watchers.values { watcher.continuation.finish() }
            state.watchers.removeAll()
            for waiter in state.sequenceWaiters.values { waiter.continuation.resume(returning: false) }
            state.sequenceWaiters.removeAll()
            return state.log
        }
        await log?.shutdown()
        unlockDirectory()
    }

    // MARK: Reading

    /// The live entry for a key, or `nil` when it is absent or expired.
    public func get(_ key: String) -> MemoryEntry? {
        let timing = statistics.begin(.get)
        defer { statistics.end(timing) }
        let record = shard(for: key).withLock { shard in shard.records[key] }
        // The clock is read only for keys that can expire.
        guard let record, record.expiresAt == nil || record.isLive(at: clock.milliseconds()) else { return nil }
        return MemoryEntry(key: key, record: record)
    }

    /// Whether a live entry exists.
    public func exists(_ key: String) -> Bool { get(key) != nil }

    /// The live entries among `keys` (absent and expired keys are left out).
    public func get(_ keys: [String]) -> [MemoryEntry] { keys.compactMap { get($0) } }

    /// How many live keys there are.
    public var count: Int {
        let now = clock.milliseconds()
        return shards.reduce(0) { total, shard in
            total + shard.withLock { $0.records.values.count(where: { $0.isLive(at: now) }) }
        }
    }

    /// A page of the live entries whose keys match `pattern`, in key order, after the key `cursor`.
    ///
    /// Each page costs a pass over the keys, so prefer patterns and large pages to many small ones on big
    /// stores. The cursor is the last key of the previous page; keys written meanwhile appear if they sort after it.
    public func scan(_ pattern: GlobPattern = .all, limit: Int = 100, after cursor: String? = nil) -> Page<MemoryEntry> {
        let start = ContinuousClock.now
        defer { statistics.record(.scan, since: start) }
        let now = clock.milliseconds()
        let limit = max(1, limit)
        var candidates: [MemoryEntry] = []
        for shard in shards {
            shard.withLock { shard in
                for (key, record) in shard.records where record.isLive(at: now) {
                    if let cursor, key <= cursor { continue }
                    if pattern.matches(key) { candidates.append(MemoryEntry(key: key, record: record)) }
                }
            }
        }
        candidates.sort { $0.key < $1.key }
        let page = Array(candidates.prefix(limit))
        return Page(items: page, nextCursor: candidates.count > limit ? page.last?.key : nil)
    }

    // MARK: Writing

    /// Stores a value.
    /// - Parameters:
    ///   - ttl: seconds until the key expires; `nil` means no expiry unless `keepTTL`.
    ///   - keepTTL: keep the key's current expiry (Redis `KEEPTTL`).
    ///   - condition: a precondition on the current entry; when it fails nothing is written.
    /// - Returns: the new version and expiry, and the value before the write.
    /// - Throws: `precondition_failed` when `condition` does not hold; `validation_failed` for an over-long key,
    ///   an over-large value or a TTL that is not positive.
    @discardableResult
    public func set(
        _ key: String, _ value: JSONValue, ttl: Double? = nil, keepTTL: Bool = false,
        condition: WriteCondition = .none
    ) async throws -> WriteResult {
        let (result, ticket) = try setApplying(key, value, ttl: ttl, keepTTL: keepTTL, condition: condition)
        try await ticket?.wait()
        return result
    }

    /// ``set(_:_:ttl:keepTTL:condition:)`` without waiting for the disk, for callers on an event loop: the write is
    /// applied (visible to readers, in the change stream, in the log's buffer) when this returns; acknowledge it to
    /// a client only once `ticket` is durable (a ticket comes back only with sync durability).
    public func setApplying(
        _ key: String, _ value: JSONValue, ttl: Double? = nil, keepTTL: Bool = false,
        condition: WriteCondition = .none
    ) throws -> (result: WriteResult, ticket: DurabilityTicket?) {
        try validate(key: key)
        let expiry = try expiry(ttl: ttl)
        // The value's size is checked on its encoded record (see `mutateApplying`).
        return try measuredNow(.set) { try mutateApplying(key) { current, _ in
            try condition.check(current, key: key)
            let expiresAt = keepTTL ? current?.expiresAt : expiry
            return .put(value, expiresAt: expiresAt)
        } }
    }

    /// Deletes a key. Returns whether a live entry existed.
    @discardableResult
    public func delete(_ key: String, condition: WriteCondition = .none) async throws -> Bool {
        let (deleted, ticket) = try deleteApplying(key, condition: condition)
        try await ticket?.wait()
        return deleted
    }

    /// ``delete(_:condition:)`` without waiting for the disk (see ``setApplying(_:_:ttl:keepTTL:condition:)``).
    public func deleteApplying(_ key: String, condition: WriteCondition = .none) throws
        -> (deleted: Bool, ticket: DurabilityTicket?)
    {
        let (result, ticket) = try measuredNow(.delete) { try mutateApplying(key) { current, _ in
            try condition.check(current, key: key)
            return current == nil ? .keep : .remove
        } }
        return (result.previous != nil, ticket)
    }

    /// Adds `delta` to a numeric value (a missing key counts as 0). Integers stay exact; a fractional delta or
    /// value gives a floating-point result. A string holding an integer is taken as that integer (as Redis does).
    /// - Returns: the new value and version.
    /// - Throws: `wrong_type` when the value is not a number, `validation_failed` on overflow or a non-number delta.
    public func increment(_ key: String, by delta: JSONValue) async throws -> WriteResult {
        let (result, ticket) = try incrementApplying(key, by: delta)
        try await ticket?.wait()
        return result
    }

    /// ``increment(_:by:)`` without waiting for the disk (see ``setApplying(_:_:ttl:keepTTL:condition:)``).
    public func incrementApplying(_ key: String, by delta: JSONValue) throws
        -> (result: WriteResult, ticket: DurabilityTicket?)
    {
        try validate(key: key)
        return try measuredNow(.increment) { try mutateApplying(key) { current, _ in
            if let object = current?.object { throw Self.wrongType(key, holds: object, wanted: "a number") }
            let base: JSONValue = current?.value ?? .int(0)
            return .put(try Self.add(base, delta, key: key), expiresAt: current?.expiresAt)
        } }
    }

    /// Replaces the value only if it currently equals `expected` (`nil`: only if the key is absent).
    /// - Returns: whether it swapped, and the version after the call.
    public func compareAndSwap(_ key: String, expected: JSONValue?, new value: JSONValue, ttl: Double? = nil)
        async throws -> (swapped: Bool, version: UInt64?)
    {
        try validate(key: key)
        try validate(value: value)
        let expiry = try expiry(ttl: ttl)
        var swapped = false
        let result = try await measured(.compareAndSwap) { try await mutate(key) { current, _ in
            if let object = current?.object { throw Self.wrongType(key, holds: object, wanted: "a JSON value") }
            guard current?.value == expected else { return .keep }
            swapped = true
            return .put(value, expiresAt: ttl == nil ? current?.expiresAt : expiry)
        } }
        return (swapped, result.version)
    }

    /// Sets or clears a key's expiry. Returns `false` when the key does not exist.
    @discardableResult
    public func expire(_ key: String, ttl: Double?) async throws -> Bool {
        let expiry = try expiry(ttl: ttl)
        let result = try await mutate(key) { current, _ in
            guard let current else { return .keep }
            return .put(current.value, expiresAt: expiry)
        }
        return result.previous != nil
    }

    /// Seconds until a key expires: `nil` when it has no expiry; throws `not_found` when it does not exist.
    public func timeToLive(_ key: String) throws -> Double? {
        guard let entry = get(key) else { throw NeuroplexError.notFound("key", id: key) }
        return entry.expiresAt.map { $0.timeIntervalSince(clock.now()) }
    }

    /// Removes every expired key, publishing an `expire` change for each. Returns how many it removed.
    ///
    /// Expired keys are already invisible to reads; this reclaims their memory. The server calls it periodically.
    @discardableResult
    public func removeExpired(limit: Int = 10_000) async throws -> Int {
        let now = clock.milliseconds()
        var due: [String] = []
        for shard in shards where due.count < limit {
            shard.withLock { shard in
                for (key, record) in shard.records where !record.isLive(at: now) && due.count < limit {
                    due.append(key)
                }
            }
        }
        var removed = 0
        for key in due {
            let result = try await mutate(key, allowExpired: true) { current, now in
                guard let current, !current.isLive(at: now) else { return .keep }
                return .expire
            }
            if result.previous != nil { removed += 1 }
        }
        return removed
    }

    /// Runs `body`, recording its duration and whether it failed.
    func measured<T>(_ operation: MemoryStatistics.Operation, _ body: () async throws -> T) async throws -> T {
        let start = ContinuousClock.now
        do {
            let result = try await body()
            statistics.record(operation, since: start)
            return result
        } catch {
            statistics.record(operation, since: start, failed: true)
            throw error
        }
    }

    /// Runs `body` now, recording its duration and whether it failed.
    func measuredNow<T>(_ operation: MemoryStatistics.Operation, _ body: () throws -> T) throws -> T {
        let timing = statistics.begin(operation)
        do {
            let result = try body()
            statistics.end(timing)
            return result
        } catch {
            statistics.end(timing, failed: true)
            throw error
        }
    }

    /// A picture of the engine for monitoring: sizes, positions, connections and per-operation figures.
    public func stats() -> MemoryStats {
        let now = clock.milliseconds()
        var keys = 0
        var bytes = 0
        for shard in shards {
            shard.withLock { shard in
                for (key, record) in shard.records where record.isLive(at: now) {
                    keys += 1
                    bytes += key.utf8.count + record.value.encodedSize + 64  // 64: entry and index overhead
                }
            }
        }
        return MemoryStats(
            keys: keys, memoryEstimateBytes: bytes, sequence: latestSequence, watchers: watcherCount,
            subscribers: events.subscriberCount, openTransactions: transactions.withLock { $0.count },
            uptimeSeconds: statistics.uptimeSeconds, operations: statistics.summaries)
    }

    // MARK: Validation

    func validate(key: String) throws {
        guard !key.isEmpty else { throw NeuroplexError.invalid("key", "the key must not be empty") }
        guard key.utf8.count <= configuration.maxKeyBytes else {
            throw NeuroplexError.invalid("key", "the key is longer than \(configuration.maxKeyBytes) bytes")
        }
    }

    func validate(value: JSONValue) throws {
        // Cheap bound first: most values are small. Exact size only when it could matter.
        if case .string(let text) = value, text.utf8.count < configuration.maxValueBytes / 2 { return }
        if case .int = value { return }
        let size = value.encodedSize
        guard size <= configuration.maxValueBytes else { throw Self.tooLarge(size, limit: configuration.maxValueBytes) }
    }

    static func tooLarge(_ size: Int, limit: Int) -> NeuroplexError {
        NeuroplexError(
            .payloadTooLarge, code: .payloadTooLarge, "the value is \(size) bytes of JSON; the limit is \(limit)",
            field: "value")
    }

    func expiry(ttl: Double?) throws -> Int64? {
        guard let ttl else { return nil }
        guard ttl > 0, ttl.isFinite, ttl < 1e11 else {
            throw NeuroplexError.invalid("ttl", "ttl must be a positive number of seconds")
        }
        return clock.milliseconds() + max(1, Int64((ttl * 1000).rounded()))
    }

    static func wrongType(_ key: String, holds object: MemoryObject, wanted: String) -> NeuroplexError {
        NeuroplexError(.conflict, code: .wrongType, "'\(key)' holds a \(object.typeName), not \(wanted)")
    }

    static func add(_ base: JSONValue, _ delta: JSONValue, key: String) throws -> JSONValue {
        guard delta.numberValue != nil else {
            throw NeuroplexError.invalid("delta", "delta must be a number, not \(delta.typeName)")
        }
        var base = base
        if case .string(let text) = base, let integer = Int64(text) { base = .int(integer) }
        switch (base, delta) {
        case (.int(let a), .int(let b)):
            let (sum, overflow) = a.addingReportingOverflow(b)
            guard !overflow else { throw NeuroplexError.invalid("delta", "the result would overflow a 64-bit integer") }
            return .int(sum)
        default:
            guard let a = base.numberValue else {
                throw NeuroplexError(
                    .conflict, code: .wrongType, "the value of '\(key)' is \(base.typeName), not a number")
            }
            let sum = a + (delta.numberValue ?? 0)
            guard sum.isFinite else { throw NeuroplexError.invalid("delta", "the result is not a finite number") }
            return .double(sum)
        }
    }

    // MARK: Internals

    func shard(for key: String) -> LockedShard { shards[shardIndex(for: key)] }
}

/// What ``Memory/stats()`` reports.
public struct MemoryStats: Sendable, Equatable {
    public var keys: Int
    /// Keys and values as JSON text plus a fixed overhead per entry: an estimate, not a measurement.
    public var memoryEstimateBytes: Int
    public var sequence: UInt64
    public var watchers: Int
    public var subscribers: Int
    public var openTransactions: Int
    public var uptimeSeconds: Double
    public var operations: [MemoryStatistics.Summary]
}

/// A live key and its value.
public struct MemoryEntry: Sendable, Equatable {
    public var key: String
    /// The JSON value, or for a CRDT its view (a counter's value, a set's elements).
    public var value: JSONValue
    /// `json`, or the CRDT's type (`counter`, `set`).
    public var type: String
    /// Grows with every write of the key (it is the sequence number of its last change).
    public var version: UInt64
    public var expiresAt: Date?

    init(key: String, value: JSONValue, type: String, version: UInt64, expiresAt: Date? = nil) {
        self.key = key
        self.value = value
        self.type = type
        self.version = version
        self.expiresAt = expiresAt
    }

    init(key: String, record: Memory.Record) {
        self.key = key
        self.value = record.visible
        self.type = record.object?.typeName ?? "json"
        self.version = record.version
        self.expiresAt = record.expiresAt.map { Date(timeIntervalSince1970: Double($0) / 1000) }
    }
}

/// What a write did.
public struct WriteResult: Sendable, Equatable {
    /// The key's version after the write; `nil` when the key does not exist after it.
    public var version: UInt64?
    public var value: JSONValue?
    public var expiresAt: Date?
    /// The live value before the write.
    public var previous: JSONValue?
}

/// A precondition on a key's current entry, checked atomically with the write.
public enum WriteCondition: Sendable, Equatable {
    case none
    /// Only if the key's current version is this one (optimistic concurrency).
    case ifVersion(UInt64)
    /// Only if the key does not exist (Redis `NX`).
    case ifAbsent
    /// Only if the key exists (Redis `XX`).
    case ifPresent

    func check(_ current: Memory.Record?, key: String) throws {
        switch self {
        case .none:
            return
        case .ifVersion(let expected):
            guard let current else {
                throw NeuroplexError(
                    .preconditionFailed, code: .preconditionFailed,
                    "'\(key)' does not exist, so it is not at version \(expected)", field: "ifVersion")
            }
            guard current.version == expected else {
                throw NeuroplexError(
                    .preconditionFailed, code: .preconditionFailed,
                    "'\(key)' is at version \(current.version), not \(expected)", field: "ifVersion")
            }
        case .ifAbsent:
            if current != nil {
                throw NeuroplexError(
                    .preconditionFailed, code: .preconditionFailed, "'\(key)' already exists", field: "ifAbsent")
            }
        case .ifPresent:
            if current == nil {
                throw NeuroplexError(.preconditionFailed, code: .preconditionFailed, "'\(key)' does not exist")
            }
        }
    }
}

extension WallClock {
    func milliseconds() -> Int64 { Int64((now().timeIntervalSince1970 * 1000).rounded(.down)) }
}
