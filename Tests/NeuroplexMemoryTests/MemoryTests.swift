import Foundation
import NeuroplexCore
import NeuroplexMemory
import NeuroplexTestSupport
import Testing

@Suite("Memory key-value engine", .timeLimit(.minutes(3)))
struct MemoryTests {
    func open(
        _ directory: String? = nil, clock: ManualWallClock = ManualWallClock(),
        configure: (inout MemoryConfiguration) -> Void = { _ in }
    ) async throws -> Memory {
        var configuration = MemoryConfiguration(directory: directory)
        configure(&configuration)
        return try await Memory(configuration: configuration, clock: clock, logger: quietLogger)
    }

    @Test("a value over the size limit is refused whole, leaving the key and the change stream as they were")
    func valueSizeLimit() async throws {
        let memory = try await open { $0.maxValueBytes = 33 }
        // {"name":"Alice","tags":["a","b"]} is 33 bytes of JSON: exactly at the limit.
        try await memory.set("k", ["name": "Alice", "tags": ["a", "b"]])
        let before = memory.latestSequence
        let refused = await #expect(throws: NeuroplexError.self) {
            try await memory.set("k", ["name": "Alice!", "tags": ["a", "b"]])
        }
        #expect(refused?.code == .payloadTooLarge)
        #expect(memory.get("k")?.value == ["name": "Alice", "tags": ["a", "b"]] && memory.latestSequence == before)
        let escaped = await #expect(throws: NeuroplexError.self) {
            try await memory.set("other", .string(String(repeating: "\n", count: 16)))  // 34 bytes once escaped
        }
        #expect(escaped?.code == .payloadTooLarge && memory.get("other") == nil)
        try await memory.close()
    }

    @Test("set, get, versions, conditional writes and delete")
    func basics() async throws {
        let memory = try await open()
        let first = try await memory.set("user:1", ["name": "Alice", "age": 30])
        let entry = try #require(memory.get("user:1"))
        #expect(entry.value == ["name": "Alice", "age": 30] && entry.version == first.version)
        let second = try await memory.set("user:1", ["name": "Alicia"], condition: .ifVersion(entry.version))
        #expect(try #require(second.version) > entry.version)
        let stale = await #expect(throws: NeuroplexError.self) {
            try await memory.set("user:1", 1, condition: .ifVersion(entry.version))
        }
        #expect(stale?.code == .preconditionFailed)
        let exists = await #expect(throws: NeuroplexError.self) {
            try await memory.set("user:1", 1, condition: .ifAbsent)
        }
        #expect(exists?.kind == .preconditionFailed)
        #expect(memory.get("user:1")?.value == ["name": "Alicia"])  // refused writes changed nothing
        #expect(try await memory.delete("user:1") == true)
        #expect(try await memory.delete("user:1") == false)
        #expect(memory.get("user:1") == nil && !memory.exists("user:1"))
        await #expect(throws: NeuroplexError.self) { try await memory.set("", 1) }
        await #expect(throws: NeuroplexError.self) { try await memory.set(String(repeating: "k", count: 1025), 1) }
        try await memory.close()
    }

    @Test("keys expire after their TTL, and the sweep publishes an expire change")
    func expiry() async throws {
        let clock = ManualWallClock()
        let memory = try await open(clock: clock)
        try await memory.set("session", "tmp", ttl: 1)
        try await memory.set("keep", "forever")
        #expect(memory.get("session") != nil)
        #expect(try #require(try memory.timeToLive("session")) <= 1)
        clock.advance(by: 1.001)
        #expect(memory.get("session") == nil && memory.count == 1)
        let before = memory.latestSequence
        #expect(try await memory.removeExpired() == 1)
        #expect(try memory.changes(since: before).map(\.type) == [.expire])
        await #expect(throws: NeuroplexError.self) { try await memory.set("x", 1, ttl: 0) }
        try await memory.close()
    }

    @Test("increment keeps integers exact, refuses non-numbers and overflow; compare-and-swap")
    func arithmetic() async throws {
        let memory = try await open()
        #expect(try await memory.increment("n", by: 5).value == 5)  // missing counts as 0
        #expect(try await memory.increment("n", by: -7).value == -2)
        #expect(try await memory.increment("n", by: 0.5).value == .double(-1.5))
        try await memory.set("s", "41")
        #expect(try await memory.increment("s", by: 1).value == 42)
        try await memory.set("obj", ["a": 1])
        let wrong = await #expect(throws: NeuroplexError.self) { try await memory.increment("obj", by: 1) }
        #expect(wrong?.code == .wrongType)
        try await memory.set("big", .int(Int64.max))
        await #expect(throws: NeuroplexError.self) { try await memory.increment("big", by: 1) }
        #expect(memory.get("big")?.value == .int(Int64.max))

        try await memory.set("v", 12)
        #expect(try await memory.compareAndSwap("v", expected: 12, new: 100).swapped)
        #expect(try await !memory.compareAndSwap("v", expected: 12, new: 7).swapped)
        #expect(memory.get("v")?.value == 100)
        #expect(try await memory.compareAndSwap("new", expected: nil, new: 1).swapped)
        try await memory.close()
    }

    @Test("scan pages through every match in key order")
    func scanning() async throws {
        let memory = try await open()
        for index in 0..<25 { try await memory.set("b:\(index)", .int(Int64(index))) }
        try await memory.set("other", 1)
        var seen: [String] = []
        var cursor: String?
        repeat {
            let page = memory.scan(GlobPattern("b:*"), limit: 7, after: cursor)
            seen += page.items.map(\.key)
            cursor = page.nextCursor
        } while cursor != nil
        #expect(seen == (0..<25).map { "b:\($0)" }.sorted())
        #expect(memory.scan(GlobPattern("b:1?"), limit: 100).items.count == 10)
        try await memory.close()
    }

    @Test("watchers get matching changes exactly once, in order; history is bounded with an explicit error")
    func changeStream() async throws {
        let memory = try await open { $0.historyLimit = 4 }
        let stream = memory.watch(GlobPattern("watch:*"))
        try await memory.set("watch:1", 1)
        try await memory.set("other", 1)
        try await memory.set("watch:1", 2)
        try await memory.delete("watch:1")
        var events: [ChangeEvent] = []
        for try await event in stream {
            events.append(event)
            if events.count == 3 { break }
        }
        #expect(events.map(\.type) == [.insert, .update, .delete])
        #expect(events.map(\.key) == ["watch:1", "watch:1", "watch:1"])
        #expect(events[1].previousValue == 1 && events[1].value == 2)
        #expect(zip(events, events.dropFirst()).allSatisfy { $0.sequence < $1.sequence })

        for index in 0..<10 { try await memory.set("k\(index)", .int(Int64(index))) }
        let latest = memory.latestSequence
        #expect(try memory.changes(since: latest - 4).count == 4)
        let compacted = #expect(throws: NeuroplexError.self) { try memory.changes(since: 1) }
        #expect(compacted?.code == .historyCompacted)
        // A watcher can resume from a retained position with no gap.
        var resumed: [UInt64] = []
        for try await event in memory.watch(since: latest - 2) {
            resumed.append(event.sequence)
            if resumed.count == 2 { break }
        }
        #expect(resumed == [latest - 1, latest])
        try await memory.close()
    }

    @Test("a watcher that falls behind its buffer ends with watcher_lagged after what it was given; writers go on")
    func laggingWatcher() async throws {
        let memory = try await open { $0.watcherBuffer = 5 }
        let stream = memory.watch()
        for index in 0..<20 { try await memory.set("k\(index)", .int(Int64(index))) }
        var received = 0
        let error = await #expect(throws: NeuroplexError.self) {
            for try await _ in stream { received += 1 }
        }
        #expect(error?.code == .watcherLagged)
        #expect(received == 5)
        #expect(memory.count == 20)
        try await memory.close()
    }

    @Test("acknowledged writes survive a crash (no close), across snapshots, and a torn log tail is ignored")
    func durability() async throws {
        let directory = makeTemporaryDirectory()
        let clock = ManualWallClock()
        do {
            let memory = try await open(directory, clock: clock) { $0.snapshotAfterLogBytes = 2_000 }
            for index in 0..<200 { try await memory.set("durable:\(index)", ["i": .int(Int64(index))], ttl: 3600) }
            try await memory.delete("durable:7")
            try await memory.increment("counter", by: 3)
            // No close(): the process "dies" here with whatever is on disk.
        }
        // A write torn by the crash: a frame header with no payload.
        let logs = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix("wal-") }
        #expect(!logs.isEmpty)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(names.contains { $0.hasPrefix("snapshot-") })  // the small threshold forced snapshots
        let newest = try #require(logs.max { UInt64($0.dropFirst(4).dropLast(4))! < UInt64($1.dropFirst(4).dropLast(4))! })
        let handle = try #require(FileHandle(forWritingAtPath: (directory as NSString).appendingPathComponent(newest)))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([200, 0, 0, 0, 1, 2, 3, 4, 9]))
        try handle.close()

        // A real crash releases the directory lock with the process; here the "dead" engine releases it when its
        // last reference (its log's flush thread may hold one a moment longer) goes: reopen once it has.
        var attempt: Memory?
        let deadline = ContinuousClock.now + .seconds(10)
        while attempt == nil {
            do {
                attempt = try await open(directory, clock: clock)
            } catch let error as NeuroplexError where error.code == .unavailable && ContinuousClock.now < deadline {
                await Task.yield()
            }
        }
        let reopened = try #require(attempt)
        #expect(reopened.count == 200)  // 199 durable keys + counter
        #expect(reopened.get("durable:7") == nil)
        #expect(reopened.get("durable:199")?.value == ["i": 199])
        #expect(reopened.get("durable:5")?.expiresAt != nil)
        #expect(reopened.get("counter")?.value == 3)
        let sequence = reopened.latestSequence
        try await reopened.set("after", 1)
        #expect(try #require(reopened.get("after")).version == sequence + 1)  // sequence numbers continue
        try await reopened.close()

        let third = try await open(directory, clock: clock)
        #expect(third.count == 201 && third.get("after") != nil)
        try await third.close()
    }

    @Test("globs: *, ?, sets, ranges, negation and escapes")
    func globs() {
        #expect(GlobPattern("user:*").matches("user:1") && !GlobPattern("user:*").matches("users:1"))
        #expect(GlobPattern("h?llo").matches("hällo") && !GlobPattern("h?llo").matches("hllo"))
        #expect(GlobPattern("h[ae]llo").matches("hello") && !GlobPattern("h[ae]llo").matches("hillo"))
        #expect(GlobPattern("h[^e]llo").matches("hallo") && !GlobPattern("h[^e]llo").matches("hello"))
        #expect(GlobPattern("k[0-9]").matches("k7") && !GlobPattern("k[0-9]").matches("kx"))
        #expect(GlobPattern("a\\*b").matches("a*b") && !GlobPattern("a\\*b").matches("axb"))
        #expect(GlobPattern("*a*b*").matches("xxaxxbxx") && !GlobPattern("*a*b*").matches("xxbxxa"))
        #expect(GlobPattern("*").matches("") && GlobPattern.all.matches("anything"))
    }
}
