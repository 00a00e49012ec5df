import Foundation
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexClient
import NeuroplexStorage
import NeuroplexTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite("Swift SDK: memory against a live server", .timeLimit(.minutes(3)))
struct ClientMemoryTests {
    /// Runs `body` with an SDK client of a fresh live server, its URL and its admin key.
    ///
    /// Errors are recorded rather than thrown out of `app.test`, so that the server still shuts down in order. Then
    /// `pokeKeys` are written and `pokeChannels` published to until the server holds no watcher or subscriber: the
    /// server notices that a stream's client has gone only when it next writes to it, and a stream it still holds
    /// would keep the test server's graceful shutdown waiting.
    func withServer(
        pokeKeys: [String] = [], pokeChannels: [String] = [],
        _ body: @Sendable (NeuroplexClient, URL, String) async throws -> Void
    ) async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let base = URL(string: "http://127.0.0.1:\(client.port!)")!
            let sdk = NeuroplexClient(baseURL: base, apiKey: admin)
            do {
                try await body(sdk, base, admin)
            } catch {
                Issue.record(error)
            }
            guard !pokeKeys.isEmpty || !pokeChannels.isEmpty else { return }
            do {
                let deadline = ContinuousClock.now + .seconds(15)
                while true {
                    let stats = try await sdk.stats()
                    if stats.watchers == 0 && stats.subscribers == 0 { break }
                    guard ContinuousClock.now < deadline else {
                        Issue.record("the server still holds \(stats.watchers) watchers, \(stats.subscribers) subscribers")
                        break
                    }
                    for key in pokeKeys { try await sdk.set(key, "poke") }
                    for channel in pokeChannels { try await sdk.publish(event: channel) }
                    try await Task.sleep(for: .milliseconds(20))
                }
            } catch {
                Issue.record(error)
            }
        }
    }

    struct User: Codable, Equatable {
        var name: String
        var age: Int
        var joined: Date
    }

    @Test("values round-trip as JSON and as Codable types, with versions, TTLs, exists and delete")
    func keyValue() async throws {
        try await withServer { sdk, _, _ in
            let value: JSON = ["name": "Alice", "age": 30, "ratio": 0.25, "tags": ["a", "b"], "nested": ["ok": true], "none": nil]
            let written = try await sdk.set("user:1", value)
            #expect(try await sdk.get("user:1") == value)
            let entry = try #require(try await sdk.entry("user:1"))
            #expect(entry.version == written.version && entry.expiresAt == nil)
            #expect(try await sdk.get("user:1")?["tags"]?[1]?.stringValue == "b")

            let joined = Date(timeIntervalSince1970: 1_700_000_000.123)
            let alice = User(name: "Alice", age: 30, joined: joined)
            try await sdk.set("user:2", alice, ttl: .seconds(60))
            #expect(try await sdk.get("user:2", as: User.self) == alice)
            #expect(try await sdk.entry("user:2")?.expiresAt.map { $0 > Date() } == true)
            try await sdk.set("greeting", "hello")
            try await sdk.set("mixed", ["name": "Ann", "age": 3, "admin": false])   // a heterogeneous literal is JSON
            #expect(try await sdk.get("mixed")?["age"] == 3)
            #expect(try await sdk.get("greeting", as: String.self) == "hello")

            #expect(try await sdk.exists("user:1"))
            #expect(try await sdk.exists("nope") == false)
            #expect(try await sdk.get("nope") == nil)
            #expect(try await sdk.delete("user:1"))
            #expect(try await sdk.delete("user:1") == false)
            #expect(try await sdk.exists("user:1") == false)

            #expect(try await sdk.increment("visits") == 1)
            #expect(try await sdk.increment("visits", by: 10) == 11)
            #expect(try await sdk.decrement("visits", by: 2) == 9)
            #expect(try await sdk.increment("score", by: 0.5) == 0.5)
            #expect(try await sdk.compareAndSwap("leader", expected: nil, newValue: "node-1"))
            #expect(try await sdk.compareAndSwap("leader", expected: "node-2", newValue: "node-3") == false)
            #expect(try await sdk.compareAndSwap("leader", expected: "node-1", newValue: "node-2"))
            #expect(try await sdk.get("leader") == "node-2")

            let versions = try await sdk.multiSet(["m:1": 1, "m:2": 2, "m:3": 3])
            #expect(versions.keys.sorted() == ["m:1", "m:2", "m:3"])
            #expect(try await sdk.multiGet(["m:1", "m:3", "m:9"], as: Int.self) == ["m:1": 1, "m:3": 3])
            #expect(try await sdk.multiDelete(["m:1", "m:9"]) == ["m:1": true, "m:9": false])

            let batch = try await sdk.executeBatch(
                [.set("b:1", ["name": "Bo"]), .increment("b:1"), .get("b:1"), .exists("b:9")], continueOnError: true)
            #expect(!batch.success && batch.failedOperations == 1)
            #expect(batch.errors.map(\.code) == ["wrong_type"] && batch.errors.first?.index == 1)
            #expect(batch.results[0]?["version"]?.intValue != nil)
            #expect(batch.results[1] == nil && batch.results[2] == ["name": "Bo"] && batch.results[3] == ["exists": false])
            let stopped = try await sdk.executeBatch([.increment("b:1"), .set("b:2", 2)])
            #expect(stopped.results == [nil, nil])
            #expect(try await sdk.exists("b:2") == false, "skipped after the failure")

            let refused = try await sdk.atomic(if: [.absent("b:1")], then: [.set("b:3", 3)])
            #expect(!refused.succeeded)
            #expect(try await sdk.exists("b:3") == false)
            let applied = try await sdk.atomic(if: [.exists("b:1"), .value("leader", equals: "node-2")], then: [.set("b:3", 3), .get("b:3")])
            #expect(applied.succeeded && applied.results.last == 3)
        }
    }

    @Test("a failed condition is a typed 412 and a wrong type a typed 409; nothing changes")
    func typedErrors() async throws {
        try await withServer { sdk, _, _ in
            let first = try await sdk.set("doc", ["v": 1])
            await #expect {
                try await sdk.set("doc", ["v": 2], ifVersion: first.version + 100)
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 412 && $0.code == "precondition_failed" } ?? false }
            await #expect {
                try await sdk.set("doc", ["v": 3], ifAbsent: true)
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 412 && $0.code == "precondition_failed" } ?? false }
            #expect(try await sdk.get("doc") == ["v": 1])
            try await sdk.set("doc", ["v": 4], ifVersion: first.version)
            #expect(try await sdk.get("doc") == ["v": 4])

            await #expect {
                try await sdk.increment("doc")
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 409 && $0.code == "wrong_type" } ?? false }
            try await sdk.counter("hits").create()
            await #expect {
                try await sdk.set("hits").add("x")
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 409 && $0.code == "wrong_type" } ?? false }
            #expect(try await sdk.get("doc") == ["v": 4])
        }
    }

    @Test("bulk insert, update and delete report counts; migrate copies and moves a prefix")
    func bulkAndMigrate() async throws {
        try await withServer { sdk, _, _ in
            let inserted = try await sdk.bulkInsert(["cfg:a": 1, "cfg:b": ["on": true]], batchSize: 1)
            #expect(inserted.inserted == 2 && inserted.success)
            let updated = try await sdk.bulkUpdate(["cfg:a": 2, "cfg:missing": 3])
            #expect(updated.updated == 1 && updated.errors.map(\.key) == ["cfg:missing"] && !updated.success)
            let copied = try await sdk.migrate(from: "cfg:", to: "settings:")
            #expect(copied.migrated == 2 && copied.skipped == 0 && copied.removed == 0)
            #expect(try await sdk.get("settings:a") == 2)
            let moved = try await sdk.migrate(from: "cfg:", to: "old:", move: true)
            #expect(moved.removed == 2)
            #expect(try await sdk.exists("cfg:a") == false)
            #expect(try await sdk.bulkDelete(["old:a", "old:b", "nope"]).deleted == 2)
            await #expect {
                try await sdk.migrate(from: "a:", to: "a:b:")
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 422 && $0.code == "validation_failed" } ?? false }
        }
    }

    @Test("session consistency: the client keeps the latest causal token and, unless eventual, sends it back")
    func causalSession() async throws {
        try await withServer { _, base, admin in
            let causal = NeuroplexClient(nodes: [base], apiKey: admin, consistency: .causal)
            let eventual = NeuroplexClient(nodes: [base], apiKey: admin, consistency: .eventual)
            #expect(causal.sessionToken == nil)
            let first = try await causal.set("a", 1)
            #expect(causal.sessionToken == "c1:\(first.version)")
            let second = try await eventual.set("b", 2)
            #expect(eventual.sessionToken == "c1:\(second.version)")
            // A read that sends a token is answered with the node's current one: the session moves forward.
            _ = try await causal.get("a")
            #expect(causal.sessionToken == "c1:\(second.version)")
            // An eventual client sends none, so its reads are not held back and learn nothing.
            _ = try await causal.set("c", 3)
            _ = try await eventual.get("a")
            #expect(eventual.sessionToken == "c1:\(second.version)")
        }
    }

    @Test("scan pages lazily: one request per page, only as far as the loop goes")
    func scanPagesLazily() async throws {
        try await withServer { sdk, _, _ in
            _ = try await sdk.multiSet(Dictionary(uniqueKeysWithValues: (1...5).map { ("s:\($0)", $0) }))
            try await sdk.set("other", 0)
            let scans = { try await sdk.stats().operations.first { $0.operation == "scan" }?.count ?? 0 }

            let before = try await scans()
            let sequence = sdk.scan(pattern: "s:*", pageSize: 2)
            #expect(try await scans() == before, "making the sequence sends nothing")
            let all = try await Array(sequence)
            #expect(all.map(\.key) == ["s:1", "s:2", "s:3", "s:4", "s:5"])
            #expect(all.map(\.value) == [1, 2, 3, 4, 5])
            #expect(try await scans() == before + 3, "five entries in pages of two are three requests")

            let firstThree = try await Array(sequence.prefix(3))
            #expect(firstThree.map(\.key) == ["s:1", "s:2", "s:3"])
            #expect(try await scans() == before + 5, "three entries need two pages, not three")
        }
    }

    struct Abort: Error {}

    @Test("a transaction commits when its closure returns and rolls back when it throws")
    func transactions() async throws {
        try await withServer { sdk, _, _ in
            try await sdk.set("account:1", 100)
            try await sdk.set("account:2", 0)
            await #expect(throws: Abort.self) {
                try await sdk.transaction { tx in
                    let balance = try await tx.get("account:1", as: Int.self) ?? 0
                    try await tx.set("account:1", balance - 100)
                    #expect(try await tx.get("account:1", as: Int.self) == 0, "the transaction sees its own write")
                    throw Abort()
                }
            }
            #expect(try await sdk.get("account:1") == 100, "rolled back: the value is unchanged")
            #expect(try await sdk.stats().openTransactions == 0)

            let moved = try await sdk.transaction(isolation: .serializable) { tx in
                let balance = try await tx.get("account:1", as: Int.self) ?? 0
                try await tx.set("account:1", balance - 40)
                try await tx.set("account:2", (try await tx.get("account:2", as: Int.self) ?? 0) + 40)
                try await tx.delete("nothing")
                #expect(try await tx.get("missing") == nil)
                return 40
            }
            #expect(moved == 40)
            #expect(try await sdk.multiGet(["account:1", "account:2"]) == ["account:1": 60, "account:2": 40])
        }
    }

    @Test("watch yields changes in order, from the moment it returns; iterating again resumes after the last one")
    func watchInOrder() async throws {
        try await withServer(pokeKeys: ["w:poke"]) { sdk, _, _ in
            let changes = try await sdk.watch(pattern: "w:*")
            try await sdk.set("w:1", 1)
            try await sdk.set("elsewhere", 1)
            try await sdk.set("w:1", 2)
            try await sdk.delete("w:1")
            let events = try await first(3, of: changes)
            #expect(events.map(\.kind) == [.insert, .update, .delete])
            #expect(events.map(\.key) == ["w:1", "w:1", "w:1"])
            #expect(events.map(\.value) == [1, 2, nil])
            #expect(events.map(\.previousValue) == [nil, 1, 2])
            #expect(events.map(\.sequence) == events.map(\.sequence).sorted() && Set(events.map(\.sequence)).count == 3)

            // The loop above closed its connection. Written while nobody listens, then read on the next iteration.
            try await sdk.set("w:2", "while away")
            let resumed = try await first(1, of: changes)
            #expect(resumed.map(\.key) == ["w:2"] && resumed.first?.value == "while away")

            let history = try await first(2, of: try await sdk.changes(since: events[0].sequence))
            #expect(history.map(\.key) == ["elsewhere", "w:1"])
        }
    }

    @Test("reactive operators over a watch: filter + chunks (buffer), debounce, merge with a channel")
    func reactiveOperators() async throws {
        try await withServer(pokeKeys: ["rx:poke", "burst", "m:poke"], pokeChannels: ["alerts"]) { sdk, _, _ in
            let evens = try await sdk.watch(pattern: "rx:*")
                .filter { ($0.value?.intValue ?? 1) % 2 == 0 }
                .map(\.key)
                .chunks(ofCount: 2)
            for number in 1...6 { try await sdk.set("rx:\(number)", number) }
            #expect(try await first(1, of: evens) == [["rx:2", "rx:4"]])

            // A burst written in one batch settles to its last change.
            let settled = try await sdk.watch(pattern: "burst").debounce(for: .milliseconds(300))
            _ = try await sdk.executeBatch([.set("burst", 1), .set("burst", 2), .set("burst", 3)])
            #expect(try await first(1, of: settled).map(\.value) == [3])

            // Changes and channel events in one loop.
            let both = merge(
                try await sdk.watch(pattern: "m:*").map { "change \($0.key)" },
                try await sdk.channel("alerts").messages().map { "event \($0.channel) \($0.data)" })
            try await sdk.set("m:1", 1)
            #expect(try await sdk.channel("alerts").send(["disk": "full"]) == 1)
            #expect(Set(try await first(2, of: both)) == ["change m:1", #"event alerts {"disk":"full"}"#])
        }
    }

    @Test("retry re-subscribes after a failure, up to its attempts")
    func retryResubscribes() async throws {
        let flaky = FailsOnFirstPass()
        #expect(try await Array(flaky.retry(1)) == [11, 21, 22])
        await #expect(throws: Boom.self) { try await Array(FailsOnFirstPass().retry(0)) }
    }

    @Test("failover: an unreachable node is skipped and the working one remembered; only dead nodes is unreachable")
    func failover() async throws {
        let dead1 = try closedPort()
        let dead2 = try closedPort()
        try await withServer(pokeKeys: ["failover"]) { _, live, admin in
            let deadURL = URL(string: "http://127.0.0.1:\(dead1)")!
            let client = NeuroplexClient(nodes: [deadURL, live], apiKey: admin, timeout: .seconds(5))
            try await client.set("failover", "ok")
            #expect(try await client.get("failover") == "ok")
            #expect(client.currentNode == live, "the node that answered is remembered")
            let changes = try await NeuroplexClient(nodes: [deadURL, live], apiKey: admin).watch(pattern: "failover")
            try await client.set("failover", "again")
            #expect(try await first(1, of: changes).map(\.value) == ["again"])

            let lost = NeuroplexClient(
                nodes: [deadURL, URL(string: "http://127.0.0.1:\(dead2)")!], apiKey: admin, timeout: .seconds(5))
            await #expect {
                try await lost.get("failover")
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 0 && $0.code == "unreachable" } ?? false }
            await #expect {
                try await lost.increment("failover-count")
            } throws: { ($0 as? NeuroplexClientError).map { $0.status == 0 && $0.code == "unreachable" } ?? false }
        }
    }

    @Test("CRDT namespaces end to end: counter, set, map, text, graph; consistency and stats")
    func namespaces() async throws {
        try await withServer { sdk, _, _ in
            let views = sdk.counter("views")
            #expect(try await views.create(initial: 5) == 5)
            #expect(try await views.increment() == 6)
            #expect(try await views.increment(by: 10) == 16)
            #expect(try await views.decrement(by: 4) == 12)
            #expect(try await views.increment(by: -2) == 10)
            #expect(try await views.value() == 10)
            #expect(try await views.reset() == 0)
            await #expect {
                try await views.create()
            } throws: { ($0 as? NeuroplexClientError)?.code == "already_exists" }
            #expect(try await views.delete())

            let tags = sdk.set("tags", of: String.self)
            #expect(try await tags.create(["tech", "ai"]).sorted() == ["ai", "tech"])
            try await tags.add("ml")
            #expect(try await tags.contains("ml"))
            try await tags.remove("tech")
            #expect(try await tags.contains("tech") == false)
            #expect(try await tags.members().sorted() == ["ai", "ml"])
            #expect(try await tags.count() == 2)
            #expect(try await tags.clear().isEmpty)
            #expect(try await tags.delete())

            let prefs = sdk.map("prefs")
            #expect(try await prefs.create(["theme": "light"]) == ["theme": "light"])
            try await prefs.put("theme", "dark")
            try await prefs.put("size", 12)
            #expect(try await prefs.get("theme") == "dark")
            #expect(try await prefs.get("missing") == nil)
            #expect(try await prefs.keys() == ["size", "theme"])
            #expect(try await prefs.remove("size"))
            #expect(try await prefs.entries() == ["theme": "dark"])
            #expect(try await sdk.map("prefs", of: String.self).values() == ["dark"])

            let doc = sdk.text("doc")
            #expect(try await doc.create("Hello") == "Hello")
            #expect(try await doc.insert(", world", at: 5) == "Hello, world")
            #expect(try await doc.delete(at: 0, length: 7) == "world")
            #expect(try await doc.text() == "world")
            #expect(try await doc.length() == 5)
            await #expect {
                try await doc.insert("!", at: 99)
            } throws: { ($0 as? NeuroplexClientError)?.code == "position_out_of_range" }

            let social = sdk.graph("social")
            try await social.create()
            try await social.addVertex("alice", data: ["name": "Alice"])
            try await social.addVertex("bob")
            try await social.addEdge(from: "alice", to: "bob", data: ["since": 2024])
            #expect(try await social.neighbors(of: "alice") == ["bob"])
            #expect(try await social.neighbors(of: "bob", direction: .incoming) == ["alice"])
            #expect(try await social.vertex("alice") == ["name": "Alice"])
            #expect(try await social.edge(from: "alice", to: "bob") == ["since": 2024])
            #expect(try await social.edge(from: "bob", to: "alice") == nil)
            #expect(try await social.removeVertex("bob"))
            let snapshot = try await social.snapshot()
            #expect(snapshot.vertices.keys.sorted() == ["alice"] && snapshot.edges.isEmpty)

            let settings = try await sdk.setConsistency(default: .eventual, keys: ["account:*": .strong])
            #expect(settings.defaultLevel == .eventual && settings.keyLevels == ["account:*": .strong])
            #expect(try await sdk.setConsistency(keys: ["account:*": nil]).keyLevels.isEmpty)
            #expect(try await sdk.causalToken().hasPrefix("c1:"))
            #expect(try await sdk.conflicts().isEmpty)

            let backup = try await sdk.exportNDJSON(pattern: "doc")
            #expect(String(decoding: backup, as: UTF8.self).contains(#""key":"doc""#))
            #expect(try await sdk.importNDJSON(backup).skipped == 1)
            #expect(try await sdk.stats().keys >= 3)
        }
    }
}

