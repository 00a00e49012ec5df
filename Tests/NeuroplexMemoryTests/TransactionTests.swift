import Foundation
import NeuroplexCore
import NeuroplexMemory
import NeuroplexTestSupport
import Testing

@Suite("Memory batches and transactions", .timeLimit(.minutes(3)))
struct TransactionTests {
    func open(_ directory: String? = nil) async throws -> Memory {
        try await Memory(configuration: .init(directory: directory), clock: ManualWallClock(), logger: quietLogger)
    }

    @Test("a batch reports each operation; without continueOnError it stops at the first failure")
    func batches() async throws {
        let memory = try await open()
        try await memory.set("user", ["name": "x"])
        let operations: [MemoryOperation] = [
            .set("acct", 100), .increment("acct", by: 5), .increment("user", by: 1), .get("acct"),
        ]
        let all = await memory.executeBatch(operations, continueOnError: true)
        #expect(all.total == 4 && all.successful == 3 && all.failed == 1 && !all.success)
        #expect(all.errors.first?.index == 2 && all.errors.first?.error.code == .wrongType)
        #expect(all.results[3] == 105)
        let stopped = await memory.executeBatch([.delete("acct"), .increment("user", by: 1), .set("later", 1)])
        #expect(stopped.successful == 1 && stopped.failed == 1 && stopped.results[2] == nil)
        #expect(memory.get("later") == nil && memory.get("acct") == nil)
        try await memory.close()
    }

    @Test("serializable: of two transactions that read and write one key, the second to commit loses")
    func serializableConflict() async throws {
        let memory = try await open()
        try await memory.set("acct:a", 100)
        let first = try memory.beginTransaction(isolation: .serializable)
        let second = try memory.beginTransaction(isolation: .serializable)
        let balance = try #require(try memory.transactionGet(first, "acct:a")?.numberValue)
        _ = try memory.transactionGet(second, "acct:a")
        try memory.transactionSet(first, "acct:a", .int(Int64(balance) - 30))
        try memory.transactionSet(second, "acct:a", .int(Int64(balance) - 50))
        #expect(memory.get("acct:a")?.value == 100)  // nothing visible before commit
        try await memory.commit(first)
        let conflict = await #expect(throws: NeuroplexError.self) { try await memory.commit(second) }
        #expect(conflict?.code == .transactionConflict)
        #expect(memory.get("acct:a")?.value == 70)
        // The loser is gone; so is a rolled-back transaction.
        #expect(throws: NeuroplexError.self) { try memory.transactionGet(second, "acct:a") }
        let third = try memory.beginTransaction()
        try memory.transactionSet(third, "acct:a", 0)
        try memory.transactionDelete(third, "other")
        try memory.rollback(third)
        #expect(memory.get("acct:a")?.value == 70)
        try await memory.close()
    }

    @Test("isolation levels: read committed sees new commits, repeatable read does not; read-only refuses writes")
    func isolation() async throws {
        let memory = try await open()
        try await memory.set("k", 1)
        let committed = try memory.beginTransaction(isolation: .readCommitted)
        let repeatable = try memory.beginTransaction(isolation: .repeatableRead)
        #expect(try memory.transactionGet(committed, "k") == 1)
        #expect(try memory.transactionGet(repeatable, "k") == 1)
        try await memory.set("k", 2)
        #expect(try memory.transactionGet(committed, "k") == 2)
        #expect(try memory.transactionGet(repeatable, "k") == 1)
        #expect(try memory.transactionIncrement(committed, "k", by: 10) == 12)
        try await memory.commit(committed)  // read committed: no validation
        #expect(memory.get("k")?.value == 12)
        let readOnly = try memory.beginTransaction(readOnly: true)
        let refused = #expect(throws: NeuroplexError.self) { try memory.transactionSet(readOnly, "k", 0) }
        #expect(refused?.code == .readOnlyTransaction)
        try await memory.close()
    }

