import Foundation
import NeuroplexCore
import NeuroplexCRDT
import NeuroplexMemory
import OpenAPIRuntime
import ServiceLifecycle
import Synchronization

/// The memory operations: translation between the generated types and the ``Memory`` engine.
extension APIHandler {
    func getMemoryValue(_ input: Operations.GetMemoryValue.Input) async throws -> Operations.GetMemoryValue.Output {
        guard let entry = memory.get(input.path.key) else { throw NeuroplexError.notFound("key", id: input.path.key) }
        return .ok(.init(body: .json(try Self.schema(entry))))
    }

    func headMemoryValue(_ input: Operations.HeadMemoryValue.Input) async throws -> Operations.HeadMemoryValue.Output {
        memory.exists(input.path.key) ? .ok(.init()) : .notFound(.init())
    }

    func setMemoryValue(_ input: Operations.SetMemoryValue.Input) async throws -> Operations.SetMemoryValue.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let condition: WriteCondition
        switch (body.ifVersion, body.ifAbsent) {
        case (.some, true):
            throw NeuroplexError.invalid("ifAbsent", "ifVersion and ifAbsent cannot be combined")
        case (.some(let version), _):
            condition = .ifVersion(UInt64(clamping: version))
        case (nil, true):
            condition = .ifAbsent
        default:
            condition = .none
        }
        let result = try await memory.set(
            input.path.key, try Self.json(body.value, field: "value"), ttl: body.ttl, condition: condition)
        return .ok(.init(body: .json(Self.written(input.path.key, result))))
    }

    func deleteMemoryValue(_ input: Operations.DeleteMemoryValue.Input) async throws
        -> Operations.DeleteMemoryValue.Output
    {
        .ok(.init(body: .json(.init(deleted: try await memory.delete(input.path.key)))))
    }

    func incrementMemoryValue(_ input: Operations.IncrementMemoryValue.Input) async throws
        -> Operations.IncrementMemoryValue.Output
    {
        var delta: Double?
        if case .json(let body) = input.body { delta = body.delta }
        return .ok(.init(body: .json(try await add(input.path.key, delta ?? 1, sign: 1))))
    }

    func decrementMemoryValue(_ input: Operations.DecrementMemoryValue.Input) async throws
        -> Operations.DecrementMemoryValue.Output
    {
        var delta: Double?
        if case .json(let body) = input.body { delta = body.delta }
        return .ok(.init(body: .json(try await add(input.path.key, delta ?? 1, sign: -1))))
    }

    func compareAndSwapMemoryValue(_ input: Operations.CompareAndSwapMemoryValue.Input) async throws
        -> Operations.CompareAndSwapMemoryValue.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        var expected = try body.expected.map { try Self.json($0, field: "expected") }
        if expected == .null { expected = nil }
        let (swapped, version) = try await memory.compareAndSwap(
            input.path.key, expected: expected, new: try Self.json(body.value, field: "value"), ttl: body.ttl)
        return .ok(.init(body: .json(.init(swapped: swapped, version: version.map { Int64(clamping: $0) }))))
    }

    func getMemoryValues(_ input: Operations.GetMemoryValues.Input) async throws -> Operations.GetMemoryValues.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        var entries: [String: JSONValue] = [:]
        for entry in memory.get(body.keys) { entries[entry.key] = entry.value }
        return .ok(.init(body: .json(.init(entries: try Self.container(.object(entries))))))
    }

    func setMemoryValues(_ input: Operations.SetMemoryValues.Input) async throws -> Operations.SetMemoryValues.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        guard case .object(let entries) = try Self.json(body.entries, field: "entries") else {
            throw NeuroplexError.invalid("entries", "entries must be an object of key → value")
        }
        let sorted = entries.sorted { $0.key < $1.key }
        let written = try await memory.set(sorted.map { ($0.key, $0.value) }, ttl: body.ttl)
        var versions: [String: Int64] = [:]
        for (entry, result) in zip(sorted, written) { versions[entry.key] = Int64(clamping: result.version ?? 0) }
        return .ok(.init(body: .json(.init(versions: .init(additionalProperties: versions)))))
    }

    func deleteMemoryValues(_ input: Operations.DeleteMemoryValues.Input) async throws
        -> Operations.DeleteMemoryValues.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        var results: [String: Bool] = [:]
        for (key, deleted) in zip(body.keys, try await memory.delete(body.keys)) { results[key] = deleted || results[key] == true }
        return .ok(.init(body: .json(.init(results: .init(additionalProperties: results)))))
    }

    func scanMemory(_ input: Operations.ScanMemory.Input) async throws -> Operations.ScanMemory.Output {
        let request = try PageRequest(limit: input.query.limit, cursor: input.query.cursor)
        let page = memory.scan(GlobPattern(input.query.pattern ?? "*"), limit: request.limit, after: request.after)
        return .ok(.init(body: .json(.init(
            entries: try page.items.map(Self.schema),
            nextCursor: page.nextCursor.map { PageRequest.cursor(after: $0) }))))
    }

    // MARK: Translation

    private func add(_ key: String, _ delta: Double, sign: Double) async throws -> Components.Schemas.MemoryNumber {
        guard delta.isFinite else { throw NeuroplexError.invalid("delta", "delta must be a finite number") }
        let result = try await memory.increment(key, by: Self.number(delta * sign))
        return .init(value: result.value?.numberValue ?? 0, version: Int64(clamping: result.version ?? 0))
    }

    /// A number from the contract (a double) as a JSON value: whole numbers stay exact integers.
    static func number(_ value: Double) -> JSONValue {
        value == value.rounded() && abs(value) < 9.0e15 ? .int(Int64(value)) : .double(value)
    }

    static let jsonRequired = NeuroplexError(
        .unsupportedMediaType, code: .unsupportedMediaType, "send the body as application/json")

    static func schema(_ entry: MemoryEntry) throws -> Components.Schemas.MemoryEntry {
        .init(
            key: entry.key, value: try container(entry.value), version: Int64(clamping: entry.version),
            expiresAt: entry.expiresAt)
    }

    static func written(_ key: String, _ result: WriteResult) -> Components.Schemas.MemoryWriteResult {
        .init(key: key, version: Int64(clamping: result.version ?? 0), expiresAt: result.expiresAt)
    }

    /// A generated free-form JSON value (or object) as a ``JSONValue``.
    static func json(_ container: some Encodable, field: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(CompactJSONEncoder().encode(container))
        } catch {
            throw NeuroplexError.invalid(field, "\(field) is not a JSON value this server can store: \(error)")
        }
    }

    /// A ``JSONValue`` as the generated free-form container.
    static func container<T: Decodable>(_ value: JSONValue) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(value.bytes))
    }
}

