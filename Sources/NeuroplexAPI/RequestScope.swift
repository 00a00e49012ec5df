import Logging
import NeuroplexGateway

/// What the handlers of one request may need to know about it, carried in a task-local value because the
/// generated OpenAPI handlers do not receive Hummingbird's request context.
struct RequestScope: Sendable {
    /// The request id (the client's `X-Request-ID`, or one made by the server).
    var requestID: String
    /// A logger whose every line carries the request id.
    var logger: Logger
    /// The API key that authenticated the request, once the auth middleware has run.
    var key: APIKey?

    @TaskLocal static var current: RequestScope?
}
