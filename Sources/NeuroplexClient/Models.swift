import NeuroplexCore
public import Foundation
import OpenAPIRuntime

/// A problem answer from the server: its HTTP status and stable `code`.
///
/// ```swift
/// do {
///     try await client.set("user:1", ["name": "Bob"], ifVersion: 3)
/// } catch let error as NeuroplexClientError where error.code == "precondition_failed" {
///     // someone else wrote user:1 first (status 412); nothing changed
/// }
/// ```
///
/// Besides the server's codes (`not_found`, `precondition_failed`, `wrong_type`, `transaction_conflict`, …), the
/// client makes three of its own, all with status 0: `unreachable` (no node could be reached), `timeout` (a request
/// that must not be sent twice got no answer in time and may have been applied) and `unexpected_response`.
public struct NeuroplexClientError: Error, Sendable, CustomStringConvertible {
    /// The HTTP status; 0 when no answer came (`unreachable`, `timeout`).
    public var status: Int
    /// The stable machine-readable code, e.g. `invalid_api_key`; `http_<status>` when the body had none.
    public var code: String
    /// What went wrong.
    public var detail: String
    /// The server's id for the request, to find it in the server's log.
    public var requestID: String?

    public var description: String { status == 0 ? "\(code): \(detail)" : "\(status) \(code): \(detail)" }

    init(_ status: Int, _ problem: Components.Responses.Problem) {
        self.status = status
        if case .applicationProblemJson(let document) = problem.body {
            self.code = document.code
            self.detail = document.detail ?? document.title
            self.requestID = document.requestId
        } else {
            self.code = "http_\(status)"
            self.detail = "the server answered \(status)"
        }
    }

    init(unreachable detail: String) {
        self.status = 0
        self.code = "unreachable"
        self.detail = detail
    }

    init(timeout detail: String) {
        self.status = 0
        self.code = "timeout"
        self.detail = detail
    }

    /// The problem in a stream's final `event: error` frame (`{code, detail}`), which ends a stream that fell too far
    /// behind (`watcher_lagged`, which the server classes as a 409 conflict).
    init(streamError data: String) {
        let document = try? JSON(parsing: Data(data.utf8))
        self.status = 409
        self.code = document?["code"]?.stringValue ?? "stream_error"
        self.detail = document?["detail"]?.stringValue ?? data
    }

    init(unexpected status: Int, _ detail: String) {
        self.status = status
        self.code = "unexpected_response"
        self.detail = detail
    }

    init(_ status: Int, _ payload: UndocumentedPayload) async {
        self.status = status
        self.code = "http_\(status)"
        self.detail = "the server answered \(status)"
        if let body = payload.body, let data = try? await Data(collecting: body, upTo: 1 << 20),
            let document = try? JSONDecoder().decode(Components.Schemas.Problem.self, from: data)
        {
            self.code = document.code
            self.detail = document.detail ?? document.title
            self.requestID = document.requestId
        }
    }
}

/// At most `limit` requests per `windowSeconds`.
public struct RateLimit: Sendable, Equatable {
    public var limit: Int
    public var windowSeconds: Int

    public init(limit: Int, windowSeconds: Int) {
        self.limit = limit
        self.windowSeconds = windowSeconds
    }
}

/// An API key as listed (never its secret).
public struct APIKeyInfo: Sendable, Equatable, Identifiable {
    public var id: String
    public var name: String
    public var prefix: String
    public var scopes: [String]
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var rateLimit: RateLimit?

    init(_ key: Components.Schemas.APIKey) {
        self.id = key.id
        self.name = key.name
        self.prefix = key.prefix
        self.scopes = key.scopes
        self.createdAt = key.createdAt
        self.expiresAt = key.expiresAt
        self.revokedAt = key.revokedAt
        self.rateLimit = key.rateLimit.map { RateLimit(limit: $0.limit, windowSeconds: $0.windowSeconds) }
    }
}

/// A newly created key with its secret.
public struct CreatedAPIKey: Sendable, Equatable {
    /// The secret, shown only in this answer.
    public var key: String
    public var info: APIKeyInfo
}

/// A page of keys.
public struct KeyPage: Sendable, Equatable {
    public var keys: [APIKeyInfo]
    public var nextCursor: String?
}

/// A health or readiness report.
public struct HealthReport: Sendable, Equatable {
    /// One component's state.
    public struct Check: Sendable, Equatable {
        public var name: String
        /// `pass`, `warn` or `fail`.
        public var status: String
        public var message: String?
        public var durationMs: Double
    }

    /// `healthy`, `degraded` or `unhealthy`.
    public var status: String
    public var checks: [Check]
    public var timestamp: Date
    public var version: String?

    init(_ report: Components.Schemas.HealthReport) {
        self.status = report.status.rawValue
        self.checks = report.checks.map {
            Check(name: $0.name, status: $0.status.rawValue, message: $0.message, durationMs: $0.durationMs)
        }
        self.timestamp = report.timestamp
        self.version = report.version
    }
}
