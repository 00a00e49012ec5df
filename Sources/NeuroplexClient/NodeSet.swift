import AsyncHTTPClient
import Foundation
import HTTPTypes
import NIOCore
import NIOPosix
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import Synchronization

/// The nodes of one client: a generated client per node over the shared HTTP client, and the node that answered
/// last. A class so that every copy of a ``NeuroplexClient`` remembers the same node.
final class NodeSet: Sendable {
    let urls: [URL]
    let clients: [Client]
    let timeout: Duration
    /// The session's causal position, shared by every node's client.
    let session = CausalSession()
    private let preferredIndex = Atomic<Int>(0)

    init(urls: [URL], apiKey: String?, timeout: Duration, consistency: ConsistencyLevel) {
        self.urls = urls
        self.timeout = timeout
        let causal = CausalMiddleware(session: session, sendsToken: consistency != .eventual)
        let transport = AsyncHTTPClientTransport(
            configuration: .init(client: sdkHTTPClient, timeout: TimeAmount(timeout)))
        self.clients = urls.map {
            Client(
                serverURL: $0,
                configuration: .init(dateTranscoder: .iso8601WithFractionalSeconds),
                transport: transport,
                middlewares: [BearerMiddleware(token: apiKey), PathSegmentMiddleware(), causal])
        }
    }

    var preferred: Int { preferredIndex.load(ordering: .relaxed) }

    func answered(_ index: Int) { preferredIndex.store(index, ordering: .relaxed) }
}

/// The one HTTP client every ``NeuroplexClient`` shares. Never shut down: it lives as long as the process, as
/// AsyncHTTPClient's own `HTTPClient.shared` does. Its settings differ from that one's where an SDK must: no read
/// time-out (a change stream may be quiet for hours), no redirects, and a failed connection fails at once rather than
/// being retried on the same node for the connect time-out, because the client's failover tries the next node.
let sdkHTTPClient: HTTPClient = {
    var configuration = HTTPClient.Configuration(
        redirectConfiguration: .disallow, timeout: .init(connect: .seconds(5), read: nil))
    configuration.connectionPool.retryConnectionEstablishment = false
    return HTTPClient(eventLoopGroup: MultiThreadedEventLoopGroup.singleton, configuration: configuration)
}()

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds.multipliedReportingOverflow(by: 1_000_000_000).overflow
            ? .max : seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}

extension NeuroplexClient {
    /// Whether a request may be sent to another node after it may already have reached one that went silent.
    enum Replay {
        /// Sending it twice does no harm (reads, `PUT`, `DELETE`).
        case safe
        /// It may have been applied (increments, compare-and-swap, batches, transaction steps, publishing).
        case once
    }

    /// Runs one generated call on the preferred node, failing over to the next when a node cannot be reached.
    func call<T>(_ body: (Client) async throws -> T) async throws -> T {
        try await callNode(.safe, on: nil, body).value
    }

    /// Runs one generated call with failover, `replay` saying whether it may be sent to another node after a time-out.
    func call<T>(_ replay: Replay, _ body: (Client) async throws -> T) async throws -> T {
        try await callNode(replay, on: nil, body).value
    }

    /// Runs one generated call on `pinned` (only there) or, when `nil`, with failover; says which node answered.
    func callNode<T>(
        _ replay: Replay, on pinned: Int?, _ body: (Client) async throws -> T
    ) async throws -> (value: T, node: Int) {
        let count = nodes.clients.count
        let first = pinned ?? nodes.preferred
        let order = pinned.map { [$0] } ?? (0..<count).map { (first + $0) % count }
        var failures: [String] = []
        for index in order {
            try Task.checkCancellation()
            do {
                let value = try await body(nodes.clients[index])
                if pinned == nil { nodes.answered(index) }
                return (value, index)
            } catch let error as ClientError {
                if let ours = error.underlyingError as? NeuroplexClientError { throw ours }
                if let response = error.response {
                    throw NeuroplexClientError(
                        unexpected: response.status.code, String(describing: error.underlyingError))
                }
                let node = nodes.urls[index].absoluteString
                switch TransportFailure(error.underlyingError) {
                case .cancelled:
                    throw CancellationError()
                case .notSent(let detail):
                    failures.append("\(node): \(detail)")
                case .maybeSent(let detail):
                    if replay == .once {
                        throw NeuroplexClientError(
                            timeout: "\(node): \(detail); the request may have been applied, so it was not sent to another node")
                    }
                    failures.append("\(node): \(detail)")
                }
            }
        }
        throw NeuroplexClientError(unreachable: failures.joined(separator: "; "))
    }
}

