import Foundation
import NeuroplexCore
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Blob store", .timeLimit(.minutes(3)))
struct BlobStoreTests {
    @Test("stores bytes under their SHA-256 and reads them back")
    func roundTrip() throws {
        let store = try BlobStore(directory: makeTemporaryDirectory())
        let digest = try store.put(Data("hello".utf8))
        #expect(digest == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
        #expect(try store.get(digest) == Data("hello".utf8))
        #expect(try store.contains(digest))
    }

    @Test("the same bytes are kept once; removing is idempotent")
    func deduplicates() throws {
        let directory = makeTemporaryDirectory()
        let store = try BlobStore(directory: directory)
        let first = try store.put(Data(repeating: 7, count: 1000))
        let second = try store.put(Data(repeating: 7, count: 1000))
        #expect(first == second)
        let files = FileManager.default.enumerator(atPath: directory)?.allObjects.compactMap { $0 as? String }
            .filter { !$0.hasSuffix("/") && $0.contains(first) }
        #expect(files?.count == 1)
        try store.remove(first)
        try store.remove(first)
        #expect(try store.get(first) == nil)
    }

    @Test("a streamed blob synced ahead of its commit holds all it was given; one discarded leaves nothing")
    func syncBeforeCommit() throws {
        let directory = makeTemporaryDirectory()
        let store = try BlobStore(directory: directory)
        let writer = try store.makeWriter()
        try writer.write(ArraySlice("stream".utf8))
        try writer.sync()
        // Written after a sync: the commit syncs again, and the blob has every byte.
        try writer.write(ArraySlice("ed".utf8))
        try writer.sync()
        let (digest, stored) = try writer.commit()
        let content = try store.get(digest)
        #expect(stored && content == Data("streamed".utf8))
        try writer.sync()  // after the commit: nothing to do
        let discarded = try store.makeWriter()
        try discarded.write(ArraySlice("gone".utf8))
        discarded.discard()
        try discarded.sync()
        let files = FileManager.default.enumerator(atPath: directory)?.allObjects.compactMap { $0 as? String }
            .filter { !$0.hasSuffix("/") && FileManager.default.fileExists(atPath: directory + "/" + $0 + "/") == false }
        #expect(files?.filter { $0.contains(digest) }.count == 1 && files?.count == 1, "\(files ?? [])")
    }

    @Test("a malformed digest is a validation error, not a path")
    func rejectsBadDigests() throws {
        let store = try BlobStore(directory: makeTemporaryDirectory())
        for digest in ["../../etc/passwd", "ABC", String(repeating: "g", count: 64)] {
            #expect(throws: NeuroplexError.self) { _ = try store.get(digest) }
        }
    }
}
