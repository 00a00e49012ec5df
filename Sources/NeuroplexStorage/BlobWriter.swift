import Crypto
public import Foundation
import NeuroplexCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension BlobStore {
    /// A writer for a blob too large to hold in memory: bytes are appended to a temporary file in the store while
    /// their SHA-256 is computed, and ``BlobWriter/commit()`` moves the file into place under that digest.
    ///
    /// ```swift
    /// let writer = try blobs.makeWriter()
    /// for try await chunk in body { try writer.write(chunk) }
    /// let digest = writer.digest()          // no writes after this; look the digest up if you like
    /// try writer.commit()                   // or writer.discard()
    /// ```
    public func makeWriter() throws -> BlobWriter {
        try BlobWriter(store: self)
    }

    /// Where the blob with this digest is, whether or not it exists (for readers that stream a blob).
    /// - Throws: `validation_failed` when `digest` is not 64 lowercase hex digits.
    public func url(for digest: String) throws -> URL {
        try Self.validate(digest)
        return path(for: digest)
    }

    /// Removes temporary files left by writes that never finished (a crash during an upload) and untouched for
    /// `age` (a day by default, so that a write in progress on another node sharing the folder is left alone).
    public func removeStaleTemporaryFiles(olderThan age: TimeInterval = 86_400) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        for name in names where name.hasPrefix(".tmp-") {
            let url = root.appendingPathComponent(name)
            let modified = (try? FileManager.default.attributesOfItem(atPath: url.path))?[.modificationDate] as? Date
            if let modified, Date().timeIntervalSince(modified) > age { try? FileManager.default.removeItem(at: url) }
        }
    }
}

/// Streams one blob into a ``BlobStore``; see ``BlobStore/makeWriter()``.
///
/// One task writes at a time; the state sits behind a `Mutex` so that a writer can be handed to the task that
/// commits it. A writer that is neither committed nor discarded removes its temporary file when it is released,
/// so a failed upload leaves nothing behind.
public final class BlobWriter: Sendable {
    private struct State {
        var descriptor: Int32
        var hasher = SHA256()
        var digest: String?
        var finished = false
        /// The file was synced by ``sync()`` and not written since.
        var synced = false
        var byteCount: Int64 = 0
    }

    private let store: BlobStore
    private let temporary: URL
    private let state: Mutex<State>

    fileprivate init(store: BlobStore) throws {
        self.store = store
        self.temporary = store.root.appendingPathComponent(".tmp-\(UUID().uuidString)")
        let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw NeuroplexError(.internal, code: .internal, "cannot create a file in the blob store (errno \(errno))")
        }
        self.state = Mutex(State(descriptor: descriptor))
    }

    deinit {
        discard()
    }

    /// The number of bytes written so far.
    public var byteCount: Int64 { state.withLock { $0.byteCount } }

    /// Appends `bytes` and adds them to the digest.
    public func write(_ bytes: ArraySlice<UInt8>) throws {
        try state.withLock { state in
            precondition(!state.finished && state.digest == nil, "write after digest(), commit() or discard()")
            try bytes.withUnsafeBytes { buffer in
                state.hasher.update(bufferPointer: buffer)
                guard Self.writeAll(state.descriptor, buffer) else { throw Self.writeError() }
            }
            state.byteCount += Int64(bytes.count)
            state.synced = false
        }
    }

    /// Syncs what was written to the disk, ahead of ``commit()`` (which then need not): a caller can sync while it
    /// does other work and commit once both are done. Does nothing once the blob was committed or discarded.
    public func sync() throws {
        try state.withLock { state in
            guard !state.finished, !state.synced else { return }
            guard fsync(state.descriptor) == 0 else { throw Self.writeError() }
            state.synced = true
        }
    }

    /// The digest of everything written (lowercase hex SHA-256). No writes may follow.
    public func digest() -> String {
        state.withLock { state in
            if let digest = state.digest { return digest }
            let digest = Hex.encode(state.hasher.finalize())
            state.digest = digest
            return digest
        }
    }

    /// Syncs the file and moves it into place under its digest; when the store already holds that blob, the
    /// temporary file is removed instead.
    /// - Returns: the digest, and whether this call stored a new blob.
    @discardableResult
    public func commit() throws -> (digest: String, stored: Bool) {
        let digest = digest()
        let destination = try store.url(for: digest)
        try state.withLock { state in
            precondition(!state.finished, "commit() after commit() or discard()")
            state.finished = true
            defer {
                close(state.descriptor)
                state.descriptor = -1
            }
            guard state.synced || fsync(state.descriptor) == 0 else {
                try? FileManager.default.removeItem(at: temporary)
                throw Self.writeError()
            }
        }
        if FileManager.default.fileExists(atPath: destination.path) {
            try? FileManager.default.removeItem(at: temporary)
            return (digest, false)
        }
        do {
            try FileManager.default.createDirectory(
                at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            guard rename(temporary.path, destination.path) == 0 else {
                throw NeuroplexError(.internal, code: .internal, "cannot move a blob into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        return (digest, true)
    }

    /// Abandons the blob: the temporary file is removed. Discarding twice, or after a commit, does nothing.
    public func discard() {
        let wasOpen = state.withLock { state in
            let wasFinished = state.finished
            state.finished = true
            if state.descriptor >= 0 {
                close(state.descriptor)
                state.descriptor = -1
            }
            return !wasFinished
        }
        if wasOpen { try? FileManager.default.removeItem(at: temporary) }
    }

    private static func writeAll(_ descriptor: Int32, _ buffer: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < buffer.count {
            let result = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            if result < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += result
        }
        return true
    }

    private static func writeError() -> NeuroplexError {
        let reason = errno == ENOSPC ? "the disk is full" : "errno \(errno)"
        return NeuroplexError(.unavailable, code: .unavailable, "cannot write to the blob store: \(reason)")
    }
}

/// POSIX `write(2)`, named apart from ``BlobWriter/write(_:)``.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    Glibc.write(descriptor, bytes, count)
    #else
    Darwin.write(descriptor, bytes, count)
    #endif
}
