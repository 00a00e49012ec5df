import Foundation
import Logging
import NeuroplexCore
import Synchronization

/// Files in the memory directory:
/// - `snapshot-<sequence>.bin`: every record as of that sequence number (framed like the log; a header frame
///   first and a footer frame with the record count last, so a torn snapshot is recognised and ignored);
/// - `wal-<sequence>.log`: the changes after that sequence number.
///
/// A snapshot is written to a temporary file, synced and renamed; only then are the older log and snapshot
/// removed. Recovery loads the newest complete snapshot and replays every log from its sequence number on.
extension Memory {
    enum RecordTag: UInt8 {
        case put = 1
        case remove = 2
        /// Several puts and removes that happened atomically (a transaction): `[UInt32 length][part]...`.
        case group = 3
        /// A CRDT delta (or full state, in snapshots and imports) to merge into the key's object.
        case object = 4
        case snapshotHeader = 0x10
        case snapshotFooter = 0x11
    }

    // MARK: Encoding

    /// `[1][sequence][version][expiresAt or -1][key length][key][value JSON]`. The version is the sequence
    /// number of the write, except for imported entries, which keep the version they were exported with.
    /// The bytes of a put record before its key: tag, sequence, version, expiry, key length.
    static let putHeaderBytes = 1 + 8 + 8 + 8 + 4

    static func encodePut(
        sequence: UInt64, version: UInt64? = nil, key: String, value: JSONValue, expiresAt: Int64?
    ) -> [UInt8] {
        var out: [UInt8] = [RecordTag.put.rawValue]
        out.reserveCapacity(40 + key.utf8.count)
        put64(sequence, into: &out)
        put64(version ?? sequence, into: &out)
        put64(UInt64(bitPattern: expiresAt ?? -1), into: &out)
        WriteAheadLog.put(UInt32(key.utf8.count), into: &out)
        out.append(contentsOf: key.utf8)
        value.write(into: &out, sortingKeys: false)  // the log need not be canonical
        return out
    }

    /// Writes the sequence number (and, unless the record keeps a given version, the version) into a record that
    /// ``encodePut(sequence:version:key:value:expiresAt:)`` encoded with placeholders.
    static func fillSequence(_ sequence: UInt64, keepingVersion: Bool, into record: inout [UInt8]) {
        record.withUnsafeMutableBytes { bytes in
            bytes.storeBytes(of: sequence.littleEndian, toByteOffset: 1, as: UInt64.self)
            if !keepingVersion { bytes.storeBytes(of: sequence.littleEndian, toByteOffset: 9, as: UInt64.self) }
        }
    }

    /// `[4][sequence][version][expiresAt or -1][key length][key][type code][state JSON]`.
    static func encodeObject(
        sequence: UInt64, version: UInt64?, key: String, typeCode: UInt8, state: [UInt8], expiresAt: Int64?
    ) -> [UInt8] {
        var out: [UInt8] = [RecordTag.object.rawValue]
        out.reserveCapacity(40 + key.utf8.count + state.count)
        put64(sequence, into: &out)
        put64(version ?? sequence, into: &out)
        put64(UInt64(bitPattern: expiresAt ?? -1), into: &out)
        WriteAheadLog.put(UInt32(key.utf8.count), into: &out)
        out.append(contentsOf: key.utf8)
        out.append(typeCode)
        out.append(contentsOf: state)
        return out
    }

    static func encodeRemove(sequence: UInt64, key: String) -> [UInt8] {
        var out: [UInt8] = [RecordTag.remove.rawValue]
        put64(sequence, into: &out)
        out.append(contentsOf: key.utf8)
        return out
    }

    static func put64(_ value: UInt64, into out: inout [UInt8]) {
        WriteAheadLog.put(UInt32(truncatingIfNeeded: value), into: &out)
        WriteAheadLog.put(UInt32(truncatingIfNeeded: value >> 32), into: &out)
    }

    static func get64(_ data: [UInt8], _ offset: Int) -> UInt64 {
        UInt64(WriteAheadLog.get(data, offset)) | UInt64(WriteAheadLog.get(data, offset + 4)) << 32
    }

    /// A decoded log or snapshot record.
    enum Decoded: Sendable {
        case put(sequence: UInt64, key: String, record: Record)
        case remove(sequence: UInt64, key: String)
        case header(sequence: UInt64)
        case footer(count: UInt64)
        case group([Decoded])
        case object(sequence: UInt64, key: String, version: UInt64, expiresAt: Int64?, delta: MemoryObject)
    }