/// Batches and transactions.
extension APIHandler {
    func executeMemoryBatch(_ input: Operations.ExecuteMemoryBatch.Input) async throws
        -> Operations.ExecuteMemoryBatch.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let operations = try body.operations.enumerated().map { try Self.operation($1, at: "operations[\($0)]") }
        let outcome = await memory.executeBatch(operations, continueOnError: body.continueOnError ?? false)
        return .ok(.init(body: .json(.init(
            success: outcome.success, totalOperations: outcome.total, successfulOperations: outcome.successful,
            failedOperations: outcome.failed,
            errors: outcome.errors.map {
                .init(index: $0.index, key: $0.key, code: $0.error.code.rawValue, message: $0.error.message)
            },
            durationMs: outcome.durationMs,
            results: try outcome.results.map { try Self.container($0 ?? .null) }))))
    }

    func beginMemoryTransaction(_ input: Operations.BeginMemoryTransaction.Input) async throws
        -> Operations.BeginMemoryTransaction.Output
    {
        var body: Components.Schemas.MemoryTransactionRequest?
        if case .json(let sent) = input.body { body = sent }
        let isolation = IsolationLevel(rawValue: body?.isolation?.rawValue ?? "read_committed") ?? .readCommitted
        let readOnly = body?.readOnly ?? false
        let id = try memory.beginTransaction(
            isolation: isolation, timeout: Double(body?.timeoutMs ?? 30_000) / 1000, readOnly: readOnly)
        return .created(.init(body: .json(.init(id: id, isolation: isolation.rawValue, readOnly: readOnly))))
    }

    func runAtomicMemoryTransaction(_ input: Operations.RunAtomicMemoryTransaction.Input) async throws
        -> Operations.RunAtomicMemoryTransaction.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let operations = try body.operations.enumerated().map { try Self.operation($1, at: "operations[\($0)]") }
        let conditions = try (body.conditions ?? []).enumerated().map { index, condition in
            MemoryCondition(
                key: condition.key, version: condition.version.map { UInt64(clamping: $0) }, exists: condition.exists,
                value: try condition.value.map { try Self.json($0, field: "conditions[\(index)].value") })
        }
        let (succeeded, results) = try await memory.atomic(conditions: conditions, operations: operations)
        return .ok(.init(body: .json(.init(succeeded: succeeded, results: try results.map { try Self.container($0) }))))
    }

    func getMemoryTransactionValue(_ input: Operations.GetMemoryTransactionValue.Input) async throws
        -> Operations.GetMemoryTransactionValue.Output
    {
        guard let value = try memory.transactionGet(input.path.id, input.path.key) else {
            throw NeuroplexError.notFound("key", id: input.path.key)
        }
        return .ok(.init(body: .json(.init(key: input.path.key, value: try Self.container(value)))))
    }

    func setMemoryTransactionValue(_ input: Operations.SetMemoryTransactionValue.Input) async throws
        -> Operations.SetMemoryTransactionValue.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        if body.ifVersion != nil || body.ifAbsent != nil {
            throw NeuroplexError.invalid(
                "ifVersion", "conditions do not apply inside a transaction; its isolation level decides conflicts")
        }
        try memory.transactionSet(
            input.path.id, input.path.key, try Self.json(body.value, field: "value"), ttl: body.ttl)
        return .noContent(.init())
    }

    func deleteMemoryTransactionValue(_ input: Operations.DeleteMemoryTransactionValue.Input) async throws
        -> Operations.DeleteMemoryTransactionValue.Output
    {
        try memory.transactionDelete(input.path.id, input.path.key)
        return .noContent(.init())
    }

    func commitMemoryTransaction(_ input: Operations.CommitMemoryTransaction.Input) async throws
        -> Operations.CommitMemoryTransaction.Output
    {
        var versions: [String: Int64] = [:]
        for (key, result) in try await memory.commit(input.path.id) {
            versions[key] = Int64(clamping: result.version ?? 0)
        }
        return .ok(.init(body: .json(.init(versions: .init(additionalProperties: versions)))))
    }

    func rollbackMemoryTransaction(_ input: Operations.RollbackMemoryTransaction.Input) async throws
        -> Operations.RollbackMemoryTransaction.Output
    {
        try memory.rollback(input.path.id)
        return .noContent(.init())
    }

    /// A batch or transaction operation of the contract as the engine's.
    static func operation(_ sent: Components.Schemas.MemoryOperation, at field: String) throws -> MemoryOperation {
        let delta = sent.delta ?? 1
        guard delta.isFinite else { throw NeuroplexError.invalid("\(field).delta", "delta must be a finite number") }
        switch sent.op {
        case .get: return .get(sent.key)
        case .exists: return .exists(sent.key)
        case .delete: return .delete(sent.key)
        case .increment: return .increment(sent.key, by: number(delta))
        case .decrement: return .increment(sent.key, by: number(-delta))
        case .set:
            guard let value = sent.value else {
                throw NeuroplexError.invalid("\(field).value", "a set operation needs a value")
            }
            return .set(sent.key, try json(value, field: "\(field).value"), ttl: sent.ttl)
        }
    }
}

