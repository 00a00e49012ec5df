public import struct Foundation.Date

/// An API key as the server knows it: everything but the secret.
public struct APIKey: Sendable, Equatable, Identifiable {
    public var id: String
    public var name: String
    /// The first characters of the secret, to tell keys apart.
    public var prefix: String
    public var scopes: [Scope]
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var rateLimit: RateLimit?

    public init(
        id: String, name: String, prefix: String, scopes: [Scope], createdAt: Date, expiresAt: Date? = nil,
        revokedAt: Date? = nil, rateLimit: RateLimit? = nil
    ) {
        self.id = id
        self.name = name
        self.prefix = prefix
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.rateLimit = rateLimit
    }

    /// Whether the key has expired at `now`.
    public func isExpired(at now: Date) -> Bool {
        if let expiresAt { return expiresAt <= now }
        return false
    }
}

/// At most `limit` requests per `windowSeconds` for one key.
public struct RateLimit: Sendable, Equatable, Codable {
    public var limit: Int
    public var windowSeconds: Int

    public init(limit: Int, windowSeconds: Int) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }
}

/// What a client asks for when it creates a key.
public struct NewAPIKey: Sendable, Equatable {
    public var name: String
    public var scopes: [String]
    public var expiresAt: Date?
    public var rateLimit: RateLimit?

    public init(name: String, scopes: [String], expiresAt: Date? = nil, rateLimit: RateLimit? = nil) {
        self.name = name
        self.scopes = scopes
        self.expiresAt = expiresAt
        self.rateLimit = rateLimit
    }
}
