public import Logging
import NeuroplexGateway

/// What the handlers of one request may need to know about it, carried in a task-local value because the
/// generated OpenAPI handlers do not receive Hummingbird's request context.
struct RequestScope: Sendable {
    /// The API key that authenticated the request.
    var key: APIKey

    @TaskLocal static var current: RequestScope?
}

/// Adds `key.id` of the authenticated API key to every log line written while a request is handled.
///
/// A metadata provider is evaluated only when a line is actually logged, so the per-request cost is nil; the
/// server installs it with its log handler.
public let requestMetadataProvider = Logger.MetadataProvider {
    guard let key = RequestScope.current?.key else { return [:] }
    return ["key.id": .string(key.id)]
}
