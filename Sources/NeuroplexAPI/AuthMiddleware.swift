import Foundation
import HTTPTypes
import Logging
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
        var scope = RequestScope.current ?? RequestScope(requestID: "", logger: .init(label: "neuroplex"), key: nil)
        scope.key = key
        scope.logger[metadataKey: "key.id"] = .string(key.id)
        return try await RequestScope.$current.withValue(scope) { try await next(request, body, metadata) }
    }

    /// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), or `nil`.
    static func bearerToken(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }
}
