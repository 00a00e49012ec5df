import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit
import Synchronization

/// API keys: creation, listing, revocation, and the per-request check of a presented key.
///
/// The database holds each key's SHA-256 hash, never the key. Every key is also held in memory, indexed by hash
/// and by id, so that authenticating a request costs a hash and a dictionary lookup instead of a query. Writes go
/// to the database first and then to memory, so what a client was told is durable. With several nodes on one
/// PostgreSQL database, a key this node has not seen is looked up on first use, and ``reload()`` (run
/// periodically by the server) brings in revocations made by other nodes.
public final class KeyStore: Sendable {
    private struct Entry: Sendable {
        var key: APIKey
        var digest: KeyDigest
    }

    private struct Index: Sendable {
        var byID: [String: Entry] = [:]
        var byDigest: [KeyDigest: APIKey] = [:]
        /// Well-formed keys the database did not know when last asked, so that a flood of made-up keys costs a
        /// query each only once per reload. Bounded; emptied by every reload.
        var unknown: Set<KeyDigest> = []
        static let unknownLimit = 10_000

        mutating func noteUnknown(_ digest: KeyDigest) {
            if unknown.count >= Self.unknownLimit { unknown.removeAll(keepingCapacity: true) }
            unknown.insert(digest)
        }

        mutating func put(_ entry: Entry) {
            byID[entry.key.id] = entry
            byDigest[entry.digest] = entry.key
        }

        /// The digests of presented keys that named a stored one: parsing a key and hashing it with SHA-256 was
        /// the largest part of authenticating a request (~2 µs). The digest is a function of the text alone, so an
        /// entry is never stale; only texts that matched a key are kept, and at most `presentedLimit` of them.
        var digestOfPresented: [String: KeyDigest] = [:]
        static let presentedLimit = 4_096

        /// The key a remembered text names.
        func key(presented: String) -> APIKey? { digestOfPresented[presented].flatMap { byDigest[$0] } }

        /// The key `digest` names, remembering `presented` as its text when there is one.
        mutating func key(_ digest: KeyDigest, presented: String) -> APIKey? {
            guard let key = byDigest[digest] else { return nil }
            if digestOfPresented.count >= Self.presentedLimit { digestOfPresented.removeAll(keepingCapacity: true) }
            digestOfPresented[presented] = digest
            return key
        }
    }

    private let database: Database
    private let clock: any WallClock
    private let limiter = RateLimiter()
    private let index = Mutex(Index())
    private let logger: Logger

    /// Opens the store over a migrated database and loads the keys into memory.
    public init(database: Database, clock: any WallClock = SystemWallClock(), logger: Logger) async throws {
        self.database = database
        self.clock = clock
        self.logger = logger
        try await reload()
    }

    /// Re-reads every key from the database (picks up changes made by other nodes).
    public func reload() async throws {
        let rows = try await database.sql.select().column("*").from("api_keys").all()
        var fresh = Index()
        for row in rows { fresh.put(try Self.entry(from: row)) }
        index.withLock { current in
            // A revocation made here after the rows were read must not be undone: revocation is one-way.
            for (id, entry) in current.byID where entry.key.revokedAt != nil && fresh.byID[id]?.key.revokedAt == nil {
                fresh.put(entry)
            }
            fresh.digestOfPresented = current.digestOfPresented
            current = fresh
        }
    }

    /// How many keys exist, revoked ones included.
    public func count() async throws -> Int {
        let row = try await database.sql.select().column(SQLFunction("COUNT", args: SQLLiteral.all), as: "n")
            .from("api_keys").first()
        return try row?.decode(column: "n", as: Int.self) ?? 0
    }

