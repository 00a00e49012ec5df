public import NeuroplexCore
public import Foundation
import OpenAPIRuntime

/// Key-value memory: reads, writes, conditions, counters, compare-and-swap, batches, scans.
extension NeuroplexClient {
    // MARK: Keys

    /// A key's value, or `nil` when it does not exist (or has expired).
    ///
    /// ```swift
    /// let user = try await client.get("user:1")            // JSON?
    /// user?["name"]?.stringValue                            // "Alice"
    /// ```
    public func get(_ key: String) async throws -> JSON? {
        try await entry(key)?.value
    }

    /// A key's value as a `Decodable` type, or `nil` when it does not exist.
    /// - Throws: ``NeuroplexClientError``; `DecodingError` when the value does not have the type's shape.
    public func get<Value: Decodable>(_ key: String, as type: Value.Type) async throws -> Value? {
        try await entry(key)?.value.decode(type)
    }

    /// A key's value with its version and expiry, or `nil` when it does not exist.
    public func entry(_ key: String) async throws -> MemoryEntry? {
        switch try await call({ try await $0.getMemoryValue(path: .init(key: key)) }) {
        case .ok(let ok): return MemoryEntry(try ok.body.json)
        case .default(let status, let problem):
            let error = NeuroplexClientError(status, problem)
            if status == 404 && error.code == "not_found" { return nil }
            throw error
        }
    }

