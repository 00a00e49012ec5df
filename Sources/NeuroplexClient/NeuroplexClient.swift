public import Foundation
import HTTPTypes
import OpenAPIRuntime

/// The Swift SDK for Neuroplex servers: API keys and health, and the memory pillar (key-value, batches, scans,
/// transactions, CRDTs, change streams, channels, consistency).
///
/// ```swift
/// let client = NeuroplexClient(
///     nodes: [URL(string: "http://node1:8080")!, URL(string: "http://node2:8080")!],
///     apiKey: key, timeout: .seconds(5))
/// try await client.set("user:123", ["name": "John", "age": 30], ttl: .seconds(3600))
/// let user = try await client.get("user:123")            // JSON?
/// for try await change in try await client.watch(pattern: "user:*") {
///     print(change.kind, change.key, change.value ?? nil)
/// }
/// ```
///
/// Every method throws ``NeuroplexClientError``: the server's problem answers keep its status and stable `code`
/// (`precondition_failed`, `wrong_type`, …); a node that cannot be reached is status 0, code `unreachable`.
///
/// **Failover.** Calls go to the node that last answered (the first one at the start). When a node cannot be
/// reached — the connection is refused or times out — the call is sent to the next node, and the client remembers
/// the one that answered, for every copy of this value. Problem answers (4xx, 5xx) are answers: they are never
/// sent elsewhere. A request that may already have reached a node that then went silent (a time-out after the
/// request was sent) is sent on only when sending it twice is harmless (reads, `PUT`, `DELETE`); an increment,
/// compare-and-swap, batch, transaction step or publish then fails with code `timeout` instead, because it may
/// have been applied. Interactive transactions and open streams stay on the node they started on.
///
/// **Transport.** The generated OpenAPI client runs over AsyncHTTPClient rather than URLSession: on Linux,
/// URLSession (FoundationNetworking) buffers a whole response before handing it over, so a Server-Sent Events
/// stream such as ``watch(pattern:since:)`` would never yield. Every client shares one process-wide `HTTPClient`
/// (its connection pool and event loops); it lives as long as the process, like AsyncHTTPClient's own
/// `HTTPClient.shared`, so there is nothing to shut down. It differs from `HTTPClient.shared` where an SDK must:
/// no read time-out (a quiet change stream stays open), no redirects, and no connection retries inside one node
/// (failover to the next node is the retry).
public struct NeuroplexClient: Sendable {
    let nodes: NodeSet

    /// The consistency level this client was configured with.
    ///
    /// Every memory answer carries the node's causal token and the client keeps the latest (``sessionToken``).
    /// Unless the level is `eventual`, each request sends it back, and a node serves the request only once it has
    /// seen that position: after a failover to another node, this client still reads its own writes and never
    /// reads older data than it read before. (On one node every level holds anyway.)
    public let consistencyLevel: ConsistencyLevel

    /// How long one attempt on one node may take to get the response's head (for streams: until the stream is open).
    public let timeout: Duration

    /// A client for the server at `baseURL`, sending `apiKey` as a bearer token when one is given.
    public init(baseURL: URL, apiKey: String? = nil) {
        self.init(nodes: [baseURL], apiKey: apiKey)
    }

    /// A client for a group of nodes, tried in order when one cannot be reached.
    /// - Parameters:
    ///   - nodes: base URLs such as `http://127.0.0.1:8080`; at least one.
    ///   - apiKey: sent as `Authorization: Bearer <key>` when given.
    ///   - consistency: the level this client expects (see ``consistencyLevel``).
    ///   - timeout: how long one attempt on one node may take before the next node is tried.
    /// - Precondition: `nodes` is not empty.
    public init(
        nodes: [URL], apiKey: String? = nil, consistency: ConsistencyLevel = .strong,
        timeout: Duration = .seconds(10)
    ) {
        precondition(!nodes.isEmpty, "NeuroplexClient needs at least one node")
        self.nodes = NodeSet(urls: nodes, apiKey: apiKey, timeout: timeout, consistency: consistency)
        self.consistencyLevel = consistency
        self.timeout = timeout
    }

    /// The latest causal token this client has seen (`c1:<position>`), or `nil` before its first memory answer.
    public var sessionToken: String? { nodes.session.token }

    /// The nodes, in the order given.
    public var nodeURLs: [URL] { nodes.urls }

    /// The node the next call goes to first: the one that answered last.
    public var currentNode: URL { nodes.urls[nodes.preferred] }

    // MARK: Operations

    /// Liveness: succeeds while the server process is up.
    public func health() async throws -> HealthReport {
        switch try await call({ try await $0.getHealth() }) {
        case .ok(let ok): return HealthReport(try ok.body.json)
        case .undocumented(let status, let payload): throw await NeuroplexClientError(status, payload)
        }
    }

    /// Readiness, with one check per component. A server that is not ready answers with its report too.
    public func readiness() async throws -> HealthReport {
        switch try await call({ try await $0.getReadiness() }) {
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
        switch try await call(.once, { try await $0.createKey(body: .json(body)) }) {
        case .created(let created):
            let value = try created.body.json
            return CreatedAPIKey(key: value.value2.key, info: APIKeyInfo(value.value1))
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// One page of keys, oldest first; pass ``KeyPage/nextCursor`` back for the next page.
    public func listKeys(limit: Int? = nil, cursor: String? = nil) async throws -> KeyPage {
        switch try await call({ try await $0.listKeys(query: .init(limit: limit, cursor: cursor)) }) {
        case .ok(let ok):
            let page = try ok.body.json
            return KeyPage(keys: page.data.map(APIKeyInfo.init), nextCursor: page.nextCursor)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// One key by id.
    public func getKey(id: String) async throws -> APIKeyInfo {
        switch try await call({ try await $0.getKey(path: .init(id: id)) }) {
        case .ok(let ok): return APIKeyInfo(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Revokes a key; it stops working at once.
    public func revokeKey(id: String) async throws {
        switch try await call({ try await $0.revokeKey(path: .init(id: id)) }) {
        case .noContent: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}
