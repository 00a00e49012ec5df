import Crypto
public import Foundation
public import NeuroplexCore

/// Content-addressed storage for artifacts (model files, datasets, images) under `<data>/blobs`.
///
/// A blob's address is the SHA-256 of its bytes, as 64 hex digits, so storing the same bytes twice keeps one copy
/// and a reader can verify what it got. Writes go to a temporary file that is synced and then renamed into place,
/// so a blob is either absent or complete, even after `kill -9`.
public struct BlobStore: Sendable {
    /// The folder holding the blobs.
    public let root: URL

    /// Threads for writes that wait on the disk (`fsync`), run beside other work: off Swift's cooperative pool,
    /// whose few threads (two on a two-core machine) would otherwise sit blocked while requests wait for them.
    public static let diskThreads = DedicatedThread.Pool(name: "blob-sync")

    public init(directory: String) throws {
        self.root = URL(fileURLWithPath: directory, isDirectory: true)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    }

    /// Stores `data` and returns its digest (lowercase hex SHA-256).
    @discardableResult
    public func put(_ data: Data) throws -> String {
        try put(data, digest: Self.digest(data))
    }

    /// Stores `data`, whose digest the caller has made with ``digest(_:)``, and returns that digest.
    @discardableResult
    public func put(_ data: Data, digest: String) throws -> String {
        let destination = path(for: digest)
        if FileManager.default.fileExists(atPath: destination.path) { return digest }
        try FileManager.default.createDirectory(
            at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = root.appendingPathComponent(".tmp-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw NeuroplexError(.internal, code: .internal, "cannot create a file in the blob store")
        }
        do {
            let handle = try FileHandle(forWritingTo: temporary)
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
            if rename(temporary.path, destination.path) != 0 {
                throw NeuroplexError(.internal, code: .internal, "cannot move a blob into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        }
        return digest
    }

    /// The address of `bytes` in a store: their SHA-256 as lowercase hex.
    public static func digest(_ bytes: some DataProtocol) -> String {
        Hex.encode(SHA256.hash(data: bytes))
    }

    /// The bytes stored under `digest`, or `nil` when there are none.
    /// - Throws: `validation_failed` when `digest` is not 64 lowercase hex digits.
    public func get(_ digest: String) throws -> Data? {
        try Self.validate(digest)
        return FileManager.default.contents(atPath: path(for: digest).path)
    }

    /// Whether a blob is stored under `digest`.
    public func contains(_ digest: String) throws -> Bool {
        try Self.validate(digest)
        return FileManager.default.fileExists(atPath: path(for: digest).path)
    }

    /// Removes the blob; removing an absent one is not an error.
    public func remove(_ digest: String) throws {
        try Self.validate(digest)
        let url = path(for: digest)
        if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
    }

    /// `blobs/ab/abcdef...`: a two-character fan-out keeps folders small.
    func path(for digest: String) -> URL {
        root.appendingPathComponent(String(digest.prefix(2)), isDirectory: true).appendingPathComponent(digest)
    }

    static func validate(_ digest: String) throws {
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) })
        else { throw NeuroplexError.invalid("digest", "a blob digest is 64 lowercase hex digits") }
    }
}