/// Change streams as Server-Sent Events.
extension APIHandler {
    /// Served by the fast route in ``MemoryFastRoutes`` (live watches share a feed there); this generated entry
    /// point, not reached, streams per client.
    func watchMemory(_ input: Operations.WatchMemory.Input) async throws -> Operations.WatchMemory.Output {
        let since = try input.query.since.map { try Self.position($0) }
        return .ok(.init(body: .textEventStream(
            try eventStream(memory, GlobPattern(input.query.pattern ?? "*"), since: since))))
    }

    func memoryChanges(_ input: Operations.MemoryChanges.Input) async throws -> Operations.MemoryChanges.Output {
        .ok(.init(body: .textEventStream(
            try eventStream(memory, .all, since: try Self.position(input.query.since ?? 0)))))
    }

    private static func position(_ since: Int64) throws -> UInt64 {
        guard since >= 0 else { throw NeuroplexError.invalid("since", "since must not be negative") }
        return UInt64(since)
    }

    /// The watch as SSE frames. A position no longer retained is refused before the stream starts (a 409 rather
    /// than an error event); a watcher that lags gets one `event: error` frame with the problem, then the end.
    func eventStream(_ memory: Memory, _ pattern: GlobPattern, since: UInt64?) throws -> HTTPBody {
        HTTPBody(
            try Self.changeStream(memory, pattern, since: since, frames: changeFrames), length: .unknown,
            iterationBehavior: .single)
    }

    /// One client's own stream of change frames (the live watch without `since` shares a feed instead).
    static func changeStream(_ memory: Memory, _ pattern: GlobPattern, since: UInt64?, frames: ChangeFrameCache) throws
        -> ServerSentJSON<AsyncThrowingStream<ChangeEvent, any Error>>
    {
        if let since { _ = try memory.changes(since: since, limit: 1) }
        return ServerSentJSON(source: memory.watch(pattern, since: since), frame: frames.frame(for:))
    }
}

