import Foundation
import HTTPTypes
import NeuroplexCore
import NeuroplexGateway
import OpenAPIRuntime

/// Checks the API key and the scope of every operation, as the contract declares it (`x-neuroplex-scope`).
///
/// It runs as an OpenAPI server middleware because only there is the operation known by its id. An operation
/// the table does not know is refused: forgetting to declare a scope never opens a route.
struct AuthMiddleware: ServerMiddleware {
    let keys: KeyStore
    let access: [String: OpenAPIDocument.Access]

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let rule = access[operationID] else {
            throw NeuroplexError(.internal, code: .internal, "operation \(operationID) has no declared scope")
        }
        guard case .scope(let needed) = rule else { return try await next(request, body, metadata) }
        let key = try await keys.authenticate(Self.bearerToken(request.headerFields[.authorization]))
        guard key.scopes.grant(needed) else {
            throw NeuroplexError(
                .forbidden, code: .forbidden, "this key lacks the scope '\(needed.rawValue)' that this route needs")
        }
        return try await RequestScope.$current.withValue(RequestScope(key: key)) {
            try await next(request, body, metadata)
        }
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
    }}
