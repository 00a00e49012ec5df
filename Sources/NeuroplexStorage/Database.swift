import Foundation
public import Logging
import NIOCore
import NIOPosix
import NeuroplexCore
import PostgresKit
public import SQLKit
import SQLiteKit
import Synchronization

/// The platform's SQL database: embedded SQLite by default, PostgreSQL when a `postgres://` URL is configured.
///
/// Every engine talks to it through ``sql`` with SQLKit's builders, so one code path serves both.
///
/// ```swift
/// let database = try await Database.open(.init(dataDirectory: "./neuroplex-data"), logger: logger)
/// try await database.migrate(GatewayMigrations.all)
/// let rows = try await database.sql.select().column("*").from("api_keys").all()
/// ```
public final class Database: Sendable {
    /// Which engine is behind ``sql``.
    public enum Engine: String, Sendable {
        case sqlite
        case postgres
    }

    /// Where the database is.
    public struct Configuration: Sendable {
        /// The data directory; the SQLite file is `neuroplex.sqlite` in it.
        public var dataDirectory: String
        /// A `postgres://user:password@host:port/database` URL; `nil` for embedded SQLite.
        public var url: String?
        /// Connections per event loop to PostgreSQL (default 4).
        public var postgresConnectionsPerEventLoop: Int

        public init(dataDirectory: String, url: String? = nil, postgresConnectionsPerEventLoop: Int = 4) {
            self.dataDirectory = dataDirectory
            self.url = url
            self.postgresConnectionsPerEventLoop = postgresConnectionsPerEventLoop
        }

        /// The SQLite file's path.
        public var sqlitePath: String { (dataDirectory as NSString).appendingPathComponent("neuroplex.sqlite") }
    }

    private enum Backend: Sendable {
        case sqlite(SQLiteConnection)
        case postgres(PostgresPool)
    }

    /// AsyncKit's pool guards its state with a lock and is safe to share between threads; it predates `Sendable`
    /// annotations, hence the unchecked conformance.
    private struct PostgresPool: @unchecked Sendable {
        let pool: EventLoopGroupConnectionPool<PostgresConnectionSource>
    }

    /// The engine in use.
    public let engine: Engine
    /// The database, for SQLKit's query builders.
    public let sql: any SQLDatabase
    private let backend: Backend
    private let logger: Logger
    /// The SQLite file (empty for PostgreSQL).
    private let sqlitePath: String
    /// SQLite: connections kept open between transactions (see `transactionConnection`), and whether the database
    /// is closing (then none is kept). One lock for both, so that no connection is kept after `close()` drained them.
    private let idle = Mutex<(connections: [SQLiteConnection], closing: Bool)>(([], false))

    private init(engine: Engine, sql: any SQLDatabase, backend: Backend, logger: Logger, sqlitePath: String = "") {
        self.engine = engine
        self.sql = sql
        self.backend = backend
        self.logger = logger
        self.sqlitePath = sqlitePath
    }