/// JSON values as SSE frames (`id:` when the element has one, and `data:`). Ends the stream with one
/// `event: error` frame carrying the problem when the source ends with an error (a lagging watcher or
/// subscriber), so the client knows to resume.
///
/// A pump task reads the source and encodes frames into a buffer; the response takes whatever has gathered each
/// time it is ready to write, so a busy connection sends many frames in one write instead of one write (and one
/// system call) per frame. The stream also ends when the server shuts down gracefully: an open watch would
/// otherwise keep the server draining forever.
struct ServerSentJSON<Source: AsyncSequence & Sendable>: AsyncSequence, Sendable
where Source.Element: Encodable & Sendable {
    typealias Element = ArraySlice<UInt8>
    let source: Source
    /// The whole SSE frame of an element (`id:` line, `data:` line, blank line).
    let frame: @Sendable (Source.Element) throws -> [UInt8]

    init(source: Source, frame: @escaping @Sendable (Source.Element) throws -> [UInt8] = { try sseFrame(data: $0) }) {
        self.source = source
        self.frame = frame
    }
    /// How far (in encoded bytes) a client may fall behind before its stream ends with `watcher_lagged`.
    static var maxPendingBytes: Int { 8 << 20 }

    /// Frames encoded but not yet taken by the response, and whether the source has ended.
    final class Pending: Sendable {
        struct State {
            var bytes: [UInt8] = []
            var ended = false
        }
        let state = Mutex(State())
        let (ready, signal) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let pump = Mutex<Task<Void, Never>?>(nil)

        /// Adds a frame; returns `false` (and adds nothing) when the client has fallen more than `limit` bytes
        /// behind.
        func append(_ frame: [UInt8], ending: Bool = false, limit: Int = .max) -> Bool {
            let added = state.withLock { state in
                guard state.bytes.count + frame.count <= limit else { return false }
                state.bytes += frame
                if ending { state.ended = true }
                return true
            }
            signal.yield()
            if ending { signal.finish() }
            return added
        }

        deinit { pump.withLock { $0?.cancel() } }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let pending: Pending
        var wakeUps: AsyncStream<Void>.AsyncIterator
        var lastWrite: ContinuousClock.Instant?

        mutating func next() async throws -> ArraySlice<UInt8>? {
            while true {
                if let lastWrite, ContinuousClock.now - lastWrite < sseGatherInterval,
                    pending.state.withLock({ !$0.bytes.isEmpty && !$0.ended })
                {
                    // Busy: let more frames gather until a write interval has passed since the last write.
                    try? await Task.sleep(until: lastWrite + sseGatherInterval, clock: .continuous)
                }
                let (bytes, ended) = pending.state.withLock { state in
                    defer { state.bytes = [] }
                    return (state.bytes, state.ended)
                }
                if !bytes.isEmpty {
                    lastWrite = .now
                    return ArraySlice(bytes)
                }
                if ended { return nil }
                guard await wakeUps.next() != nil else {
                    let rest = pending.state.withLock { state in defer { state.bytes = [] }; return state.bytes }
                    return rest.isEmpty ? nil : ArraySlice(rest)
                }
            }
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        let pending = Pending()
        let source = source.cancelOnGracefulShutdown()
        let encode = frame
        let task = Task { [weak pending] in
            do {
                for try await element in source {
                    let frame = try encode(element)
                    guard let pending else { return }
                    if !pending.append(frame, limit: Self.maxPendingBytes) {
                        throw NeuroplexError(
                            .conflict, code: .watcherLagged,
                            "this stream fell more than \(Self.maxPendingBytes) bytes behind; resume from the last id received")
                    }
                }
                _ = pending?.append([], ending: true)
            } catch {
                let problem = error as? NeuroplexError ?? NeuroplexError(.internal, code: .internal, "\(error)")
                _ = pending?.append(sseErrorFrame(problem), ending: true)
            }
        }
        pending.pump.withLock { $0 = task }
        return AsyncIterator(pending: pending, wakeUps: pending.ready.makeAsyncIterator())
    }
}

/// Events on named channels.
extension APIHandler {
    func publishMemoryEvent(_ input: Operations.PublishMemoryEvent.Input) async throws
        -> Operations.PublishMemoryEvent.Output
    {
        var data: JSONValue = .null
        if case .json(let body) = input.body, let sent = body.data { data = try Self.json(sent, field: "data") }
        let receivers = memory.events.publish(input.path.name, data)
        return .ok(.init(body: .json(.init(receivers: receivers))))
    }

    func subscribeMemoryEvents(_ input: Operations.SubscribeMemoryEvents.Input) async throws
        -> Operations.SubscribeMemoryEvents.Output
    {
        let subscription = memory.events.subscribe(patterns: [GlobPattern(input.query.pattern ?? "*")])
        let frames = ServerSentJSON(source: subscription.messages)
        return .ok(.init(body: .textEventStream(HTTPBody(frames, length: .unknown, iterationBehavior: .single))))
    }
}

/// Export and import as NDJSON.
extension APIHandler {
    func exportMemory(_ input: Operations.ExportMemory.Input) async throws -> Operations.ExportMemory.Output {
        var out: [UInt8] = []
        for entry in memory.export(GlobPattern(input.query.pattern ?? "*")) {
            out += try CompactJSONEncoder().encode(entry)
            out.append(UInt8(ascii: "\n"))
        }
        return .ok(.init(body: .applicationXNdjson(HTTPBody(out))))
    }

    func bulkMemory(_ input: Operations.BulkMemory.Input) async throws -> Operations.BulkMemory.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let mode: Memory.BulkMode
        switch input.path.mode {
        case .insert: mode = .insert
        case .update: mode = .update
        case .delete: mode = .delete
        }
        var entries: [(key: String, value: JSONValue)] = []
        if mode == .delete {
            guard let keys = body.keys else { throw NeuroplexError.invalid("keys", "a bulk delete needs keys") }
            entries = keys.map { ($0, .null) }
        } else {
            guard let sent = body.entries else {
                throw NeuroplexError.invalid("entries", "a bulk \(mode.rawValue) needs entries (key → value)")
            }
            guard case .object(let object) = try Self.json(sent, field: "entries") else {
                throw NeuroplexError.invalid("entries", "entries must be an object of key → value")
            }
            entries = object.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
        let summary = try await memory.bulk(mode, entries, ttl: body.ttl, batchSize: body.batchSize ?? 1000)
        return .ok(.init(body: .json(.init(
            success: summary.success, processed: summary.processed, inserted: summary.inserted,
            updated: summary.updated, deleted: summary.deleted,
            errors: summary.errors.map { .init(key: $0.key, code: $0.code.rawValue, message: $0.message) },
            durationMs: summary.durationMs))))
    }

    func migrateMemory(_ input: Operations.MigrateMemory.Input) async throws -> Operations.MigrateMemory.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let summary = try await memory.migrate(
            from: body.source, to: body.target, move: body.mode == .move, overwrite: body.overwrite ?? false)
        return .ok(.init(body: .json(.init(
            migrated: summary.migrated, skipped: summary.skipped, removed: summary.removed,
            durationMs: summary.durationMs))))
    }

    func importMemory(_ input: Operations.ImportMemory.Input) async throws -> Operations.ImportMemory.Output {
        guard case .applicationXNdjson(let body) = input.body else {
            throw NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, "send the entries as application/x-ndjson")
        }
        let bytes = try await [UInt8](collecting: body, upTo: Int.max)
        var entries: [ExportedEntry] = []
        for (index, line) in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let field = "line \(index + 1)"
            guard line.contains(where: { $0 != 0x20 && $0 != 0x0D && $0 != 0x09 }) else { continue }
            let object: JSONValue
            do {
                object = try JSONValue.parse(line)
            } catch let error as JSONParseError {
                throw NeuroplexError(.badRequest, code: .invalidJSON, "\(field): \(error)", field: field)
            }
            guard case .string(let key)? = object["key"], let value = object["value"] else {
                throw NeuroplexError.invalid(field, "\(field): each entry needs a string key and a value")
            }
            var version: UInt64 = 1
            if let sent = object["version"] {
                guard case .int(let number) = sent, number > 0 else {
                    throw NeuroplexError.invalid(field, "\(field): version must be a positive integer")
                }
                version = UInt64(number)
            }
            var expiresAt: Date?
            if let sent = object["expiresAt"], sent != .null {
                guard case .string(let text) = sent, let date = Timestamp.parse(text) else {
                    throw NeuroplexError.invalid(field, "\(field): expiresAt must be an RFC 3339 timestamp")
                }
                expiresAt = date
            }
            var type = "kv"
            if case .string(let sent)? = object["type"] { type = sent }
            entries.append(
                ExportedEntry(
                    type: type, key: key, value: value, version: version, expiresAt: expiresAt, state: object["state"]))
        }
        let summary = try await memory.importEntries(entries)
        return .ok(.init(body: .json(.init(imported: summary.imported, skipped: summary.skipped))))
    }
}