    /// Creates a key. The returned secret is the only copy there will ever be.
    /// - Throws: `validation_failed` naming the field: an empty or over-long name, no scopes or an unknown one,
    ///   an expiry in the past, a rate limit below 1.
    public func create(_ request: NewAPIKey) async throws -> (key: APIKey, secret: APIKeySecret) {
        let now = Timestamp.truncated(clock.now())  // as the database will hold it
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty else { throw NeuroplexError.invalid("name", "name must not be empty") }
        guard name.count <= 200 else { throw NeuroplexError.invalid("name", "name must be at most 200 characters") }
        guard !request.scopes.isEmpty else {
            throw NeuroplexError.invalid("scopes", "scopes must name at least one scope, such as \"admin\"")
        }
        var scopes: [Scope] = []
        for (position, raw) in request.scopes.enumerated() {
            let scope = Scope(rawValue: raw)
            guard Scope.all.contains(scope) else {
                throw NeuroplexError.invalid(
                    "scopes[\(position)]",
                    "unknown scope '\(raw)'; known scopes: \(Scope.all.map(\.rawValue).joined(separator: ", "))")
            }
            if !scopes.contains(scope) { scopes.append(scope) }
        }
        if let expiresAt = request.expiresAt, expiresAt <= now {
            throw NeuroplexError.invalid("expiresAt", "expiresAt must be in the future")
        }
        if let rateLimit = request.rateLimit {
            guard rateLimit.limit >= 1 else {
                throw NeuroplexError.invalid("rateLimit.limit", "rateLimit.limit must be at least 1")
            }
            guard (1...31_622_400).contains(rateLimit.windowSeconds) else {
                throw NeuroplexError.invalid(
                    "rateLimit.windowSeconds", "rateLimit.windowSeconds must be between 1 and 31622400 (366 days)")
            }
        }
        let secret = APIKeySecret.generate()
        let key = APIKey(
            id: Identifier.make(prefix: "key", at: now), name: name, prefix: secret.prefix, scopes: scopes,
            createdAt: now, expiresAt: request.expiresAt, rateLimit: request.rateLimit)
        let entry = Entry(key: key, digest: secret.digest)
        let scopesJSON = String(decoding: try JSONEncoder().encode(scopes.map(\.rawValue)), as: UTF8.self)
        try await database.sql.insert(into: "api_keys")
            .columns(
                "id", "name", "prefix", "secret_hash", "scopes", "created_at", "expires_at", "revoked_at",
                "rate_limit", "rate_window_seconds"
            )
            .values(
                SQLBind(key.id), SQLBind(key.name), SQLBind(key.prefix), SQLBind(entry.digest.hex), SQLBind(scopesJSON),
                SQLBind(Timestamp.string(now)), SQLBind(key.expiresAt.map(Timestamp.string)),
                SQLBind(String?.none), SQLBind(key.rateLimit?.limit), SQLBind(key.rateLimit?.windowSeconds)
            )
            .run()
        index.withLock { $0.put(entry) }
        logger.info(
            "api key created",
            metadata: ["key.id": "\(key.id)", "key.prefix": "\(key.prefix)", "key.scopes": "\(scopes)"])
        return (key, secret)
    }

