import HTTPTypes
import Hummingbird
import Logging
import NeuroplexCore

/// Settles the request id, echoes it in `X-Request-ID`, puts it on every log line of the request, and turns every
/// error into a problem+json response.
///
/// It runs just inside ``HTTPMetricsMiddleware``, so the metrics count the status the client really got.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = NeuroplexRequestContext

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let requestID: String
        if let sent = request.headers[.xRequestID], Self.isAcceptable(sent) {
            requestID = sent
            context.logger[metadataKey: "hb.request.id"] = .string(sent)
        } else {
            requestID = context.id
        }
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            let problem = Problem.classify(error)
            if problem.kind == .internal {
                context.logger.error(
                    "request failed", metadata: ["error": "\(String(reflecting: error))", "http.path": "\(request.uri.path)"])
            } else {
                context.logger.debug("request refused", metadata: ["error.code": "\(problem.code)"])
            }
            response = Problem.response(for: problem, requestID: requestID)
        }
        response.headers[.xRequestID] = requestID
        if context.logger.logLevel <= .debug {
            context.logger.debug(
                "request",
                metadata: [
                    "http.method": "\(request.method)", "http.path": "\(request.uri.path)",
                    "http.status": "\(response.status.code)",
                ])
        }
        return response
    }

    /// Printable ASCII up to 200 characters; anything else is replaced by a server-made id.
    static func isAcceptable(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 200 && id.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F }
    }
}

extension HTTPField.Name {
    static let xRequestID = HTTPField.Name("X-Request-ID")!
}