    /// The threads that run every SQLite call of the process (SQLiteNIO's calls block a thread each). Not NIO's
    /// shared blocking pool, which has one thread per core: a statement of the shared connection that waits out
    /// another connection's write lock (`busy_timeout`) holds its thread meanwhile, and with two cores two such
    /// waits left no thread for the lock's holder to commit on, stalling every database of the process for the
    /// whole timeout. Started once and kept for the life of the process, like NIO's own singletons.
    private static let sqliteThreads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 16)
        pool.start()
        return pool
    }()

    /// Opens (and for SQLite, creates) the database.
    /// - Throws: ``NeuroplexError`` `unavailable` when the database cannot be reached or opened, and
    ///   `validation_failed` for a URL that is not `postgres://` or `postgresql://`.
    public static func open(_ configuration: Configuration, logger: Logger) async throws -> Database {
        if let url = configuration.url, !url.isEmpty {
            return try await openPostgres(url: url, configuration: configuration, logger: logger)
        }
        try FileManager.default.createDirectory(
            atPath: configuration.dataDirectory, withIntermediateDirectories: true)
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: configuration.sqlitePath), threadPool: sqliteThreads, logger: logger,
                on: MultiThreadedEventLoopGroup.singleton.any()).get()
        } catch {
            throw NeuroplexError(
                .unavailable, code: .unavailable,
                "cannot open the SQLite database at \(configuration.sqlitePath): \(error)")
        }
        let sql = connection.sql(queryLogLevel: .trace)
        // WAL lets readers run beside the writer; FULL syncs the WAL on every commit, so an acknowledged
        // write survives a crash of the process or the machine.
        for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                       "PRAGMA busy_timeout=5000"] {
            try await sql.raw(SQLQueryString(pragma)).run()
        }
        logger.info("database opened", metadata: ["db.engine": "sqlite", "db.path": "\(configuration.sqlitePath)"])
        return Database(
            engine: .sqlite, sql: sql, backend: .sqlite(connection), logger: logger,
            sqlitePath: configuration.sqlitePath)
    }

    private static func openPostgres(url: String, configuration: Configuration, logger: Logger) async throws
        -> Database
    {
        guard url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") else {
            throw NeuroplexError.invalid("databaseUrl", "the database URL must start with postgres:// or postgresql://")
        }
        let sqlConfiguration: SQLPostgresConfiguration
        do {
            sqlConfiguration = try SQLPostgresConfiguration(url: url)
        } catch {
            throw NeuroplexError.invalid("databaseUrl", "the database URL is not a valid PostgreSQL URL")
        }
        let pool = EventLoopGroupConnectionPool(
            source: PostgresConnectionSource(sqlConfiguration: sqlConfiguration),
            maxConnectionsPerEventLoop: configuration.postgresConnectionsPerEventLoop,
            logger: logger,
            on: MultiThreadedEventLoopGroup.singleton)
        let sql = pool.database(logger: logger).sql(queryLogLevel: .trace)
        let database = Database(engine: .postgres, sql: sql, backend: .postgres(PostgresPool(pool: pool)), logger: logger)
        do {
            try await database.ping()
        } catch {
            try? await pool.shutdownAsync()
            // The URL may hold a password: name only the host.
            throw NeuroplexError(
                .unavailable, code: .unavailable,
                "cannot reach PostgreSQL at \(sqlConfiguration.coreConfiguration.host ?? "?"): \(String(reflecting: error).prefix(300))")
        }
        logger.info("database opened", metadata: ["db.engine": "postgres"])
        return database
    }

    /// A trivial round trip, for readiness checks.
    public func ping() async throws {
        _ = try await sql.raw("SELECT 1 AS one").first()
    }

    /// Runs `body` inside one transaction on one connection: committed when it returns, rolled back when it throws.
    ///
    /// On PostgreSQL the transaction holds one pooled connection. SQLite's shared connection serves every other
    /// request too, so there the transaction gets a connection of its own (`BEGIN IMMEDIATE` takes the write lock;
    /// other transactions wait for it, asleep, up to 5 s), and nothing else can slip into it. The connection is
    /// closed even when the task is cancelled.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> T) async throws
        -> T
    {
        switch backend {
        case .postgres:
            return try await sql.withSession { session in
                try await Self.inTransaction(session, begin: "BEGIN", body)
            }
        case .sqlite:
            let connection = try await transactionConnection()
            do {
                let session = connection.sql(queryLogLevel: .trace)
                try await Self.beginImmediate(session)
                let result = try await Self.inTransaction(session, begin: nil, body)
                try await release(connection)
                return result
            } catch {
                try? await Self.close(connection)
                throw error
            }
        }
    }

    /// An idle transaction connection, or a new one. Opening one costs a file open and, at its first statement, a
    /// read of the schema: a few of them are kept open between transactions.
    private func transactionConnection() async throws -> SQLiteConnection {
        if let kept = idle.withLock({ $0.connections.popLast() }) { return kept }
        let connection = try await SQLiteConnection.open(
            storage: .file(path: sqlitePath), threadPool: Self.sqliteThreads, logger: logger,
            on: MultiThreadedEventLoopGroup.singleton.any()
        ).get()
        do {
            // No busy handler here: it would wait on one of the few threads that run every SQLite call, and with
            // as many transactions waiting as there are threads, the one holding the lock could not run its next
            // statement (a deadlock until the timeout). Waiting for the lock is done in `beginImmediate`, asleep.
            try await connection.sql(queryLogLevel: .trace).raw("PRAGMA busy_timeout=0").run()
        } catch {
            try? await Self.close(connection)
            throw error
        }
        return connection
    }

    /// Keeps a connection whose transaction ended cleanly for the next one, or closes it when enough are kept or
    /// the database is closing.
    private func release(_ connection: SQLiteConnection) async throws {
        let kept = idle.withLock { idle in
            guard idle.connections.count < 4, !idle.closing else { return false }
            idle.connections.append(connection)
            return true
        }
        if !kept { try await Self.close(connection) }
    }

    /// `BEGIN IMMEDIATE`, retried while another connection holds the write lock (SQLite answers `busy`), sleeping
    /// between attempts without holding a thread, for up to 5 s as `busy_timeout` would.
    private static func beginImmediate(_ session: any SQLDatabase) async throws {
        var delay = Duration.milliseconds(1)
        let deadline = ContinuousClock.now + .seconds(5)
        while true {
            do {
                try await session.raw("BEGIN IMMEDIATE").run()
                return
            } catch let error as SQLiteError where error.reason == .busy && ContinuousClock.now < deadline {
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .milliseconds(50))
            }
        }
    }

    /// Closes a transaction's connection even when the task is cancelled (the async `close()` gives up on
    /// cancellation and leaves the connection open, which SQLiteNIO treats as a programming error).
    private static func close(_ connection: SQLiteConnection) async throws {
        let closed: EventLoopFuture<Void> = connection.close()
        try await closed.get()
    }

    private static func inTransaction<T>(
        _ session: any SQLDatabase, begin: String?, _ body: (any SQLDatabase) async throws -> T
    ) async throws -> T {
        if let begin { try await session.raw(SQLQueryString(begin)).run() }
        do {
            let result = try await body(session)
            try await session.raw("COMMIT").run()
            return result
        } catch {
            try? await session.raw("ROLLBACK").run()
            throw error
        }
    }

    /// Closes the connections. The database must not be used afterwards.
    public func close() async {
        switch backend {
        case .sqlite(let connection):
            let kept = idle.withLock { idle in
                idle.closing = true
                defer { idle.connections.removeAll() }
                return idle.connections
            }
            for connection in kept { try? await Self.close(connection) }
            // Through the future, not the async `close()`: a server stopped by cancellation (a failed test, a
            // cancelled service group) still closes its database instead of leaving the connection open.
            try? await Self.close(connection)
        case .postgres(let postgres):
            try? await postgres.pool.shutdownAsync()
        }
        logger.debug("database closed")
    }
}