/// Monitoring.
extension APIHandler {
    func getMemoryStats(_ input: Operations.GetMemoryStats.Input) async throws -> Operations.GetMemoryStats.Output {
        let stats = memory.stats()
        let uptime = max(stats.uptimeSeconds, 0.001)
        return .ok(.init(body: .json(.init(
            keys: stats.keys, memoryEstimateBytes: stats.memoryEstimateBytes, sequence: Int64(clamping: stats.sequence),
            watchers: stats.watchers, subscribers: stats.subscribers, openTransactions: stats.openTransactions,
            uptimeSeconds: stats.uptimeSeconds,
            operations: stats.operations.map {
                .init(
                    operation: $0.operation, count: $0.count, errors: $0.errors, averageMs: $0.averageMs,
                    p95Ms: $0.p95Ms, p99Ms: $0.p99Ms, perSecond: Double($0.count) / uptime)
            }))))
    }
}

/// CRDT counters and sets.
extension APIHandler {
    func createMemoryCounter(_ input: Operations.CreateMemoryCounter.Input) async throws
        -> Operations.CreateMemoryCounter.Output
    {
        var initial: Int64 = 0
        if case .json(let body) = input.body { initial = body.initial ?? 0 }
        let entry = try await memory.createObject(input.path.name, memory.makeCounter(initial))
        return .created(.init(body: .json(.init(name: entry.key, value: initial))))
    }

    func getMemoryCounter(_ input: Operations.GetMemoryCounter.Input) async throws -> Operations.GetMemoryCounter.Output {
        guard let object = try memory.object(input.path.name) else {
            throw NeuroplexError.notFound("counter", id: input.path.name)
        }
        guard case .counter(let counter) = object else { throw Self.wrongType(input.path.name, object, "counter") }
        return .ok(.init(body: .json(.init(name: input.path.name, value: counter.value))))
    }

    func deleteMemoryCounter(_ input: Operations.DeleteMemoryCounter.Input) async throws
        -> Operations.DeleteMemoryCounter.Output
    {
        .ok(.init(body: .json(try await deleteObject(input.path.name, "counter"))))
    }

    func updateMemoryCounter(_ input: Operations.UpdateMemoryCounter.Input) async throws
        -> Operations.UpdateMemoryCounter.Output
    {
        var delta: Int64 = 1
        if case .json(let body) = input.body { delta = body.delta ?? 1 }
        guard delta >= 0 else { throw NeuroplexError.invalid("delta", "delta must not be negative") }
        let value: Int64
        switch input.path.action {
        case .increment: value = try await memory.counterAdd(input.path.name, delta)
        case .decrement: value = try await memory.counterAdd(input.path.name, -delta)
        case .reset: value = try await memory.counterReset(input.path.name)
        }
        return .ok(.init(body: .json(.init(name: input.path.name, value: value))))
    }

    func createMemorySet(_ input: Operations.CreateMemorySet.Input) async throws -> Operations.CreateMemorySet.Output {
        var initial: [JSONValue] = []
        if case .json(let body) = input.body, let sent = body.initial {
            initial = try sent.enumerated().map { try Self.json($1, field: "initial[\($0)]") }
        }
        _ = try await memory.createObject(input.path.name, memory.makeSet(initial))
        return .created(.init(body: .json(try setSchema(input.path.name))))
    }

    func getMemorySet(_ input: Operations.GetMemorySet.Input) async throws -> Operations.GetMemorySet.Output {
        .ok(.init(body: .json(try setSchema(input.path.name))))
    }

    func deleteMemorySet(_ input: Operations.DeleteMemorySet.Input) async throws -> Operations.DeleteMemorySet.Output {
        .ok(.init(body: .json(try await deleteObject(input.path.name, "set"))))
    }

