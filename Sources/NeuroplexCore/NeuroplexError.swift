/// An error a caller can act on: a stable machine-readable ``Code``, a message that is safe to show to the
/// client, and the kind of failure it is.
///
/// Engines throw this; only `NeuroplexAPI` maps a ``Kind`` to an HTTP status. The `message` must never contain
/// secrets — it is shown to clients and written to logs.
///
/// ```swift
/// throw NeuroplexError(.validationFailed, "name must not be empty", field: "name")
/// ```
public struct NeuroplexError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The broad class of failure; decides the HTTP status.
    public enum Kind: String, Sendable, Equatable {
        /// The request is malformed (syntax).
        case badRequest
        /// The request is well-formed but a value is not acceptable.
        case invalidInput
        /// No credentials, or credentials that are unknown, expired or revoked.
        case unauthenticated
        /// Valid credentials without the needed permission.
        case forbidden
        /// The named resource does not exist.
        case notFound
        /// The request conflicts with the current state (wrong type, duplicate, a lost transaction).
        case conflict
        /// A condition the client attached to the request (an expected version, "only if absent") did not hold.
        case preconditionFailed
        /// The client sent too much.
        case payloadTooLarge
        /// The body is in a format the route does not take.
        case unsupportedMediaType
        /// The client accepts no format the route can answer in.
        case notAcceptable
        /// The client is over its rate limit.
        case rateLimited
        /// A dependency is not available right now; retrying later may work.
        case unavailable
        /// The operation is part of the contract but not built yet (HTTP 501).
        case notImplemented
        /// A fault in the server; never a client's mistake.
        case `internal`
    }

    /// A stable, machine-readable error code, such as `validation_failed`. Clients may switch on it.
    public struct Code: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(stringLiteral value: String) { self.rawValue = value }
        public var description: String { rawValue }

        public static let badRequest: Code = "bad_request"
        public static let invalidJSON: Code = "invalid_json"
        public static let validationFailed: Code = "validation_failed"
        public static let unauthenticated: Code = "unauthenticated"
        public static let invalidAPIKey: Code = "invalid_api_key"
        public static let expiredAPIKey: Code = "expired_api_key"
        public static let revokedAPIKey: Code = "revoked_api_key"
        public static let forbidden: Code = "insufficient_scope"
        public static let notFound: Code = "not_found"
        public static let routeNotFound: Code = "route_not_found"
        public static let conflict: Code = "conflict"
        public static let payloadTooLarge: Code = "payload_too_large"
        public static let unsupportedMediaType: Code = "unsupported_media_type"
        public static let notAcceptable: Code = "not_acceptable"
        public static let rateLimited: Code = "rate_limited"
        public static let unavailable: Code = "unavailable"
        public static let `internal`: Code = "internal_error"
    }

    public var kind: Kind
    public var code: Code
    /// What went wrong, safe to show to a client.
    public var message: String
    /// The request field at fault (a JSON path such as `rateLimit.limit`), when there is one.
    public var field: String?
    /// For ``Kind/rateLimited`` and ``Kind/unavailable``: seconds after which a retry may succeed.
    public var retryAfterSeconds: Int?

    public init(_ kind: Kind, code: Code, _ message: String, field: String? = nil, retryAfterSeconds: Int? = nil) {
        self.kind = kind
        self.code = code
        self.message = message
        self.field = field
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }

    /// A value is not acceptable: `validation_failed`, naming the field.
    /// - Parameter kind: `.invalidInput` (422, a value is not acceptable) or `.badRequest` (400, the JSON has the
    ///   wrong shape: a missing or mistyped field).
    public static func invalid(_ field: String, _ message: String, kind: Kind = .invalidInput) -> NeuroplexError {
        NeuroplexError(kind, code: .validationFailed, message, field: field)
    }

    /// The named thing does not exist.
    public static func notFound(_ what: String, id: String) -> NeuroplexError {
        NeuroplexError(.notFound, code: .notFound, "\(what) '\(id)' does not exist")
    }
}
