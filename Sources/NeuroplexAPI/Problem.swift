import Foundation
import HTTPTypes
import Hummingbird
import NeuroplexCore
import OpenAPIRuntime

/// Turns any error into an RFC 9457 `application/problem+json` response with a stable `code`.
///
/// This is the only place where an error becomes an HTTP status. Client mistakes map to 4xx with the error's
/// message; anything unexpected is a 500 whose detail hides internals (they go to the log instead).
enum Problem {
    static let contentType = "application/problem+json"

    static func status(of kind: NeuroplexError.Kind) -> HTTPResponse.Status {
        switch kind {
        case .badRequest: .badRequest
        case .invalidInput: .unprocessableContent
        case .unauthenticated: .unauthorized
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .conflict: .conflict
        case .preconditionFailed: .preconditionFailed
        case .payloadTooLarge: .contentTooLarge
        case .unsupportedMediaType: .unsupportedMediaType
        case .notAcceptable: .notAcceptable
        case .rateLimited: .tooManyRequests
        case .unavailable: .serviceUnavailable
        case .notImplemented: .notImplemented
        case .internal: .internalServerError
        }
    }

    /// The error as a ``NeuroplexError``, looking inside the OpenAPI runtime's and Hummingbird's wrappers.
    static func classify(_ error: any Error) -> NeuroplexError {
        switch error {
        case let error as NeuroplexError:
            return error
        case let error as ServerError:
            if let inner = error.underlyingError as? NeuroplexError { return inner }
            if let decoding = error.underlyingError as? DecodingError { return classify(decoding: decoding) }
            if let http = error.underlyingError as? HTTPError { return classify(http: http.status, error.causeDescription) }
            let status = error.httpStatus
            if status.code >= 500 {
                return NeuroplexError(.internal, code: .internal, "the server failed to handle the request")
            }
            return classify(http: status, error.causeDescription)
        case let error as HTTPError:
            return classify(http: error.status, error.body ?? "")
        case let error as any HTTPResponseError:
            return classify(http: error.status, "")
        case let error as DecodingError:
            return classify(decoding: error)
        default:
            return NeuroplexError(.internal, code: .internal, "the server failed to handle the request")
        }
    }

    private static func classify(http status: HTTPResponse.Status, _ detail: String) -> NeuroplexError {
        let message = detail.isEmpty ? status.reasonPhrase : detail
        switch status.code {
        case 400: return NeuroplexError(.badRequest, code: .badRequest, message)
        case 401: return NeuroplexError(.unauthenticated, code: .unauthenticated, message)
        case 403: return NeuroplexError(.forbidden, code: .forbidden, message)
        case 404, 405: return NeuroplexError(.notFound, code: .routeNotFound, "no route matches this method and path")
        case 406: return NeuroplexError(.notAcceptable, code: .notAcceptable, message)
        case 413:
            return NeuroplexError(.payloadTooLarge, code: .payloadTooLarge, "the request body is larger than allowed")
        case 415: return NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, message)
        case 422: return NeuroplexError(.invalidInput, code: .validationFailed, message)
        case 429: return NeuroplexError(.rateLimited, code: .rateLimited, message)
        default:
            if status.code >= 500 {
                return NeuroplexError(.internal, code: .internal, "the server failed to handle the request")
            }
            return NeuroplexError(.badRequest, code: .badRequest, message)
        }
    }

    /// A body that is not JSON is `invalid_json`; JSON of the wrong shape is `validation_failed` naming the field.
    private static func classify(decoding error: DecodingError) -> NeuroplexError {
        func path(_ codingPath: [any CodingKey]) -> String {
            var text = ""
            for key in codingPath {
                if let index = key.intValue {
                    text += "[\(index)]"
                } else {
                    text += text.isEmpty ? key.stringValue : "." + key.stringValue
                }
            }
            return text
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            if context.underlyingError != nil || context.debugDescription.contains("JSON") {
                return NeuroplexError(.badRequest, code: .invalidJSON, "the request body is not valid JSON")
            }
            return NeuroplexError(.badRequest, code: .validationFailed, context.debugDescription)
        case .dataCorrupted(let context):
            let field = path(context.codingPath)
            return NeuroplexError(
                .badRequest, code: .validationFailed, "\(field) is not valid: \(context.debugDescription)", field: field)
        case .keyNotFound(let key, let context):
            let field = path(context.codingPath + [key])
            return NeuroplexError(.badRequest, code: .validationFailed, "\(field) is required", field: field)
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            let field = path(context.codingPath)
            return NeuroplexError(
                .badRequest, code: .validationFailed, "\(field.isEmpty ? "the body" : field) must be \(describe(type))",
                field: field.isEmpty ? nil : field)
        @unknown default:
            return NeuroplexError(.badRequest, code: .invalidJSON, "the request body could not be read")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Int64.Type: "an integer"
        case is Double.Type, is Float.Type: "a number"
        case is Bool.Type: "a boolean"
        case is Date.Type: "an RFC 3339 timestamp"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : "an object"
        }
    }

    /// The problem document for `error` as a response.
    static func response(for error: NeuroplexError, requestID: String) -> Response {
        let status = status(of: error.kind)
        var document: [String: Any] = [
            "type": "https://neuroplex.dev/problems/\(error.code.rawValue.replacingOccurrences(of: "_", with: "-"))",
            "title": status.reasonPhrase,
            "status": status.code,
            "detail": error.message,
            "code": error.code.rawValue,
            "requestId": requestID,
        ]
        if let field = error.field { document["field"] = field }
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data()
        var headers: HTTPFields = [.contentType: contentType]
        if let retryAfter = error.retryAfterSeconds { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