    func updateMemorySet(_ input: Operations.UpdateMemorySet.Input) async throws -> Operations.UpdateMemorySet.Output {
        let name = input.path.name
        var element: JSONValue?
        if case .json(let body) = input.body, let sent = body.element { element = try Self.json(sent, field: "element") }
        func required() throws -> JSONValue {
            guard let element else { throw NeuroplexError.invalid("element", "element is required", kind: .badRequest) }
            return element
        }
        switch input.path.action {
        case .add: _ = try await memory.setAdd(name, [try required()])
        case .remove: _ = try await memory.setRemove(name, [try required()])
        case .clear: try await memory.setClear(name)
        }
        return .ok(.init(body: .json(try setSchema(name))))
    }

    func memorySetContains(_ input: Operations.MemorySetContains.Input) async throws
        -> Operations.MemorySetContains.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let wanted = try Self.json(body.element, field: "element")
        var answer = try setSchema(input.path.name)
        if case .set(let set)? = try memory.object(input.path.name) { answer.contains = set.contains(wanted) }
        return .ok(.init(body: .json(answer)))
    }

    private func setSchema(_ name: String) throws -> Components.Schemas.MemorySet {
        guard let object = try memory.object(name) else { throw NeuroplexError.notFound("set", id: name) }
        guard case .array(let values) = object.view, object.typeName == "set" else {
            throw Self.wrongType(name, object, "set")
        }
        return .init(name: name, values: try values.map { try Self.container($0) }, size: values.count)
    }

    static func wrongType(_ key: String, _ object: MemoryObject, _ wanted: String) -> NeuroplexError {
        NeuroplexError(.conflict, code: .wrongType, "'\(key)' holds a \(object.typeName), not a \(wanted)")
    }

    /// Deletes the CRDT under `key`; `wrong_type` when the key holds another type (a delete through the wrong route).
    func deleteObject(_ key: String, _ type: String) async throws -> Components.Schemas.MemoryDeleted {
        if let object = try memory.object(key), object.typeName != type { throw Self.wrongType(key, object, type) }
        return .init(deleted: try await memory.delete(key))
    }
}

/// CRDT maps, texts and graphs.
extension APIHandler {
    /// The CRDT of `type` under `name`: `not_found`, or `wrong_type` when the key holds something else.
    private func object(_ name: String, _ type: String) throws -> MemoryObject {
        guard let object = try memory.object(name) else { throw NeuroplexError.notFound(type, id: name) }
        guard object.typeName == type else { throw Self.wrongType(name, object, type) }
        return object
    }

    // MARK: Maps

    private func mapSchema(_ name: String) throws -> Components.Schemas.MemoryMap {
        guard case .map(let map) = try object(name, "map") else { preconditionFailure() }
        return .init(name: name, entries: try Self.container(.object(map.entries)), size: map.count)
    }

    func createMemoryMap(_ input: Operations.CreateMemoryMap.Input) async throws -> Operations.CreateMemoryMap.Output {
        var initial: [String: JSONValue] = [:]
        if case .json(let body)? = input.body, let sent = body.initial {
            guard case .object(let entries) = try Self.json(sent, field: "initial") else {
                throw NeuroplexError.invalid("initial", "initial must be an object")
            }
            initial = entries
        }
        try await memory.createObject(input.path.name, memory.makeMap(initial))
        return .created(.init(body: .json(try mapSchema(input.path.name))))
    }

    func getMemoryMap(_ input: Operations.GetMemoryMap.Input) async throws -> Operations.GetMemoryMap.Output {
        .ok(.init(body: .json(try mapSchema(input.path.name))))
    }

    func deleteMemoryMap(_ input: Operations.DeleteMemoryMap.Input) async throws -> Operations.DeleteMemoryMap.Output {
        .ok(.init(body: .json(try await deleteObject(input.path.name, "map"))))
    }

    func setMemoryMapEntry(_ input: Operations.SetMemoryMapEntry.Input) async throws
        -> Operations.SetMemoryMapEntry.Output
    {
        guard case .json(let body)? = input.body, let sent = body.value else {
            throw NeuroplexError.invalid("value", "value is required", kind: .badRequest)
        }
        let value = try Self.json(sent, field: "value")
        try await memory.mapSet(input.path.name, entry: input.path.entry, value)
        return .ok(.init(body: .json(.init(key: input.path.entry, value: try Self.container(value)))))
    }

    func getMemoryMapEntry(_ input: Operations.GetMemoryMapEntry.Input) async throws
        -> Operations.GetMemoryMapEntry.Output
    {
        guard case .map(let map) = try object(input.path.name, "map") else { preconditionFailure() }
        guard let value = map.value(for: input.path.entry) else {
            throw NeuroplexError.notFound("map entry", id: input.path.entry)
        }
        return .ok(.init(body: .json(.init(key: input.path.entry, value: try Self.container(value)))))
    }

    func deleteMemoryMapEntry(_ input: Operations.DeleteMemoryMapEntry.Input) async throws
        -> Operations.DeleteMemoryMapEntry.Output
    {
        .ok(.init(body: .json(.init(deleted: try await memory.mapRemove(input.path.name, entry: input.path.entry)))))
    }

    // MARK: Texts

    private func textSchema(_ name: String) throws -> Components.Schemas.MemoryText {
        guard case .text(let text) = try object(name, "text") else { preconditionFailure() }
        return .init(name: name, text: text.text, length: text.length)
    }

    func createMemoryText(_ input: Operations.CreateMemoryText.Input) async throws -> Operations.CreateMemoryText.Output {
        var initial = ""
        if case .json(let body)? = input.body { initial = body.initial ?? "" }
        try await memory.createObject(input.path.name, try memory.makeText(initial))
        return .created(.init(body: .json(try textSchema(input.path.name))))
    }

