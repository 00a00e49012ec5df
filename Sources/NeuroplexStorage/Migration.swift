import Foundation
public import Logging
import NeuroplexCore
public import SQLKit

/// One step of schema change, identified by a unique, never-reused id such as `gateway-0001-api-keys`.
///
/// Each engine contributes its own list; ``Database/migrate(_:logger:)`` applies those not yet applied, in order,
/// each in its own transaction, and records them in `neuroplex_migrations`. Write steps with SQLKit's builders so
/// they run on both SQLite and PostgreSQL.
public struct Migration: Sendable {
    public var id: String
    public var apply: @Sendable (any SQLDatabase) async throws -> Void

    public init(_ id: String, apply: @escaping @Sendable (any SQLDatabase) async throws -> Void) {
        self.id = id
        self.apply = apply
    }
}

extension Database {
    /// Applies the migrations that have not been applied yet, in the given order. Running it again does nothing.
    ///
    /// On PostgreSQL, several nodes may start at once: an advisory lock makes them take turns, and each re-reads
    /// what is applied once it holds the lock.
    /// - Returns: the ids applied by this call.
    @discardableResult
    public func migrate(_ migrations: [Migration], logger: Logger) async throws -> [String] {
        let ids = migrations.map(\.id)
        precondition(Set(ids).count == ids.count, "migration ids must be unique")
        return try await sql.withSession { session in
            let postgres = self.engine == .postgres
            // 0x4E504C58 is "NPLX": one lock for every node's migrator, taken before anything is created.
            if postgres { try await session.raw("SELECT pg_advisory_lock(1313885272)").run() }
            do {
                try await session.create(table: "neuroplex_migrations")
                    .ifNotExists()
                    .column("id", type: .text, .primaryKey(autoIncrement: false))
                    .column("applied_at", type: .text, .notNull)
                    .run()
                let applied = Set(
                    try await session.select().column("id").from("neuroplex_migrations").all()
                        .map { try $0.decode(column: "id", as: String.self) })
                var done: [String] = []
                for migration in migrations where !applied.contains(migration.id) {
                    try await session.raw("BEGIN").run()
                    do {
                        try await migration.apply(session)
                        try await session.insert(into: "neuroplex_migrations")
                            .columns("id", "applied_at")
                            .values(SQLBind(migration.id), SQLBind(Timestamp.string(Date())))
                            .run()
                        try await session.raw("COMMIT").run()
                    } catch {
                        try? await session.raw("ROLLBACK").run()
                        throw error
                    }
                    logger.info("migration applied", metadata: ["migration.id": "\(migration.id)"])
                    done.append(migration.id)
                }
                if postgres { try await session.raw("SELECT pg_advisory_unlock(1313885272)").run() }
                return done
            } catch {
                if postgres { try? await session.raw("SELECT pg_advisory_unlock(1313885272)").run() }
                throw error
            }
        }
    }
}
