/// A permission an API key carries, such as `memory:read` or `admin`.
///
/// Every route declares the one scope it needs. `admin` grants every scope, and `<area>:write` grants
/// `<area>:read`, so that a writer never needs two scopes to read back what it wrote.
public struct Scope: RawRepresentable, Hashable, Sendable, Codable, ExpressibleByStringLiteral,
    CustomStringConvertible
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let admin: Scope = "admin"
    public static let memoryRead: Scope = "memory:read"
    public static let memoryWrite: Scope = "memory:write"
    public static let mlRead: Scope = "ml:read"
    public static let mlWrite: Scope = "ml:write"
    public static let mlPredict: Scope = "ml:predict"
    public static let sentinelRead: Scope = "sentinel:read"
    public static let sentinelWrite: Scope = "sentinel:write"
    public static let visionRead: Scope = "vision:read"
    public static let visionWrite: Scope = "vision:write"
    public static let gatewayRead: Scope = "gateway:read"
    public static let gatewayWrite: Scope = "gateway:write"

    /// Every scope a key may hold.
    public static let all: [Scope] = [
        .admin, .memoryRead, .memoryWrite, .mlRead, .mlWrite, .mlPredict, .sentinelRead, .sentinelWrite,
        .visionRead, .visionWrite, .gatewayRead, .gatewayWrite,
    ]

    /// Whether holding `self` is enough for a route that needs `needed`.
    public func grants(_ needed: Scope) -> Bool {
        if self == needed || self == .admin { return true }
        if needed.rawValue.hasSuffix(":read"), rawValue.hasSuffix(":write") {
            return rawValue.dropLast(":write".count) == needed.rawValue.dropLast(":read".count)
        }
        return false
    }
}

extension Collection where Element == Scope {
    /// Whether any of these scopes grants `needed`.
    public func grant(_ needed: Scope) -> Bool { contains { $0.grants(needed) } }
}

extension Array where Element == Scope {
    /// ``Swift/Collection/grant(_:)`` for an API key's scopes, as a concrete function: the generic one, called from
    /// another module, ran unspecialised (~0.5 µs of every request on the key-value fast path).
    public func grant(_ needed: Scope) -> Bool { contains { $0.grants(needed) } }
}
