import HTTPTypes
import Hummingbird
import NeuroplexCore
import NeuroplexGateway
import OpenAPIRuntime

/// Registers the operations of the contract on a Hummingbird router, each behind its ``AccessGate``.
///
/// Most operations run through the generated OpenAPI server code. The hottest few have a ``FastRoute``: a
/// hand-written handler of the same operation (same path, scope, schema types and errors) that skips the
/// generated request/response conversion and encodes with ``CompactJSONEncoder``; on a small request that
/// conversion and Foundation's encoder cost more than the rest of the server together (see docs/benchmarks.md).
///
/// Our own adapter rather than swift-openapi-hummingbird's: a response body of known length (every JSON answer) is
/// collected into one buffer and written in one go. Streaming it chunk by chunk through an async writer cost a hop
/// to the event loop per chunk, which profiling showed as the largest item of a small request.
struct RouterTransport: ServerTransport {
    let router: Router<NeuroplexRequestContext>
    let document: OpenAPIDocument
    let keys: KeyStore
    let fastRoutes: [String: FastRoute]
    /// Causal tokens for the memory routes.
    let causal: CausalTokens

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (
            HTTPResponse, HTTPBody?
        ),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        let route = OpenAPIDocument.route(method.rawValue, path)
        guard let access = document.access[route] else {
            throw NeuroplexError(.internal, code: .internal, "operation \(route) has no declared scope")
        }
        let gate = AccessGate(access: access, keys: keys)
        let causal = path.hasPrefix("/memory/") ? causal : nil
        if let fast = fastRoutes[route] {
            router.on(RouterPath(path), method: method) { request, context in
                let key = try await gate.admit(request)
                guard let causal else { return try await fast.handle(request, context, key) }
                return try await causal.around(request) { try await fast.handle(request, context, key) }
            }
            return
        }
        router.on(RouterPath(path), method: method) { request, context in
            let key = try await gate.admit(request)
            func run() async throws -> Response {
                guard let causal else { return try await Self.run(handler, request, context) }
                return try await causal.around(request) { try await Self.run(handler, request, context) }
            }
            guard let key else { return try await run() }
            return try await RequestScope.$current.withValue(RequestScope(key: key)) { try await run() }
        }
    }

    private static func run(
        _ handler: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        _ request: Request, _ context: NeuroplexRequestContext
    ) async throws -> Response {
        var parameters: [String: Substring] = [:]
        for (name, value) in context.parameters where parameters[String(name)] == nil {
            parameters[String(name)] = value
        }
        let (head, body) = try await handler(
            request.head, Self.body(of: request), ServerRequestMetadata(pathParameters: parameters))
        return try await Self.response(head, body)
    }

    /// The request body; `nil` when the request declares none (no length or a zero length, no chunked transfer).
    private static func body(of request: Request) -> HTTPBody? {
        let length: HTTPBody.Length
        if let declared = request.headers[.contentLength], let bytes = Int(declared) {
            // An empty body is no body: an operation whose body is optional then runs with its defaults.
            guard bytes > 0 else { return nil }
            length = .known(Int64(bytes))
        } else if request.headers[.transferEncoding] != nil {
            length = .unknown
        } else {
            return nil
        }
        return HTTPBody(
            request.body.map { ArraySlice($0.readableBytesView) }, length: length, iterationBehavior: .single)
    }

    private static func response(_ head: HTTPResponse, _ body: HTTPBody?) async throws -> Response {
        guard let body else { return Response(status: head.status, headers: head.headerFields) }
        if case .known(let length) = body.length {
            let bytes = try await ArraySlice(collecting: body, upTo: Int(length))
            return Response(
                status: head.status, headers: head.headerFields, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        return Response(
            status: head.status, headers: head.headerFields,
            body: .init(asyncSequence: body.map { ByteBuffer(bytes: $0) }))
    }
}

/// A hand-written handler for one operation of the contract, used instead of the generated one (see
/// ``RouterTransport``). It receives the key its ``AccessGate`` admitted (`nil` on an open route) and must answer
/// exactly as the contract says; the API tests run against it like any other route.
struct FastRoute: Sendable {
    let handle: @Sendable (Request, NeuroplexRequestContext, APIKey?) async throws -> Response

    /// A 200 (or `status`) answer with `value` as compact JSON.
    static func json<Value: Encodable>(_ value: Value, status: HTTPResponse.Status = .ok) throws -> Response {
        let bytes = try CompactJSONEncoder().encode(value)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Refuses with 406 a request whose `Accept` header rules out JSON, as the generated handlers do.
    static func requireJSONAcceptable(_ request: Request) throws {
        guard acceptsJSON(request.headers[.accept]) else {
            throw NeuroplexError(
                .notAcceptable, code: .notAcceptable, "this operation answers application/json, which Accept rules out")
        }
    }

    /// Whether an `Accept` header (absent: yes) allows an `application/json` answer.
    static func acceptsJSON(_ accept: String?) -> Bool {
        guard let accept else { return true }
        for range in accept.split(separator: ",") {
            let type = range.prefix { $0 != ";" }.trimmingASCIISpaces().lowercased()
            if type == "*/*" || type == "application/*" || type == "application/json" { return true }
        }
        return false
    }
}

extension Substring {
    fileprivate func trimmingASCIISpaces() -> Substring {
        var text = self
        while text.first == " " || text.first == "\t" { text.removeFirst() }
        while text.last == " " || text.last == "\t" { text.removeLast() }
        return text
    }
}
