import Foundation
import NeuroplexCore
import NeuroplexStorage
import NeuroplexTestSupport
import SQLKit
import Testing

@Suite("Database and migrations", .timeLimit(.minutes(3)))
struct DatabaseTests {
    static let notes = Migration("test-0001-notes") { sql in
        try await sql.create(table: "notes")
            .column("id", type: .text, .primaryKey(autoIncrement: false))
            .column("body", type: .text, .notNull)
            .run()
    }

    @Test("migrations apply once, in order, and survive reopening", arguments: TestEngines.all)
    func migrationsAreIdempotent(engine: Database.Engine) async throws {
        let location = try await makeDatabaseLocation(engine)
        let second = Migration("test-0002-tags") { sql in
            try await sql.alter(table: "notes").column("tag", type: .text).run()
        }
        let database = try await Database.open(location, logger: quietLogger)
        #expect(database.engine == engine)
        #expect(try await database.migrate([Self.notes], logger: quietLogger) == ["test-0001-notes"])
        #expect(try await database.migrate([Self.notes, second], logger: quietLogger) == ["test-0002-tags"])
        await database.close()

        let reopened = try await Database.open(location, logger: quietLogger)
        #expect(try await reopened.migrate([Self.notes, second], logger: quietLogger).isEmpty)
        try await reopened.sql.insert(into: "notes").columns("id", "body", "tag")
            .values(SQLBind("n1"), SQLBind("hello"), SQLBind("t")).run()
        let row = try await reopened.sql.select().column("tag").from("notes").where("id", .equal, "n1").first()
        #expect(try row?.decode(column: "tag", as: String.self) == "t")
        await reopened.close()
    }

    @Test("a failing migration leaves no trace and is retried next time", arguments: TestEngines.all)
    func failingMigrationRollsBack(engine: Database.Engine) async throws {
        struct Boom: Error {}
        let database = try await Database.open(try await makeDatabaseLocation(engine), logger: quietLogger)
        defer { Task { await database.close() } }
        let broken = Migration("test-0001-broken") { sql in
            try await sql.create(table: "half").column("id", type: .text).run()
            throw Boom()
        }
        await #expect(throws: Boom.self) { try await database.migrate([broken], logger: quietLogger) }
        let fixed = Migration("test-0001-broken") { sql in
            try await sql.create(table: "half").column("id", type: .text).run()
        }
        // On PostgreSQL DDL is transactional, so the table is gone and the fixed step runs; SQLite likewise.
        #expect(try await database.migrate([fixed], logger: quietLogger) == ["test-0001-broken"])
    }

    @Test("a transaction commits on return and rolls back on throw", arguments: TestEngines.all)
    func transactions(engine: Database.Engine) async throws {
        struct Abort: Error {}
        let database = try await Database.open(try await makeDatabaseLocation(engine), logger: quietLogger)
        try await database.migrate([Self.notes], logger: quietLogger)
        try await database.transaction { sql in
            try await sql.insert(into: "notes").columns("id", "body").values(SQLBind("kept"), SQLBind("a")).run()
        }
        await #expect(throws: Abort.self) {
            try await database.transaction { sql in
                try await sql.insert(into: "notes").columns("id", "body").values(SQLBind("lost"), SQLBind("b")).run()
                throw Abort()
            }
        }
        let ids = try await database.sql.select().column("id").from("notes").all()
            .map { try $0.decode(column: "id", as: String.self) }
        #expect(ids == ["kept"])
        await database.close()
    }

    @Test("a server stopped by cancellation still closes its SQLite database")
    func closeWhenCancelled() async throws {
        let database = try await Database.open(try await makeDatabaseLocation(.sqlite), logger: quietLogger)
        try await database.ping()
        // A failed test or a cancelled service group closes the platform from a cancelled task. A connection left
        // open there was a crash (SQLiteNIO asserts that a connection is closed before it goes).
        let closing = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await database.close()
        }
        await closing.value
        await #expect(throws: (any Error).self) { try await database.ping() }
    }

    @Test("a URL that is not PostgreSQL is refused with a clear error")
    func badURL() async throws {
        let error = await #expect(throws: NeuroplexError.self) {
            _ = try await Database.open(.init(dataDirectory: makeTemporaryDirectory(), url: "mysql://x"), logger: quietLogger)
        }
        #expect(error?.code == .validationFailed)
        #expect(error?.field == "databaseUrl")
    }

    @Test("an unreachable PostgreSQL is reported as unavailable, without its password")
    func unreachablePostgres() async throws {
        let error = await #expect(throws: NeuroplexError.self) {
            _ = try await Database.open(
                .init(dataDirectory: makeTemporaryDirectory(), url: "postgres://u:s3cret@127.0.0.1:1/db"),
                logger: quietLogger)
        }
        #expect(error?.kind == .unavailable)
        #expect(error?.message.contains("s3cret") == false)
    }
}

@Suite("SQLite transactions", .timeLimit(.minutes(3)))
struct SQLiteTransactionTests {
    @Test("a statement on the shared connection is not caught in another request's rolled-back transaction")
    func isolation() async throws {
        struct Abort: Error {}
        let database = try await Database.open(try await makeDatabaseLocation(.sqlite), logger: quietLogger)
        try await database.migrate([DatabaseTests.notes], logger: quietLogger)
        let (inside, insideContinuation) = AsyncStream<Void>.makeStream()
        let (proceed, proceedContinuation) = AsyncStream<Void>.makeStream()
        let transaction = Task { try await database.transaction { sql in
            try await sql.insert(into: "notes").columns("id", "body").values(SQLBind("tx"), SQLBind("a")).run()
            insideContinuation.yield()
            for await _ in proceed { break }
            throw Abort()
        } }
        for await _ in inside { break }
        // Runs on the shared connection while the transaction is open (it waits for the write lock).
        let outside = Task {
            try await database.sql.insert(into: "notes").columns("id", "body")
                .values(SQLBind("outside"), SQLBind("b")).run()
        }
        proceedContinuation.yield()
        await #expect(throws: Abort.self) { try await transaction.value }
        try await outside.value
        let ids = try await database.sql.select().column("id").from("notes").all()
            .map { try $0.decode(column: "id", as: String.self) }
        #expect(ids == ["outside"])
        await database.close()
    }
}
