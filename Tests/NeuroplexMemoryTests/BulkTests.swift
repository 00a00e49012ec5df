import Foundation
import NeuroplexCore
import NeuroplexMemory
import NeuroplexTestSupport
import Testing

@Suite("Memory bulk writes, migration, keyspace notifications and causal waits", .timeLimit(.minutes(3)))
struct BulkTests {
    func open(_ directory: String? = nil) async throws -> Memory {
        try await Memory(configuration: MemoryConfiguration(directory: directory), logger: quietLogger)
    }

    @Test("multi-set and multi-delete are checked whole and applied as one change group")
    func atomicMultiKey() async throws {
        let memory = try await open()
        try await memory.set("a", 0)
        let before = memory.latestSequence
        let results = try await memory.set([("a", 1), ("b", 2), ("c", 3)])
        #expect(results.map(\.previous) == [0, nil, nil])
        #expect(try memory.changes(since: before).map(\.key) == ["a", "b", "c"])
        // One bad key refuses the whole call: nothing of it is written.
        await #expect(throws: NeuroplexError.self) {
            try await memory.set([("a", 10), (String(repeating: "k", count: 2000), 1)])
        }
        #expect(memory.get("a")?.value == 1)
        #expect(try await memory.delete(["a", "missing", "c"]) == [true, false, true])
        #expect(memory.count == 1 && memory.get("b")?.value == 2)
        try await memory.close()
    }

    @Test("bulk insert counts new and overwritten keys; update never creates; delete skips missing keys")
    func bulk() async throws {
        let memory = try await open()
        try await memory.set("user:1", "old")
        let entries: [(key: String, value: JSONValue)] = (1...2500).map { ("user:\($0)", .int(Int64($0))) }
        let inserted = try await memory.bulk(.insert, entries, batchSize: 1000)
        #expect(inserted.processed == 2500 && inserted.inserted == 2499 && inserted.updated == 1 && inserted.success)
        #expect(memory.count == 2500 && memory.get("user:2500")?.value == 2500)

        let updated = try await memory.bulk(.update, [("user:1", "new"), ("ghost", 1)])
        #expect(updated.updated == 1 && !updated.success)
        #expect(updated.errors.map(\.key) == ["ghost"] && updated.errors.first?.code == .notFound)
        #expect(memory.get("ghost") == nil && memory.get("user:1")?.value == "new")

        let deleted = try await memory.bulk(.delete, [("user:1", .null), ("ghost", .null)])
        #expect(deleted.processed == 2 && deleted.deleted == 1)

        // A bad entry anywhere fails the call before anything is written.
        let bad = await #expect(throws: NeuroplexError.self) {
            try await memory.bulk(.insert, [("fresh", 1), ("", 2)])
        }
        #expect(bad?.field == "[1]" && memory.get("fresh") == nil)
        await #expect(throws: NeuroplexError.self) { try await memory.bulk(.insert, [("x", 1)], batchSize: 0) }
        try await memory.close()
    }

    @Test("migrate copies or moves a prefix with TTLs and CRDT state, skipping or overwriting targets; it survives a restart")
    func migrate() async throws {
        let directory = makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var memory = try await open(directory)
        try await memory.set("users:1", ["name": "Alice"], ttl: 3600)
        try await memory.set("users:2", ["name": "Bob"])
        _ = try await memory.createObject("users:visits", memory.makeCounter(5))
        try await memory.set("people:2", "already there")
        try await memory.set("usersx", "not under the prefix")

        let copied = try await memory.migrate(from: "users:", to: "people:")
        #expect(copied.migrated == 2 && copied.skipped == 1 && copied.removed == 0)
        #expect(memory.get("people:1")?.value == ["name": "Alice"] && memory.get("people:1")?.expiresAt != nil)
        #expect(memory.get("people:2")?.value == "already there")
        #expect(memory.get("people:visits")?.value == 5 && memory.get("people:visits")?.type == "counter")
        #expect(try await memory.counterAdd("people:visits", 1) == 6)
        #expect(memory.get("users:visits")?.value == 5)  // a copy: the source is its own counter

        let moved = try await memory.migrate(from: "users:", to: "people:", move: true, overwrite: true)
        #expect(moved.migrated == 3 && moved.removed == 3)
        #expect(memory.get("people:2")?.value == ["name": "Bob"] && memory.get("people:visits")?.value == 5)
        #expect(memory.scan(GlobPattern("users:*")).items.isEmpty && memory.get("usersx") != nil)

        for (source, target) in [("", "a"), ("a", ""), ("users:", "users:old:"), ("x", "x")] {
            await #expect(throws: NeuroplexError.self) { try await memory.migrate(from: source, to: target) }
        }
        try await memory.close()
        memory = try await open(directory)
        #expect(memory.get("people:visits")?.value == 5 && memory.get("people:2")?.value == ["name": "Bob"])
        #expect(memory.get("users:1") == nil)
        try await memory.close()
    }

    @Test("keyspace notifications follow Redis's flags and names, in change order")
    func keyspaceNotifications() async throws {
        #expect(KeyspaceNotifications(redisFlags: "KEA") == [.keyspace, .keyevent, .all])
        #expect(KeyspaceNotifications(redisFlags: "Kx")?.redisFlags == "Kx")
        #expect(KeyspaceNotifications(redisFlags: "KEA")?.redisFlags == "KEA")
        #expect(KeyspaceNotifications(redisFlags: "A") == [])  // no K or E: off, as in Redis
        #expect(KeyspaceNotifications(redisFlags: "Kq") == nil)
        #expect(KeyspaceNotifications(redisFlags: "Klz$") == [.keyspace, .string])

        let memory = try await open()
        let (_, messages) = memory.events.subscribe(patterns: [GlobPattern("__key*__:*")])
        try await memory.set("quiet", 1)  // notifications are off by default
        memory.keyspaceNotifications = KeyspaceNotifications(redisFlags: "KEA")!
        try await memory.set("user:1", "x")
        _ = try await memory.setAdd("tags", ["a"], create: true)
        _ = try await memory.setRemove("tags", ["a"])
        try await memory.delete("user:1")
        memory.keyspaceNotifications = KeyspaceNotifications(redisFlags: "E$")!
        try await memory.set("user:2", "y")
        _ = try await memory.setAdd("tags", ["b"])  // `s` not enabled now
        try await memory.set("last", 0)

        var received: [String] = []
        for try await message in messages {
            received.append(message.channel + " " + String(decoding: message.data.bytes, as: UTF8.self))
            if message.data == "last" { break }
        }
        #expect(received == [
            "__keyspace@0__:user:1 \"set\"", "__keyevent@0__:set \"user:1\"",
            "__keyspace@0__:tags \"sadd\"", "__keyevent@0__:sadd \"tags\"",
            "__keyspace@0__:tags \"srem\"", "__keyevent@0__:srem \"tags\"",
            "__keyspace@0__:user:1 \"del\"", "__keyevent@0__:del \"user:1\"",
            "__keyevent@0__:set \"user:2\"", "__keyevent@0__:set \"last\"",
        ])
        try await memory.close()
    }

    @Test("a causal token is waited for until this node reaches it, within a timeout")
    func causalWait() async throws {
        let memory = try await open()
        try await memory.set("a", 1)
        let now = memory.causalToken
        #expect(try await memory.waitUntilSeen(now, timeout: .milliseconds(1)))
        let next = "c1:\(memory.latestSequence + 1)"
        #expect(try await memory.waitUntilSeen(next, timeout: .milliseconds(20)) == false)
        async let waited = memory.waitUntilSeen(next, timeout: .seconds(30))
        try await memory.set("b", 2)
        #expect(try await waited)
        await #expect(throws: NeuroplexError.self) { try await memory.waitUntilSeen("7", timeout: .seconds(1)) }
        try await memory.close()
    }
}
