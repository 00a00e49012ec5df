import Foundation
import NeuroplexCore
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Blob store")
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

    @Test("a malformed digest is a validation error, not a path")
    func rejectsBadDigests() throws {
        let store = try BlobStore(directory: makeTemporaryDirectory())
        for digest in ["../../etc/passwd", "ABC", String(repeating: "g", count: 64)] {
            #expect(throws: NeuroplexError.self) { _ = try store.get(digest) }
        }
    }
}