// MARK: Helpers

struct TimedOut: Error, CustomStringConvertible {
    var description: String
}

/// The first `count` elements of a stream, failing clearly when they do not all arrive within `limit`.
func first<S: AsyncSequence & Sendable>(_ count: Int, of sequence: S, within limit: Duration = .seconds(15))
    async throws -> [S.Element] where S.Element: Sendable
{
    try await withThrowingTaskGroup(of: [S.Element]?.self) { group in
        group.addTask {
            var collected: [S.Element] = []
            for try await element in sequence {
                collected.append(element)
                if collected.count == count { break }
            }
            return collected
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let collected = try await group.next() ?? nil else {
            throw TimedOut(description: "fewer than \(count) elements arrived within \(limit)")
        }
        return collected
    }
}

/// A TCP port on 127.0.0.1 that nothing listens on: bound, read, closed.
func closedPort() throws -> Int {
    #if canImport(Glibc)
    let stream = Int32(SOCK_STREAM.rawValue)
    #else
    let stream = SOCK_STREAM
    #endif
    let descriptor = socket(AF_INET, stream, 0)
    guard descriptor >= 0 else { throw TimedOut(description: "socket() failed") }
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(descriptor, pointer, length) == 0 && getsockname(descriptor, pointer, &length) == 0
        }
    }
    guard bound else { throw TimedOut(description: "bind() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}

struct Boom: Error {}

/// A sequence whose first iteration yields 11 then fails; later iterations yield n1, n2 and end.
struct FailsOnFirstPass: AsyncSequence, Sendable {
    final class Passes: Sendable { let count = Atomic<Int>(0) }
    let passes = Passes()

    func makeAsyncIterator() -> AsyncThrowingStream<Int, any Error>.Iterator {
        let pass = passes.count.add(1, ordering: .relaxed).newValue
        return AsyncThrowingStream<Int, any Error> { continuation in
            continuation.yield(pass * 10 + 1)
            if pass == 1 {
                continuation.finish(throwing: Boom())
            } else {
                continuation.yield(pass * 10 + 2)
                continuation.finish()
            }
        }.makeAsyncIterator()
    }
}
