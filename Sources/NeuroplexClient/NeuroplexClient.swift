public import Foundation
import HTTPTypes
import OpenAPIRuntime
import OpenAPIURLSession

/// The Swift SDK for a Neuroplex server.
///
/// ```swift
/// let client = NeuroplexClient(baseURL: URL(string: "http://localhost:8080")!, apiKey: adminKey)
/// let created = try await client.createKey(name: "ingest", scopes: ["memory:write"])
/// print(created.key)   // shown only now
/// ```
///
/// Every method throws ``NeuroplexClientError`` when the server answers with a problem document.
public struct NeuroplexClient: Sendable {
    private let client: Client

    /// A client for the server at `baseURL`, sending `apiKey` as a bearer token when one is given.
    public init(baseURL: URL, apiKey: String? = nil) {
        self.client = Client(
            serverURL: baseURL,
            configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
            transport: URLSessionTransport(),
            middlewares: [BearerMiddleware(token: apiKey)])
    }

    // MARK: Operations

    /// Liveness: succeeds while the server process is up.
    public func health() async throws -> HealthReport {
        switch try await call({ try await client.getHealth() }) {
        case .ok(let ok): return HealthReport(try ok.body.json)
        case .undocumented(let status, let payload): throw await NeuroplexClientError(status, payload)
        }
    }

    /// Readiness, with one check per component. A server that is not ready answers with its report too.
    public func readiness() async throws -> HealthReport {
        switch try await call({ try await client.getReadiness() }) {
        case .ok(let ok): return HealthReport(try ok.body.json)
        case .serviceUnavailable(let unavailable): return HealthReport(try unavailable.body.json)
        case .undocumented(let status, let payload): throw await NeuroplexClientError(status, payload)
        }
    }

    /// Creates an API key; the returned ``CreatedAPIKey/key`` is the only time the secret is shown.
    public func createKey(
        name: String, scopes: [String], expiresAt: Date? = nil, rateLimit: RateLimit? = nil
    ) async throws -> CreatedAPIKey {
        let body = Components.Schemas.CreateAPIKeyRequest(
            name: name, scopes: scopes, expiresAt: expiresAt,
            rateLimit: rateLimit.map { .init(limit: $0.limit, windowSeconds: $0.windowSeconds) })
        switch try await call({ try await client.createKey(body: .json(body)) }) {
        case .created(let created):
            let value = try created.body.json
            return CreatedAPIKey(key: value.value2.key, info: APIKeyInfo(value.value1))
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// One page of keys, oldest first; pass ``KeyPage/nextCursor`` back for the next page.
    public func listKeys(limit: Int? = nil, cursor: String? = nil) async throws -> KeyPage {
        switch try await call({ try await client.listKeys(query: .init(limit: limit, cursor: cursor)) }) {
        case .ok(let ok):
            let page = try ok.body.json
            return KeyPage(keys: page.data.map(APIKeyInfo.init), nextCursor: page.nextCursor)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// One key by id.
    public func getKey(id: String) async throws -> APIKeyInfo {
        switch try await call({ try await client.getKey(path: .init(id: id)) }) {
        case .ok(let ok): return APIKeyInfo(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Revokes a key; it stops working at once.
    public func revokeKey(id: String) async throws {
        switch try await call({ try await client.revokeKey(path: .init(id: id)) }) {
        case .noContent: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

extension NeuroplexClient {
    /// Runs one generated call, turning a failure to reach the server into a ``NeuroplexClientError`` with status 0
    /// and code `unreachable`, described by the transport's own words.
    private func call<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as ClientError {
            if let ours = error.underlyingError as? NeuroplexClientError { throw ours }
            if error.response == nil {
                throw NeuroplexClientError(unreachable: (error.underlyingError as NSError).localizedDescription)
            }
            throw NeuroplexClientError(unexpected: error.response?.status.code ?? 0, String(describing: error.underlyingError))
        }
    }
}

/// Adds `Authorization: Bearer <key>` to every request.
private struct BearerMiddleware: ClientMiddleware {
    let token: String?

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if let token { request.headerFields[.authorization] = "Bearer \(token)" }
        return try await next(request, body, baseURL)
    }
}
