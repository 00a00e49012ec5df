import HTTPTypes
import Hummingbird
import OpenAPIRuntime

/// Registers the generated OpenAPI operations on a Hummingbird router.
///
/// Our own small adapter rather than swift-openapi-hummingbird's: a response body of known length (every JSON
/// answer) is collected into one buffer and written in one go. Streaming it chunk by chunk through an async writer
/// cost a hop to the event loop per chunk, which profiling showed as the largest item of a small request.
struct RouterTransport: ServerTransport {
    let router: Router<NeuroplexRequestContext>

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (
            HTTPResponse, HTTPBody?
        ),
        method: HTTPRequest.Method,
        path: String
    ) throws {
        router.on(RouterPath(path), method: method) { request, context in
            var parameters: [String: Substring] = [:]
            for (name, value) in context.parameters where parameters[String(name)] == nil {
                parameters[String(name)] = value
            }
            let (head, body) = try await handler(
                request.head, Self.body(of: request), ServerRequestMetadata(pathParameters: parameters))
            return try await Self.response(head, body)
        }
    }

    /// The request body; `nil` when the request declares none (no length, no chunked transfer).
    private static func body(of request: Request) -> HTTPBody? {
        let length: HTTPBody.Length
        if let declared = request.headers[.contentLength], let bytes = Int(declared) {
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