    /// A page of keys, oldest first (ids sort by creation time).
    public func list(_ page: PageRequest) async throws -> Page<APIKey> {
        var query = database.sql.select().column("*").from("api_keys")
        if let after = page.after { query = query.where("id", .greaterThan, after) }
        let rows = try await query.orderBy("id").limit(page.limit + 1).all()
        let keys = try rows.prefix(page.limit).map { try Self.entry(from: $0).key }
        // One row more than asked tells whether there is a next page without a COUNT.
        let next = rows.count > page.limit ? keys.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: keys, nextCursor: next)
    }

    /// One key by id.
    /// - Throws: `not_found` when there is no such key.
    public func get(id: String) async throws -> APIKey {
        if let key = cached(id: id) { return key }
        let row = try await database.sql.select().column("*").from("api_keys").where("id", .equal, id).first()
        guard let row else { throw NeuroplexError.notFound("API key", id: id) }
        let entry = try Self.entry(from: row)
        index.withLock { $0.put(entry) }
        return entry.key
    }

    /// The key with this id if it is in memory, without suspending: the fast path of ``get(id:)``.
    public func cached(id: String) -> APIKey? {
        index.withLock { $0.byID[id]?.key }
    }

    /// Revokes a key: it stops working at once. Revoking a revoked key changes nothing.
    /// - Throws: `not_found` when there is no such key.
    public func revoke(id: String) async throws {
        var key = try await get(id: id)
        if key.revokedAt != nil { return }
        let now = Timestamp.truncated(clock.now())
        try await database.sql.update("api_keys")
            .set("revoked_at", to: SQLBind(Timestamp.string(now)))
            .where("id", .equal, id)
            .where("revoked_at", .is, SQLLiteral.null)
            .run()
        key.revokedAt = now
        index.withLock { index in
            if var entry = index.byID[id] {
                entry.key = key
                index.put(entry)
            }
        }
        limiter.forget(key: id)
        logger.info("api key revoked", metadata: ["key.id": "\(id)"])
    }

    /// Checks the key a client presented (the value after `Bearer `) and counts the request against its rate limit.
    /// - Returns: the key, when it is valid and under its limit.
    /// - Throws: `unauthenticated`/`invalid_api_key`/`expired_api_key`/`revoked_api_key` (401), or
    ///   `rate_limited` (429) with the seconds to wait.
    public func authenticate(_ presented: String?) async throws -> APIKey {
        switch try authenticateCached(presented) {
        case .authenticated(let key):
            return key
        case .unknown(let digest):
            // Created by another node since our last reload?
            guard
                let row = try await database.sql.select().column("*").from("api_keys")
                    .where("secret_hash", .equal, digest.hex).first()
            else {
                index.withLock { $0.noteUnknown(digest) }
                throw NeuroplexError(.unauthenticated, code: .invalidAPIKey, "the API key is not valid")
            }
            let loaded = try Self.entry(from: row)
            index.withLock { $0.put(loaded) }
            return try check(loaded.key)
        }
    }

    /// What ``authenticateCached(_:)`` found.
    public enum CachedAuthentication: Sendable {
        /// A valid key, in memory.
        case authenticated(APIKey)
        /// A well-formed key this node does not hold in memory: ``authenticate(_:)`` looks it up.
        case unknown(KeyDigest)
    }

    /// Authenticates from memory without suspending: the per-request fast path of ``authenticate(_:)``.
    /// - Throws: `unauthenticated` / `invalid_api_key` / `revoked_api_key` / `expired_api_key`, `rate_limited`.
    public func authenticateCached(_ presented: String?) throws -> CachedAuthentication {
        guard let presented, !presented.isEmpty else {
            throw NeuroplexError(
                .unauthenticated, code: .unauthenticated, "send an API key as 'Authorization: Bearer <key>'")
        }
        if let key = index.withLock({ $0.key(presented: presented) }) {
            return .authenticated(try check(key))
        }
        guard let secret = APIKeySecret(parsing: presented) else {
            throw NeuroplexError(.unauthenticated, code: .invalidAPIKey, "the API key is not valid")
        }
        let digest = secret.digest
        let (key, knownUnknown) = index.withLock { ($0.key(digest, presented: presented), $0.unknown.contains(digest)) }
        guard let key else {
            if knownUnknown {
                throw NeuroplexError(.unauthenticated, code: .invalidAPIKey, "the API key is not valid")
            }
            return .unknown(digest)
        }
        return .authenticated(try check(key))
    }

    /// The cached key `presented` names, if it is one that any request may use as it is — not revoked, without an
    /// expiry and without a rate limit — and `nil` otherwise (unknown, not cached, or needing those checks). It
    /// counts nothing: a caller that gets `nil` hands the request to the path that calls ``authenticate(_:)``.
    public func unrestrictedCachedKey(_ presented: String) -> APIKey? {
        var key = index.withLock { $0.key(presented: presented) }
        if key == nil, let digest = APIKeySecret(parsing: presented)?.digest {
            key = index.withLock { $0.key(digest, presented: presented) }
        }
        guard let key, key.revokedAt == nil, key.expiresAt == nil, key.rateLimit == nil else { return nil }
        return key
    }

    /// Refuses a revoked or expired key, or one over its rate limit (which this call counts against).
    private func check(_ key: APIKey) throws -> APIKey {
        if key.revokedAt != nil {
            throw NeuroplexError(.unauthenticated, code: .revokedAPIKey, "the API key has been revoked")
        }
        if key.expiresAt != nil || key.rateLimit != nil {
            let now = clock.now()
            if key.isExpired(at: now) {
                throw NeuroplexError(.unauthenticated, code: .expiredAPIKey, "the API key has expired")
            }
            if let rateLimit = key.rateLimit,
                case .limited(let wait) = limiter.acquire(key: key.id, limit: rateLimit, now: now.timeIntervalSince1970)
            {
                throw NeuroplexError(
                    .rateLimited, code: .rateLimited,
                    "this key is over its rate limit of \(rateLimit.limit) requests per \(rateLimit.windowSeconds) s",
                    retryAfterSeconds: wait)
            }
        }
        return key
    }

    private static func entry(from row: any SQLRow) throws -> Entry {
        func date(_ column: String) throws -> Date? {
            try row.decodeNil(column: column) ? nil : Timestamp.parse(row.decode(column: column, as: String.self))
        }
        let scopes = try JSONDecoder().decode(
            [String].self, from: Data(row.decode(column: "scopes", as: String.self).utf8))
        var rateLimit: RateLimit?
        if let limit = try row.decode(column: "rate_limit", as: Int?.self),
            let window = try row.decode(column: "rate_window_seconds", as: Int?.self)
        {
            rateLimit = RateLimit(limit: limit, windowSeconds: window)
        }
        let key = APIKey(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            prefix: try row.decode(column: "prefix", as: String.self),
            scopes: scopes.map(Scope.init(rawValue:)),
            createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0),
            expiresAt: try date("expires_at"),
            revokedAt: try date("revoked_at"),
            rateLimit: rateLimit)
        let stored = try row.decode(column: "secret_hash", as: String.self)
        guard let digest = KeyDigest(hex: stored) else {
            throw NeuroplexError(.internal, code: .internal, "api key \(key.id) has a malformed secret_hash")
        }
        return Entry(key: key, digest: digest)
    }
}