    static func decode(_ payload: [UInt8]) throws -> Decoded {
        guard let first = payload.first, let tag = RecordTag(rawValue: first) else {
            throw POSIXFailure("unknown record type in the memory log")
        }
        switch tag {
        case .put:
            guard payload.count >= 29 else { throw POSIXFailure("short put record") }
            let sequence = get64(payload, 1)
            let version = get64(payload, 9)
            let expires = Int64(bitPattern: get64(payload, 17))
            let keyLength = Int(WriteAheadLog.get(payload, 25))
            guard payload.count >= 29 + keyLength else { throw POSIXFailure("short put record") }
            let key = String(decoding: payload[29..<(29 + keyLength)], as: UTF8.self)
            let value = try JSONValue.parse(payload[(29 + keyLength)...])
            return .put(
                sequence: sequence, key: key,
                record: Record(value: value, version: version, expiresAt: expires < 0 ? nil : expires))
        case .remove:
            guard payload.count >= 9 else { throw POSIXFailure("short remove record") }
            return .remove(sequence: get64(payload, 1), key: String(decoding: payload[9...], as: UTF8.self))
        case .object:
            guard payload.count >= 30 else { throw POSIXFailure("short object record") }
            let expires = Int64(bitPattern: get64(payload, 17))
            let keyLength = Int(WriteAheadLog.get(payload, 25))
            guard payload.count >= 30 + keyLength else { throw POSIXFailure("short object record") }
            return .object(
                sequence: get64(payload, 1), key: String(decoding: payload[29..<(29 + keyLength)], as: UTF8.self),
                version: get64(payload, 9), expiresAt: expires < 0 ? nil : expires,
                delta: try MemoryObject.decode(typeCode: payload[29 + keyLength], state: payload[(30 + keyLength)...]))
        case .group:
            var parts: [Decoded] = []
            var offset = 1
            while offset + 4 <= payload.count {
                let length = Int(WriteAheadLog.get(payload, offset))
                guard offset + 4 + length <= payload.count else { throw POSIXFailure("short group record") }
                parts.append(try decode(Array(payload[(offset + 4)..<(offset + 4 + length)])))
                offset += 4 + length
            }
            return .group(parts)
        case .snapshotHeader:
            return .header(sequence: get64(payload, 1))
        case .snapshotFooter:
            return .footer(count: get64(payload, 1))
        }
    }

    /// Asynchronous durability flushes the log every 10 ms; synchronous durability at every write (group commit).
    var logFlushInterval: Double? { configuration.durability == .async ? 0.01 : nil }

    // MARK: Recovery

    /// Loads the newest complete snapshot, replays the logs after it, and opens the newest log for appending.
    func recover(from directory: String) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try lockDirectory(directory)
        try loadConsistency(from: directory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        func sequence(_ name: String, _ prefix: String, _ suffix: String) -> UInt64? {
            guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
            return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
        }
        let snapshots = names.compactMap { sequence($0, "snapshot-", ".bin") }.sorted(by: >)
        let logs = names.compactMap { sequence($0, "wal-", ".log") }.sorted()

        var base: UInt64 = 0
        // Straight into one dictionary per shard, so that nothing is hashed twice or moved afterwards.
        var loaded = [[String: Record]](repeating: [:], count: Self.shardCount)
        for candidate in snapshots {
            let path = (directory as NSString).appendingPathComponent("snapshot-\(candidate).bin")
            if let records = try? await readSnapshot(path) {
                loaded = records
                base = candidate
                break
            }
            logger.warning("ignoring an incomplete memory snapshot", metadata: ["file": "\(path)"])
        }
        var latest = base
        var openLog: WriteAheadLog?
        for start in logs {
            let path = (directory as NSString).appendingPathComponent("wal-\(start).log")
            let (log, payloads) = try WriteAheadLog.open(path: path, flushInterval: logFlushInterval)
            func apply(_ decoded: Decoded) {
                switch decoded {
                case .put(let sequence, let key, let record) where sequence > base:
                    loaded[shardIndex(for: key)][key] = record
                    latest = max(latest, sequence)
                case .remove(let sequence, let key) where sequence > base:
                    loaded[shardIndex(for: key)][key] = nil
                    latest = max(latest, sequence)
                case .object(let sequence, let key, let version, let expiresAt, let delta) where sequence > base:
                    let index = shardIndex(for: key)
                    loaded[index][key] = Self.applying(delta, to: loaded[index][key], version: version, expiresAt: expiresAt)
                    latest = max(latest, sequence)
                case .group(let parts):
                    parts.forEach(apply)
                default:
                    break
                }
            }
            for decoded in try await Self.decodeAll(payloads[...]) { apply(decoded) }
            if start == logs.last { openLog = log } else { await log.shutdown() }
        }
        if openLog == nil {
            openLog = try WriteAheadLog.open(
                path: (directory as NSString).appendingPathComponent("wal-\(base).log"), flushInterval: logFlushInterval
            ).0
        }
        var keyCount = 0
        for (index, records) in loaded.enumerated() {
            keyCount += records.count
            shards[index].withLock { $0.records = records }
        }
        logState.withLock { state in
            state.sequence = latest
            state.log = openLog
        }
        if keyCount > 0 || latest > 0 {
            logger.info(
                "memory recovered",
                metadata: ["keys": "\(keyCount)", "sequence": "\(latest)", "snapshot": "\(base)"])
        }
    }

