import HTTPTypes
import Hummingbird
import NeuroplexCore
import NeuroplexGateway

/// Checks the API key and the scope of one route, as the contract declares it (`x-neuroplex-scope`).
///
/// ``RouterTransport`` puts one in front of every operation it registers, with the rule looked up once at
/// registration: an operation the contract gives no scope stops the server from starting, so forgetting to
/// declare one never opens a route.
struct AccessGate: Sendable {
    let access: OpenAPIDocument.Access
    let keys: KeyStore

    /// The key that may call the route; `nil` for an open route.
    /// - Throws: 401 without a valid key, 403 without the scope, 429 over the key's rate limit.
    func admit(_ request: Request) async throws -> APIKey? {
        guard case .scope(let needed) = access else { return nil }
        let token = Self.bearerToken(request.headers[.authorization])
        let key: APIKey
        switch try keys.authenticateCached(token) {
        case .authenticated(let cached): key = cached
        case .unknown: key = try await keys.authenticate(token)
        }
        guard key.scopes.grant(needed) else {
            throw NeuroplexError(
                .forbidden, code: .forbidden, "this key lacks the scope '\(needed.rawValue)' that this route needs")
        }
        return key
    }

    /// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or `nil`.
    ///
    /// Byte-level on purpose: it runs on every request, and Foundation's trimming showed up in profiles.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let bytes = header.utf8
        let scheme = "bearer".utf8
        guard bytes.count > scheme.count + 1 else { return nil }
        var index = bytes.startIndex
        for expected in scheme {
            guard bytes[index] | 0x20 == expected else { return nil }  // ASCII lower-casing
            index = bytes.index(after: index)
        }
        guard bytes[index] == 0x20 else { return nil }
        var start = index
        var end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start, bytes[bytes.index(before: end)] == 0x20 || bytes[bytes.index(before: end)] == 0x09 {
            end = bytes.index(before: end)
        }
        return start < end ? String(header[start..<end]) : nil
    }
}
