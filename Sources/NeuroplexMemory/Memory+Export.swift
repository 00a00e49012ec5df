public import Foundation
public import NeuroplexCore

/// One entry as exported and imported: a line of NDJSON.
public struct ExportedEntry: Sendable, Equatable, Codable {
    /// `kv` for a key-value entry (CRDT objects add their own types).
    public var type: String
    public var key: String
    public var value: JSONValue
    public var version: UInt64
    public var expiresAt: Date?

    public init(type: String = "kv", key: String, value: JSONValue, version: UInt64, expiresAt: Date? = nil) {
        self.type = type
        self.key = key
        self.value = value
        self.version = version
        self.expiresAt = expiresAt
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
        let now = clock.milliseconds()
        var entries: [ExportedEntry] = []
        for shard in shards {
            shard.withLock { shard in
                for (key, record) in shard.records where record.isLive(at: now) && pattern.matches(key) {
                    entries.append(
                        ExportedEntry(
                            key: key, value: record.value, version: record.version,
                            expiresAt: record.expiresAt.map(Self.date)))
                }
            }
        }
        return entries.sorted { $0.key < $1.key }
    }

    /// Writes exported entries, keeping their versions and expiry times. Idempotent: an entry whose key is already
    /// at that version or a newer one is skipped, as is one that has expired. Later writes get higher versions.
    /// - Throws: `validation_failed` naming the entry for a bad key, value or type, before anything is written.
    public func importEntries(_ entries: [ExportedEntry]) async throws -> ImportSummary {
        for (index, entry) in entries.enumerated() {
            guard entry.type == "kv" else {
                throw NeuroplexError.invalid("[\(index)].type", "unknown entry type '\(entry.type)'; this server imports kv")
            }
            do {
                try validate(key: entry.key)
                try validate(value: entry.value)
            } catch let error as NeuroplexError {
                throw NeuroplexError(error.kind, code: error.code, "entry \(index + 1): \(error.message)", field: "[\(index)]")
            }
        }
        var summary = ImportSummary(imported: 0, skipped: 0)
        for entry in entries {
            let expiresAt = entry.expiresAt.map { Int64(($0.timeIntervalSince1970 * 1000).rounded(.down)) }
            var restored = false
            _ = try await mutate(entry.key) { current, now in
                if let expiresAt, expiresAt <= now { return .keep }
                if let current, current.version >= entry.version { return .keep }
                restored = true
                return .restore(entry.value, expiresAt: expiresAt, version: entry.version)
            }
            if restored { summary.imported += 1 } else { summary.skipped += 1 }
        }
        return summary
    }
}