    func getMemoryText(_ input: Operations.GetMemoryText.Input) async throws -> Operations.GetMemoryText.Output {
        .ok(.init(body: .json(try textSchema(input.path.name))))
    }

    func deleteMemoryText(_ input: Operations.DeleteMemoryText.Input) async throws -> Operations.DeleteMemoryText.Output {
        .ok(.init(body: .json(try await deleteObject(input.path.name, "text"))))
    }

    func editMemoryText(_ input: Operations.EditMemoryText.Input) async throws -> Operations.EditMemoryText.Output {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        switch input.path.action {
        case .insert:
            guard let text = body.text else { throw NeuroplexError.invalid("text", "text is required", kind: .badRequest) }
            _ = try await memory.textInsert(input.path.name, text, at: body.position)
        case .delete:
            guard let length = body.length else {
                throw NeuroplexError.invalid("length", "length is required", kind: .badRequest)
            }
            _ = try await memory.textDelete(input.path.name, at: body.position, length: length)
        }
        return .ok(.init(body: .json(try textSchema(input.path.name))))
    }

    // MARK: Graphs

    private func graph(_ name: String) throws -> GraphCRDT {
        guard case .graph(let graph) = try object(name, "graph") else { preconditionFailure() }
        return graph
    }

    func createMemoryGraph(_ input: Operations.CreateMemoryGraph.Input) async throws
        -> Operations.CreateMemoryGraph.Output
    {
        try await memory.createObject(input.path.name, .graph(GraphCRDT()))
        return .created(.init(body: .json(try graphSchema(input.path.name))))
    }

    private func graphSchema(_ name: String) throws -> Components.Schemas.MemoryGraph {
        let graph = try graph(name)
        return .init(
            name: name, vertices: try Self.container(.object(graph.vertices)),
            edges: try graph.edges.map { .init(from: $0.from, to: $0.to, data: try Self.container($0.data)) })
    }

    func getMemoryGraph(_ input: Operations.GetMemoryGraph.Input) async throws -> Operations.GetMemoryGraph.Output {
        .ok(.init(body: .json(try graphSchema(input.path.name))))
    }

    func deleteMemoryGraph(_ input: Operations.DeleteMemoryGraph.Input) async throws
        -> Operations.DeleteMemoryGraph.Output
    {
        .ok(.init(body: .json(try await deleteObject(input.path.name, "graph"))))
    }

    func setMemoryGraphVertex(_ input: Operations.SetMemoryGraphVertex.Input) async throws
        -> Operations.SetMemoryGraphVertex.Output
    {
        var data: JSONValue = .null
        if case .json(let body)? = input.body, let sent = body.data { data = try Self.json(sent, field: "data") }
        try await memory.graphAddVertex(input.path.name, input.path.id, data: data)
        return .ok(.init(body: .json(.init(id: input.path.id, data: try Self.container(data)))))
    }

    func getMemoryGraphVertex(_ input: Operations.GetMemoryGraphVertex.Input) async throws
        -> Operations.GetMemoryGraphVertex.Output
    {
        guard let data = try graph(input.path.name).vertex(input.path.id) else {
            throw NeuroplexError.notFound("vertex", id: input.path.id)
        }
        return .ok(.init(body: .json(.init(id: input.path.id, data: try Self.container(data)))))
    }

    func deleteMemoryGraphVertex(_ input: Operations.DeleteMemoryGraphVertex.Input) async throws
        -> Operations.DeleteMemoryGraphVertex.Output
    {
        .ok(.init(body: .json(.init(deleted: try await memory.graphRemoveVertex(input.path.name, input.path.id)))))
    }

    func setMemoryGraphEdge(_ input: Operations.SetMemoryGraphEdge.Input) async throws
        -> Operations.SetMemoryGraphEdge.Output
    {
        var data: JSONValue = .null
        if case .json(let body)? = input.body, let sent = body.data { data = try Self.json(sent, field: "data") }
        try await memory.graphAddEdge(input.path.name, from: input.path.from, to: input.path.to, data: data)
        return .ok(.init(body: .json(.init(from: input.path.from, to: input.path.to, data: try Self.container(data)))))
    }

    func getMemoryGraphEdge(_ input: Operations.GetMemoryGraphEdge.Input) async throws
        -> Operations.GetMemoryGraphEdge.Output
    {
        guard let data = try graph(input.path.name).edge(from: input.path.from, to: input.path.to) else {
            throw NeuroplexError.notFound("edge", id: "\(input.path.from)→\(input.path.to)")
        }
        return .ok(.init(body: .json(.init(from: input.path.from, to: input.path.to, data: try Self.container(data)))))
    }

    func deleteMemoryGraphEdge(_ input: Operations.DeleteMemoryGraphEdge.Input) async throws
        -> Operations.DeleteMemoryGraphEdge.Output
    {
        .ok(.init(body: .json(.init(
            deleted: try await memory.graphRemoveEdge(input.path.name, from: input.path.from, to: input.path.to)))))
    }

