import Hummingbird
import NeuroplexCore

/// Refuses request bodies over the configured limit with 413, before reading them.
///
/// A declared `Content-Length` over the limit is refused at once; a body without one (chunked) is read up to the
/// limit and refused when it goes past it. Routes that stream their body to disk (dataset uploads) are left alone:
/// they enforce a limit of their own as they read.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = NeuroplexRequestContext
    let maxBytes: Int
    var streamedPaths: Set<String> = []

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if streamedPaths.contains(request.uri.path) { return try await next(request, context) }
        if let declared = request.headers[.contentLength] {
            guard let length = Int(declared), length >= 0 else {
                throw NeuroplexError(.badRequest, code: .badRequest, "Content-Length is not a number")
            }
            if length > maxBytes { throw tooLarge() }
            return try await next(request, context)
        }
        guard request.headers[.transferEncoding] != nil else { return try await next(request, context) }
        var request = request
        do {
            _ = try await request.collectBody(upTo: maxBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw tooLarge()
        }
        return try await next(request, context)
    }

    private func tooLarge() -> NeuroplexError {
        NeuroplexError(
            .payloadTooLarge, code: .payloadTooLarge,
            "the request body is larger than the limit of \(maxBytes) bytes")
    }
}