    /// Writes a key.
    ///
    /// ```swift
    /// try await client.set("session:9", ["user": "alice", "visits": 3], ttl: .seconds(3600))   // a JSON literal
    /// try await client.set("lock:job", true, ifAbsent: true)   // 412 precondition_failed if it exists
    /// ```
    /// - Parameters:
    ///   - value: the value; literals build a ``JSON``, and the overload that takes `some Encodable` stores your own
    ///     `Codable` types.
    ///   - ttl: how long until the key expires (whole milliseconds count).
    ///   - ifVersion: write only if the key is at this version.
    ///   - ifAbsent: write only if the key does not exist.
    /// - Returns: the key's new version and expiry.
    /// - Throws: ``NeuroplexClientError`` 412 `precondition_failed` when a condition does not hold (nothing
    ///   changes); 409 `wrong_type` when the key holds a CRDT.
    @discardableResult
    public func set(
        _ key: String, _ value: JSON, ttl: Duration? = nil, ifVersion: UInt64? = nil, ifAbsent: Bool = false
    ) async throws -> MemoryWrite {
        let body = Components.Schemas.MemorySetRequest(
            value: value.container, ttl: ttl?.seconds,
            ifVersion: ifVersion.map { Int64(clamping: $0) }, ifAbsent: ifAbsent ? true : nil)
        let conditional = ifVersion != nil || ifAbsent
        switch try await call(conditional ? .once : .safe, {
            try await $0.setMemoryValue(path: .init(key: key), body: .json(body))
        }) {
        case .ok(let ok): return MemoryWrite(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Deletes a key; returns whether it existed.
    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        switch try await call({ try await $0.deleteMemoryValue(path: .init(key: key)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Whether a key exists (a `HEAD` request: the value is not sent).
    public func exists(_ key: String) async throws -> Bool {
        switch try await call({ try await $0.headMemoryValue(path: .init(key: key)) }) {
        case .ok: return true
        case .notFound: return false
        case .undocumented(let status, let payload): throw await NeuroplexClientError(status, payload)
        }
    }

    /// Writes a key with any `Encodable` value (stored as its JSON form); see ``set(_:_:ttl:ifVersion:ifAbsent:)``.
    ///
    /// ```swift
    /// try await client.set("user:1", User(name: "Alice", age: 30))
    /// ```
    @discardableResult
    public func set(
        _ key: String, _ value: some Encodable, ttl: Duration? = nil, ifVersion: UInt64? = nil,
        ifAbsent: Bool = false
    ) async throws -> MemoryWrite {
        try await set(key, try JSON(encoding: value), ttl: ttl, ifVersion: ifVersion, ifAbsent: ifAbsent)
    }

    // MARK: Numbers and compare-and-swap

    /// Adds a whole number to a key (a missing key counts as 0) and returns the new value.
    ///
    /// ```swift
    /// let visits = try await client.increment("visits")            // 1, 2, 3, …
    /// let score = try await client.increment("score", by: 0.5)     // the Double overload
    /// ```
    /// - Throws: 409 `wrong_type` when the key holds something other than a number; `unexpected_response` when it
    ///   holds a number with a fraction (use the `Double` overload).
    @discardableResult
    public func increment(_ key: String, by delta: Int = 1) async throws -> Int {
        try Self.whole(try await add(key, Double(delta), increment: true), key)
    }

    /// Adds a number to a key (a missing key counts as 0) and returns the new value.
    @discardableResult
    public func increment(_ key: String, by delta: Double) async throws -> Double {
        try await add(key, delta, increment: true)
    }

    /// Subtracts a whole number from a key (a missing key counts as 0) and returns the new value.
    @discardableResult
    public func decrement(_ key: String, by delta: Int = 1) async throws -> Int {
        try Self.whole(try await add(key, Double(delta), increment: false), key)
    }

    /// Subtracts a number from a key (a missing key counts as 0) and returns the new value.
    @discardableResult
    public func decrement(_ key: String, by delta: Double) async throws -> Double {
        try await add(key, delta, increment: false)
    }

    private static func whole(_ value: Double, _ key: String) throws -> Int {
        guard let whole = Int(exactly: value) else {
            throw NeuroplexClientError(unexpected: 200, "'\(key)' holds \(value), not a whole number")
        }
        return whole
    }

    private func add(_ key: String, _ delta: Double, increment: Bool) async throws -> Double {
        let body = Components.Schemas.MemoryDelta(delta: delta)
        if increment {
            switch try await call(.once, {
                try await $0.incrementMemoryValue(path: .init(key: key), body: .json(body))
            }) {
            case .ok(let ok): return try ok.body.json.value
            case .default(let status, let problem): throw NeuroplexClientError(status, problem)
            }
        }
        switch try await call(.once, { try await $0.decrementMemoryValue(path: .init(key: key), body: .json(body)) }) {
        case .ok(let ok): return try ok.body.json.value
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Writes `newValue` only if the key holds `expected` now (`nil`: only if the key does not exist).
    ///
    /// ```swift
    /// let swapped = try await client.compareAndSwap("leader", expected: "node-1", newValue: "node-2")
    /// ```
    /// - Returns: whether it swapped.
    @discardableResult
    public func compareAndSwap(_ key: String, expected: JSON?, newValue: JSON, ttl: Duration? = nil) async throws
        -> Bool
    {
        let body = Components.Schemas.MemoryCASRequest(
            expected: expected?.container, value: newValue.container, ttl: ttl?.seconds)
        switch try await call(.once, { try await $0.compareAndSwapMemoryValue(path: .init(key: key), body: .json(body)) }) {
        case .ok(let ok): return try ok.body.json.swapped
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Compare-and-swap with values of an `Encodable` type, compared by their JSON form.
    @discardableResult
    public func compareAndSwap<Value: Encodable>(
        _ key: String, expected: Value?, newValue: Value, ttl: Duration? = nil
    ) async throws -> Bool {
        try await compareAndSwap(
            key, expected: try expected.map { try JSON(encoding: $0) }, newValue: try JSON(encoding: newValue), ttl: ttl)
    }

    // MARK: Many keys

    /// The values of the keys that exist, by key.
    public func multiGet(_ keys: [String]) async throws -> [String: JSON] {
        switch try await call({ try await $0.getMemoryValues(body: .json(.init(keys: keys))) }) {
        case .ok(let ok): return JSON(try ok.body.json.entries.additionalProperties).objectValue ?? [:]
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The values of the keys that exist, decoded as `Value`.
    public func multiGet<Value: Decodable>(_ keys: [String], as type: Value.Type) async throws -> [String: Value] {
        try await multiGet(keys).mapValues { try $0.decode(type) }
    }

    /// Writes many keys (each with the same optional TTL); returns each key's new version.
    @discardableResult
    public func multiSet(_ entries: [String: JSON], ttl: Duration? = nil) async throws -> [String: UInt64] {
        let object = JSON.object(entries)
        let body = Components.Schemas.MemoryBatchSetRequest(
            entries: .init(additionalProperties: object.objectContainer!), ttl: ttl?.seconds)
        switch try await call({ try await $0.setMemoryValues(body: .json(body)) }) {
        case .ok(let ok): return try ok.body.json.versions.additionalProperties.mapValues { UInt64(clamping: $0) }
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Writes many keys with values of an `Encodable` type; returns each key's new version.
    @discardableResult
    public func multiSet(_ entries: [String: some Encodable], ttl: Duration? = nil) async throws -> [String: UInt64] {
        try await multiSet(try entries.mapValues { try JSON(encoding: $0) }, ttl: ttl)
    }

    /// Deletes many keys; says for each whether it existed.
    @discardableResult
    public func multiDelete(_ keys: [String]) async throws -> [String: Bool] {
        switch try await call({ try await $0.deleteMemoryValues(body: .json(.init(keys: keys))) }) {
        case .ok(let ok): return try ok.body.json.results.additionalProperties
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Writes many keys in atomic chunks of `batchSize`: every entry is created or overwritten.
    ///
    /// ```swift
    /// let result = try await client.bulkInsert(["user:1": ["name": "Ann"], "user:2": ["name": "Bo"]])
    /// result.inserted    // 2
    /// ```
    public func bulkInsert(_ entries: [String: JSON], ttl: Duration? = nil, batchSize: Int? = nil) async throws
        -> BulkResult
    {
        try await bulk(.insert, entries: entries, keys: nil, ttl: ttl, batchSize: batchSize)
    }

    /// Overwrites existing keys only; a key that does not exist is reported in ``BulkResult/errors`` (`not_found`).
    public func bulkUpdate(_ entries: [String: JSON], ttl: Duration? = nil, batchSize: Int? = nil) async throws
        -> BulkResult
    {
        try await bulk(.update, entries: entries, keys: nil, ttl: ttl, batchSize: batchSize)
    }

    /// Deletes many keys in atomic chunks; keys that do not exist are skipped.
    public func bulkDelete(_ keys: [String], batchSize: Int? = nil) async throws -> BulkResult {
        try await bulk(.delete, entries: nil, keys: keys, ttl: nil, batchSize: batchSize)
    }

    private func bulk(
        _ mode: Operations.BulkMemory.Input.Path.ModePayload, entries: [String: JSON]?, keys: [String]?,
        ttl: Duration?, batchSize: Int?
    ) async throws -> BulkResult {
        let body = Components.Schemas.MemoryBulkRequest(
            entries: entries.flatMap { JSON.object($0).objectContainer }.map { .init(additionalProperties: $0) },
            keys: keys, ttl: ttl?.seconds, batchSize: batchSize)
        switch try await call(.once, { try await $0.bulkMemory(path: .init(mode: mode), body: .json(body)) }) {
        case .ok(let ok):
            let result = try ok.body.json
            return BulkResult(
                success: result.success, processed: result.processed, inserted: result.inserted,
                updated: result.updated, deleted: result.deleted,
                errors: result.errors.map { .init(key: $0.key, code: $0.code, message: $0.message) },
                durationMs: result.durationMs)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Copies (or, with `move`, moves) every key under the prefix `source` to the same key under `target`, with
    /// TTLs and CRDT state. Target keys that exist are left alone (counted as skipped) unless `overwrite`.
    public func migrate(from source: String, to target: String, move: Bool = false, overwrite: Bool = false)
        async throws -> MigrationResult
    {
        let body = Components.Schemas.MemoryMigrationRequest(
            source: source, target: target, mode: move ? .move : .copy, overwrite: overwrite)
        switch try await call(.once, { try await $0.migrateMemory(body: .json(body)) }) {
        case .ok(let ok):
            let result = try ok.body.json
            return MigrationResult(migrated: result.migrated, skipped: result.skipped, removed: result.removed)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Runs operations in order, not atomically (see ``atomic(if:then:)`` for all-or-nothing).
    ///
    /// ```swift
    /// let result = try await client.executeBatch(
    ///     [.set("user:1", ["name": "Alice"]), .increment("user:1"), .get("user:1")], continueOnError: true)
    /// result.errors.first?.code      // "wrong_type": user:1 holds an object
    /// result.results[2]              // still read: {"name":"Alice"}
    /// ```
    /// - Parameter continueOnError: keep going after an operation fails (otherwise the rest are skipped).
    public func executeBatch(_ operations: [MemoryOperation], continueOnError: Bool = false) async throws
        -> BatchResult
    {
        let body = Components.Schemas.MemoryBatchRequest(
            operations: operations.map(\.schema), continueOnError: continueOnError)
        switch try await call(.once, { try await $0.executeMemoryBatch(body: .json(body)) }) {
        case .ok(let ok): return BatchResult(try ok.body.json, continueOnError: continueOnError)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Applies `operations` all-or-nothing if every condition holds (like etcd's Txn).
    ///
    /// ```swift
    /// let result = try await client.atomic(if: [.absent("order:7")], then: [.set("order:7", ["state": "new"])])
    /// ```
    public func atomic(if conditions: [MemoryCondition] = [], then operations: [MemoryOperation]) async throws
        -> AtomicResult
    {
        let body = Components.Schemas.MemoryAtomicRequest(
            conditions: conditions.map(\.schema), operations: operations.map(\.schema))
        switch try await call(.once, { try await $0.runAtomicMemoryTransaction(body: .json(body)) }) {
        case .ok(let ok):
            let result = try ok.body.json
            return AtomicResult(succeeded: result.succeeded, results: result.results.map(JSON.init))
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    // MARK: Scans

    /// The entries whose keys match a glob pattern, in key order, fetched a page at a time as you iterate.
    ///
    /// ```swift
    /// for try await entry in client.scan(pattern: "user:*") {
    ///     print(entry.key, entry.value)
    /// }
    /// let firstTen = try await Array(client.scan(pattern: "user:*").prefix(10))   // one request of 100
    /// ```
    /// Patterns are Redis globs: `*`, `?`, `[abc]`, `[^a]`, `[a-z]`, `\` escapes. Nothing is sent until the first
    /// element is asked for; each iteration starts from the beginning.
    /// - Parameter pageSize: entries per request (1–1000).
    public func scan(pattern: String = "*", pageSize: Int = 100) -> ScanSequence {
        ScanSequence(client: self, pattern: pattern, pageSize: pageSize)
    }

    /// One page of a scan: its entries and the cursor of the next page (`nil` after the last).
    func scanPage(pattern: String, limit: Int, cursor: String?) async throws -> (entries: [MemoryEntry], next: String?) {
        switch try await call({
            try await $0.scanMemory(query: .init(pattern: pattern, limit: limit, cursor: cursor))
        }) {
        case .ok(let ok):
            let page = try ok.body.json
            return (page.entries.map(MemoryEntry.init), page.nextCursor)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    // MARK: Export, import, statistics

    /// The entries matching `pattern` as NDJSON, one `{type, key, value, version, expiresAt?}` object a line (CRDTs
    /// with their state), in key order: a backup that ``importNDJSON(_:)`` restores.
    public func exportNDJSON(pattern: String = "*") async throws -> Data {
        switch try await call({ try await $0.exportMemory(query: .init(pattern: pattern)) }) {
        case .ok(let ok):
            guard case .applicationXNdjson(let body) = ok.body else { return Data() }
            return try await Data(collecting: body, upTo: .max)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Imports NDJSON as exported, keeping versions and expiry. Idempotent: an entry whose key is already at that
    /// version or newer is skipped. Every line is checked before anything is written.
    /// - Throws: 400 naming the first bad line.
    @discardableResult
    public func importNDJSON(_ ndjson: Data) async throws -> ImportSummary {
        switch try await call({ try await $0.importMemory(body: .applicationXNdjson(HTTPBody(ndjson))) }) {
        case .ok(let ok):
            let summary = try ok.body.json
            return ImportSummary(imported: summary.imported, skipped: summary.skipped)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The engine's statistics: keys, a memory estimate, the change-stream position, connections, and per-operation
    /// counts, errors and latencies.
    public func stats() async throws -> MemoryStats {
        switch try await call({ try await $0.getMemoryStats() }) {
        case .ok(let ok): return MemoryStats(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

/// The entries of a scan (``NeuroplexClient/scan(pattern:pageSize:)``), requested a page at a time as they are
/// iterated: a loop that stops early sends no more requests.
public struct ScanSequence: AsyncSequence, Sendable {
    public typealias Element = MemoryEntry

    let client: NeuroplexClient
    let pattern: String
    let pageSize: Int

    public func makeAsyncIterator() -> Iterator {
        Iterator(client: client, pattern: pattern, pageSize: pageSize)
    }

    /// Iterates a scan, fetching the next page when the current one runs out.
    public struct Iterator: AsyncIteratorProtocol {
        let client: NeuroplexClient
        let pattern: String
        let pageSize: Int
        var buffered: ArraySlice<MemoryEntry> = []
        var cursor: String?
        var finished = false

        public mutating func next() async throws -> MemoryEntry? {
            while buffered.isEmpty {
                if finished { return nil }
                let page = try await client.scanPage(pattern: pattern, limit: pageSize, cursor: cursor)
                buffered = page.entries[...]
                cursor = page.next
                finished = page.next == nil
            }
            return buffered.popFirst()
        }
    }
}