    func getMemoryGraphNeighbors(_ input: Operations.GetMemoryGraphNeighbors.Input) async throws
        -> Operations.GetMemoryGraphNeighbors.Output
    {
        let graph = try graph(input.path.name)
        guard graph.vertex(input.path.id) != nil else { throw NeuroplexError.notFound("vertex", id: input.path.id) }
        let direction: GraphCRDT.Direction =
            switch input.query.direction ?? .outgoing {
            case .outgoing: .outgoing
            case .incoming: .incoming
            case .both: .both
            }
        return .ok(.init(body: .json(.init(neighbors: graph.neighbors(of: input.path.id, direction: direction)))))
    }
}

/// Consistency levels and conflicts.
extension APIHandler {
    private func consistencySchema(_ settings: ConsistencySettings) -> Components.Schemas.MemoryConsistency {
        .init(
            defaultLevel: .init(rawValue: settings.defaultLevel.rawValue) ?? .strong,
            keyLevels: .init(additionalProperties: settings.keyLevels.compactMapValues { .init(rawValue: $0.rawValue) }),
            token: memory.causalToken)
    }

    func getMemoryConsistency(_ input: Operations.GetMemoryConsistency.Input) async throws
        -> Operations.GetMemoryConsistency.Output
    {
        .ok(.init(body: .json(consistencySchema(memory.consistency))))
    }

    func setMemoryConsistency(_ input: Operations.SetMemoryConsistency.Input) async throws
        -> Operations.SetMemoryConsistency.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        var levels: [String: ConsistencyLevel?] = [:]
        if let sent = body.keyLevels {
            guard case .object(let entries) = try Self.json(sent, field: "keyLevels") else {
                throw NeuroplexError.invalid("keyLevels", "keyLevels must be an object of key → level")
            }
            for (key, value) in entries {
                switch value {
                case .null: levels[key] = .some(nil)
                case .string(let text):
                    guard let level = ConsistencyLevel(rawValue: text) else {
                        throw NeuroplexError.invalid(
                            "keyLevels.\(key)", "unknown level '\(text)'; known: strong, eventual, causal, monotonic")
                    }
                    levels[key] = level
                default:
                    throw NeuroplexError.invalid("keyLevels.\(key)", "a level is a string, or null to remove it")
                }
            }
        }
        let updated = try memory.updateConsistency(
            defaultLevel: body.defaultLevel.flatMap { ConsistencyLevel(rawValue: $0.rawValue) }, keyLevels: levels)
        return .ok(.init(body: .json(consistencySchema(updated))))
    }

    func listMemoryConflicts(_ input: Operations.ListMemoryConflicts.Input) async throws
        -> Operations.ListMemoryConflicts.Output
    {
        let conflicts = try memory.conflicts(GlobPattern(input.query.pattern ?? "*")).map { conflict in
            Components.Schemas.MemoryConflict(
                key: conflict.key, entry: conflict.entry,
                writes: try conflict.writes.map {
                    .init(value: try Self.container($0.value), timestamp: $0.timestamp, replica: $0.replica.rawValue)
                })
        }
        return .ok(.init(body: .json(.init(conflicts: conflicts))))
    }

    func resolveMemoryConflict(_ input: Operations.ResolveMemoryConflict.Input) async throws
        -> Operations.ResolveMemoryConflict.Output
    {
        guard case .json(let body) = input.body else { throw Self.jsonRequired }
        let resolver: Memory.ConflictResolver
        switch body.resolver {
        case .local: resolver = .local
        case .remote: resolver = .remote
        case .value:
            guard let sent = body.value else {
                throw NeuroplexError.invalid("value", "the value resolver needs a value", kind: .badRequest)
            }
            resolver = .value(try Self.json(sent, field: "value"))
        }
        let kept = try await memory.resolveConflict(input.path.key, entry: body.entry, with: resolver)
        return .ok(.init(body: .json(.init(key: body.entry, value: try Self.container(kept)))))
    }
}

/// A busy SSE stream writes at most once per this interval, so frames arriving closer together than it go out
/// together (one write and one system call for many), the way Nagle's algorithm gathers small segments; a quiet
/// stream writes each frame at once.
let sseGatherInterval: Duration = .milliseconds(10)

/// An SSE frame: the optional `id:` line, `data:` with the element's JSON, and the blank line that ends it.
func sseFrame(id: String? = nil, data: some Encodable) throws -> [UInt8] {
    var frame: [UInt8] = []
    if let id { frame += Array("id: \(id)\n".utf8) }
    frame += Array("data: ".utf8)
    frame += try CompactJSONEncoder().encode(data)
    frame += Array("\n\n".utf8)
    return frame
}

/// Change events' SSE frames, encoded once each however many watchers receive them: a thousand watchers of a
/// pattern cost one JSON encoding per change, not a thousand. A ring indexed by sequence number; a frame evicted
/// before a slow watcher gets to it is simply encoded again.
final class ChangeFrameCache: Sendable {
    private struct Slot {
        var sequence: UInt64 = 0
        var frame: [UInt8] = []
    }

    private static let slots = 4096
    private let ring = Mutex([Slot](repeating: Slot(), count: slots))

    func frame(for event: ChangeEvent) throws -> [UInt8] {
        let index = Int(event.sequence % UInt64(Self.slots))
        if let cached = ring.withLock({ $0[index].sequence == event.sequence ? $0[index].frame : nil }) { return cached }
        let frame = try sseFrame(id: String(event.sequence), data: event)
        ring.withLock { $0[index] = Slot(sequence: event.sequence, frame: frame) }
        return frame
    }
}