    @Test("atomic transactions apply all or nothing, and survive a restart as a whole")
    func atomicTransactions() async throws {
        let directory = makeTemporaryDirectory()
        do {
            let memory = try await open(directory)
            try await memory.set("from", 100)
            let version = try #require(memory.get("from")?.version)
            let moved = try await memory.atomic(
                conditions: [MemoryCondition(key: "from", version: version), MemoryCondition(key: "to", exists: false)],
                operations: [.increment("from", by: -40), .set("to", 40), .get("from")])
            #expect(moved.succeeded && moved.results[2] == 60)
            let refused = try await memory.atomic(
                conditions: [MemoryCondition(key: "from", version: version)], operations: [.set("from", 0)])
            #expect(!refused.succeeded && memory.get("from")?.value == 60)
            // A failing operation (wrong type) stops the whole group.
            await #expect(throws: NeuroplexError.self) {
                try await memory.atomic(conditions: [], operations: [.set("a", 1), .increment("to", by: .string("x"))])
        }
        #expect(memory.get("a") == nil)
        }
        let reopened = try await open(directory)  // the first instance "crashed" without closing
        #expect(reopened.get("from")?.value == 60 && reopened.get("to")?.value == 40)
        try await reopened.close()
    }
}

@Suite("Memory export and import", .timeLimit(.minutes(3)))
struct ExportImportTests {
    @Test("an export imports into another store with versions and expiry kept; importing again changes nothing")
    func roundTrip() async throws {
        let clock = ManualWallClock()
        let source = try await Memory(configuration: .init(), clock: clock, logger: quietLogger)
        try await source.set("other", 1)
        try await source.set("session", "tmp", ttl: 60)
        try await source.set("user:1", ["name": "Alicia"])  // version 3
        let exported = source.export(GlobPattern("[us]*"))
        #expect(exported.map(\.key) == ["session", "user:1"])

        let target = try await Memory(configuration: .init(), clock: clock, logger: quietLogger)
        try await target.set("user:1", "older")  // version 1 here, older than the export's
        #expect(try await target.importEntries(exported) == ImportSummary(imported: 2, skipped: 0))
        #expect(target.get("user:1")?.value == ["name": "Alicia"])
        #expect(target.get("user:1")?.version == source.get("user:1")?.version)
        #expect(target.get("session")?.expiresAt == source.get("session")?.expiresAt)
        #expect(try await target.importEntries(exported) == ImportSummary(imported: 0, skipped: 2))
        // Versions keep growing after an import.
        let next = try await target.set("fresh", 1)
        #expect(try #require(next.version) > exported.map(\.version).max()!)
        // A bad entry is refused before anything is written.
        let bad = [ExportedEntry(key: "a", value: 1, version: 1), ExportedEntry(key: "", value: 1, version: 1)]
        await #expect(throws: NeuroplexError.self) { try await target.importEntries(bad) }
        #expect(target.get("a") == nil)
    }
}

@Suite("Memory channels", .timeLimit(.minutes(3)))
struct EventBusTests {
    @Test("subscribers get messages on their channels and patterns, in order; a slow one is ended, publishers go on")
    func publishSubscribe() async throws {
        var configuration = MemoryConfiguration()
        configuration.watcherBuffer = 3
        let memory = try await Memory(configuration: configuration, clock: ManualWallClock(), logger: quietLogger)
        let news = memory.events.subscribe(channels: ["news"])
        let alerts = memory.events.subscribe(patterns: [GlobPattern("alerts.*")])
        #expect(memory.events.publish("news", "one") == 1)
        #expect(memory.events.publish("alerts.disk", ["level": "high"]) == 1)
        #expect(memory.events.publish("nobody", 1) == 0)
        #expect(memory.events.publish("news", "two") == 1)
        var received: [JSONValue] = []
        for try await message in news.messages {
            received.append(message.data)
            if received.count == 2 { break }
        }
        #expect(received == ["one", "two"])
        // alerts got one message and is never read: it lags past its buffer of 3 and is ended.
        for index in 0..<5 { memory.events.publish("alerts.cpu", .int(Int64(index))) }
        var delivered = 0
        let lagged = await #expect(throws: NeuroplexError.self) {
            for try await _ in alerts.messages { delivered += 1 }
        }
        #expect(lagged?.code == .watcherLagged && delivered == 3)
        try await memory.close()
    }
}
