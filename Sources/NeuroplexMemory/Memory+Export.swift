public import Foundation
public import NeuroplexCore

/// One entry as exported and imported: a line of NDJSON.
public struct ExportedEntry: Sendable, Equatable, Codable {
    /// `kv` for a key-value entry, or the CRDT's type (`counter`, `set`).
    public var type: String
    public var key: String
    /// The JSON value, or the CRDT's view (for reading; imports use `state`).
    public var value: JSONValue
    public var version: UInt64
    public var expiresAt: Date?
    /// A CRDT's full state (with its causal history), so an import merges as a replica would.
    public var state: JSONValue?

    public init(
        type: String = "kv", key: String, value: JSONValue, version: UInt64, expiresAt: Date? = nil,
        state: JSONValue? = nil
    ) {
        self.type = type
        self.key = key
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
        self.state = state
    }
}

/// What an import did.
public struct ImportSummary: Sendable, Equatable {
    /// Entries written.
    public var imported: Int
    /// Entries already present at the same or a newer version, or already expired.
    public var skipped: Int

    public init(imported: Int, skipped: Int) {
        self.imported = imported
        self.skipped = skipped
    }
}

extension Memory {
    /// Every live entry whose key matches `pattern`, in key order, as of one moment per shard.
    public func export(_ pattern: GlobPattern = .all) -> [ExportedEntry] {
        exportedEntries { pattern.matches($0) }
    }

    /// Every live entry whose key passes `include`, in key order, as of one moment per shard.
    func exportedEntries(where include: (String) -> Bool) -> [ExportedEntry] {
        let now = clock.milliseconds()
        var entries: [ExportedEntry] = []
        for shard in shards {
            shard.withLock { shard in
                for (key, record) in shard.records where record.isLive(at: now) && include(key) {
                    entries.append(
                        ExportedEntry(
                            type: record.object?.typeName ?? "kv", key: key, value: record.visible,
                            version: record.version, expiresAt: record.expiresAt.map(Self.date),
                            state: try? record.object.map { try JSONValue.parse($0.encodedState()) }))
                }
            }
        }
        return entries.sorted { $0.key < $1.key }
    }

    /// Writes exported entries, keeping their versions and expiry times. Idempotent: an entry whose key is already
    /// at that version or a newer one is skipped, as is one that has expired. Later writes get higher versions.
    /// - Throws: `validation_failed` naming the entry for a bad key, value or type, before anything is written.
    public func importEntries(_ entries: [ExportedEntry]) async throws -> ImportSummary {
        var objects: [Int: MemoryObject] = [:]
        for (index, entry) in entries.enumerated() {
            do {
                try validate(key: entry.key)
                if entry.type == "kv" {
                    try validate(value: entry.value)
                } else {
                    guard let state = entry.state else {
                        throw NeuroplexError.invalid("state", "a \(entry.type) entry needs its state")
                    }
                    do {
                        objects[index] = try MemoryObject.decode(typeName: entry.type, state: state)
                    } catch let error as NeuroplexError {
                        throw error
                    } catch {
                        throw NeuroplexError.invalid("state", "the \(entry.type) state does not decode: \(error)")
                    }
                }
            } catch let error as NeuroplexError {
                throw NeuroplexError(error.kind, code: error.code, "entry \(index + 1): \(error.message)", field: "[\(index)]")
            }
        }
        var summary = ImportSummary(imported: 0, skipped: 0)
        for (index, entry) in entries.enumerated() {
            let expiresAt = entry.expiresAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
            var restored = false
            _ = try await mutate(entry.key) { current, now in
                if let expiresAt, expiresAt <= now { return .keep }
                if let current, current.version >= entry.version { return .keep }
                restored = true
                if let object = objects[index] {
                    return .object(object, delta: object, expiresAt: expiresAt, version: entry.version)
                }
                return .restore(entry.value, expiresAt: expiresAt, version: entry.version)
            }
            if restored { summary.imported += 1 } else { summary.skipped += 1 }
        }
        return summary
    }
}