/// Why a request got no answer.
enum TransportFailure {
    /// The request never reached the node (refused, no route, connect time-out, TLS handshake).
    case notSent(String)
    /// The request may have reached the node, which then went silent or closed the connection.
    case maybeSent(String)
    case cancelled

    init(_ error: any Error) {
        if error is CancellationError {
            self = .cancelled
        } else if let error = error as? HTTPClientError {
            switch error {
            case .cancelled: self = .cancelled
            case .deadlineExceeded, .readTimeout, .writeTimeout, .remoteConnectionClosed:
                self = .maybeSent(String(describing: error))
            default: self = .notSent(String(describing: error))
            }
        } else if let error = error as? IOError {
            self = .notSent(String(cString: strerror(error.errnoCode)).lowercased())
        } else {
            self = .notSent(String(describing: error))
        }
    }
}

/// Adds `Authorization: Bearer <key>` to every request.
struct BearerMiddleware: ClientMiddleware {
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

/// Sends the characters RFC 3986 allows in a path segment (`:`, `@`, `!`, `$`, `&`, `'`, `(`, `)`, `*`, `,`, `;`, `=`)
/// as themselves rather than percent-encoded, as curl and redis-style keys (`user:1`) do.
///
/// The generated client escapes everything but unreserved characters; the server decodes either spelling to the same
/// key, but `user:1` reads better than `user%3A1` in logs and traces. `+` stays escaped (decoders disagree on it).
struct PathSegmentMiddleware: ClientMiddleware {
    static let allowed: [(escaped: String, character: String)] = [
        ("%3A", ":"), ("%40", "@"), ("%21", "!"), ("%24", "$"), ("%26", "&"), ("%27", "'"), ("%28", "("),
        ("%29", ")"), ("%2A", "*"), ("%2C", ","), ("%3B", ";"), ("%3D", "="),
    ]

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let full = request.path, full.contains("%") else { return try await next(request, body, baseURL) }
        let queryStart = full.firstIndex(of: "?") ?? full.endIndex
        var path = String(full[..<queryStart])
        for (escaped, character) in Self.allowed {
            path = path.replacingOccurrences(of: escaped, with: character, options: .caseInsensitive)
        }
        var request = request
        request.path = path + full[queryStart...]
        return try await next(request, body, baseURL)
    }
}

/// The latest causal position this client has seen in any answer (`Neuroplex-Causal-Token: c1:<position>`).
final class CausalSession: Sendable {
    private let position = Mutex<UInt64?>(nil)

    var token: String? { position.withLock { $0.map { "c1:\($0)" } } }

    func saw(_ token: String) {
        guard token.hasPrefix("c1:"), let seen = UInt64(token.dropFirst(3)) else { return }
        position.withLock { $0 = max($0 ?? 0, seen) }
    }
}

/// Session consistency across nodes: remembers the causal token of every answer and, unless the client is
/// `eventual`, sends the latest one with each request, so a node serves it only once it has seen what this client
/// wrote or read before (read-your-writes and monotonic reads after a failover).
struct CausalMiddleware: ClientMiddleware {
    static let header = HTTPField.Name("Neuroplex-Causal-Token")!
    let session: CausalSession
    let sendsToken: Bool

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if sendsToken, let token = session.token { request.headerFields[Self.header] = token }
        let (response, responseBody) = try await next(request, body, baseURL)
        if let token = response.headerFields[Self.header] { session.saw(token) }
        return (response, responseBody)
    }
}