    /// A record after merging a logged delta into its object (a new object when the key held none of that type).
    static func applying(_ delta: MemoryObject, to record: Record?, version: UInt64, expiresAt: Int64?) -> Record {
        var object = record?.object.flatMap { $0.typeCode == delta.typeCode ? $0 : nil } ?? delta.empty
        object.merge(delta)
        return Record(value: .null, version: version, expiresAt: expiresAt, object: object)
    }

    /// Takes an exclusive lock on the directory for this process's lifetime (released by ``close()`` or exit):
    /// two processes writing one log would corrupt it.
    private func lockDirectory(_ directory: String) throws {
        let path = (directory as NSString).appendingPathComponent("LOCK")
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXFailure("open \(path)") }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            Foundation.close(descriptor)
            throw NeuroplexError(
                .unavailable, code: .unavailable,
                "another process is using the memory directory \(directory); stop it first")
        }
        directoryLock.withLock { $0 = descriptor }
    }

    /// Releases the directory lock.
    func unlockDirectory() {
        directoryLock.withLock { descriptor in
            if descriptor >= 0 { Foundation.close(descriptor) }
            descriptor = -1
        }
    }

    /// A snapshot's records, by shard.
    func readSnapshot(_ path: String) async throws -> [[String: Record]] {
        guard let data = FileManager.default.contents(atPath: path) else { throw POSIXFailure("read \(path)") }
        let (frames, _) = WriteAheadLog.frames(in: Array(data))
        guard let first = frames.first, case .header = try Self.decode(first),
            let last = frames.last, case .footer(let count) = try Self.decode(last), count == UInt64(frames.count - 2)
        else { throw POSIXFailure("incomplete snapshot \(path)") }
        var records = [[String: Record]](repeating: [:], count: Self.shardCount)
        let perShard = frames.count / Self.shardCount * 9 / 8 + 16
        for index in records.indices { records[index].reserveCapacity(perShard) }
        for decoded in try await Self.decodeAll(frames.dropFirst().dropLast()) {
            switch decoded {
            case .put(_, let key, let record): records[shardIndex(for: key)][key] = record
            case .object(_, let key, let version, let expiresAt, let state):
                let index = shardIndex(for: key)
                records[index][key] = Self.applying(state, to: records[index][key], version: version, expiresAt: expiresAt)
            default: break
            }
        }
        return records
    }

    /// Decodes records on every core (parsing their JSON is most of a restart), keeping their order.
    static func decodeAll(_ payloads: ArraySlice<[UInt8]>) async throws -> [Decoded] {
        let parts = min(max(1, ProcessInfo.processInfo.activeProcessorCount), max(1, payloads.count / 10_000))
        guard parts > 1 else { return try payloads.map(decode) }
        let size = (payloads.count + parts - 1) / parts
        return try await withThrowingTaskGroup(of: (Int, [Decoded]).self) { group in
            for part in 0..<parts {
                let start = payloads.startIndex + part * size
                let chunk = Array(payloads[start..<min(start + size, payloads.endIndex)])
                group.addTask { (part, try chunk.map(decode)) }
            }
            var decoded = [[Decoded]](repeating: [], count: parts)
            for try await (part, records) in group { decoded[part] = records }
            return decoded.flatMap { $0 }
        }
    }

    // MARK: Snapshots

    /// Waits until every write acknowledged so far is on disk (with `durability: .async`, at most one flush
    /// interval; with `.sync` they already are).
    public func flush() async throws {
        guard let log = logState.withLock({ $0.log }) else { return }
        try await log.waitUntilDurable(log.length)
    }

    /// Starts a snapshot on a task of its own unless one is running: the write that crossed the log's size limit
    /// does not wait for it. The freeze at its start is a moment with every shard locked (copy-on-write copies);
    /// serialising and writing the file run beside new writes.
    func snapshotInBackground() {
        backgroundSnapshot.withLock { running in
            guard running == nil else { return }
            running = Task.detached { [self] in
                do {
                    try await writeSnapshot()
                } catch {
                    logger.error("memory snapshot failed; the log keeps growing until one succeeds", metadata: ["error": "\(error)"])
                }
                backgroundSnapshot.withLock { $0 = nil }
            }
        }
    }

    /// Writes every record to a new snapshot and starts a new log; then removes the older files.
    /// Concurrent callers do not queue up: one snapshot at a time, the others return at once.
    func writeSnapshot() async throws {
        guard let directory = configuration.directory else { return }
        guard snapshotting.withLock({ running in defer { running = true }; return !running }) else { return }
        defer { snapshotting.withLock { $0 = false } }

        // Freeze: with every shard and the log locked, copy the dictionaries (copy-on-write, so O(shards)) and
        // switch to a new log, so that the snapshot plus the new log hold exactly everything.
        let (copies, sequence, oldLog) = try withShardsLocked(Array(shards.indices)) { held in
            try logState.withLock { state -> ([[String: Record]], UInt64, WriteAheadLog?) in
                let copies = held.keys.sorted().map { held[$0]!.pointee.records }
                let sequence = state.sequence
                let old = state.log
                let path = (directory as NSString).appendingPathComponent("wal-\(sequence).log")
                if old?.path == path { return (copies, sequence, nil) }  // nothing written since the last snapshot
                state.log = try WriteAheadLog.open(path: path, flushInterval: logFlushInterval).0
                return (copies, sequence, old)
            }
        }
        await oldLog?.shutdown()

        var out: [UInt8] = []
        var count: UInt64 = 0
        func frame(_ payload: [UInt8]) {
            WriteAheadLog.put(UInt32(payload.count), into: &out)
            WriteAheadLog.put(CRC32.checksum(payload), into: &out)
            out.append(contentsOf: payload)
        }
        var header: [UInt8] = [RecordTag.snapshotHeader.rawValue]
        Self.put64(sequence, into: &header)
        frame(header)
        for shard in copies {
            for (key, record) in shard {
                if let object = record.object, let state = try? object.encodedState() {
                    frame(
                        Self.encodeObject(
                            sequence: record.version, version: record.version, key: key, typeCode: object.typeCode,
                            state: state, expiresAt: record.expiresAt))
                } else {
                    frame(
                        Self.encodePut(
                            sequence: record.version, key: key, value: record.value, expiresAt: record.expiresAt))
                }
                count += 1
            }
        }
        var footer: [UInt8] = [RecordTag.snapshotFooter.rawValue]
        Self.put64(count, into: &footer)
        frame(footer)

        let final = (directory as NSString).appendingPathComponent("snapshot-\(sequence).bin")
        let temporary = final + ".tmp"
        try Self.writeDurably(out, to: temporary)
        guard rename(temporary, final) == 0 else { throw POSIXFailure("rename \(temporary)") }
        Self.syncDirectory(directory)

        // Older snapshots and logs are now covered by this snapshot.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let isOld =
                (name.hasPrefix("snapshot-") && name != "snapshot-\(sequence).bin" && name.hasSuffix(".bin"))
                || (name.hasPrefix("wal-") && name != "wal-\(sequence).log")
            if isOld { try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name)) }
        }
    }

    static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw POSIXFailure("create \(path)") }
        defer { Foundation.close(descriptor) }
        try bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw POSIXFailure("write \(path)")
                }
                offset += written
            }
        }
        guard fsync(descriptor) == 0 else { throw POSIXFailure("sync \(path)") }
    }

    static func syncDirectory(_ directory: String) {
        let descriptor = open(directory, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        _ = fsync(descriptor)
        Foundation.close(descriptor)
    }
}
