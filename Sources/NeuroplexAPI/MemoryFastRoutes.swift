import Foundation
import Hummingbird
import NeuroplexCore
import NeuroplexMemory
import ServiceLifecycle

/// `GET` and `PUT /memory/kv/{key}` as fast routes (see ``RouterTransport``): the value is parsed with
/// ``JSONValue/parse(_:maxDepth:)`` and written back with its own writer, with no generated conversion and no
/// `Codable` round trip. They answer exactly as the contract says; the memory API tests exercise them.
struct MemoryFastRoutes {
    let memory: Memory
    let watchHub: WatchHub

    /// The `{key}` path parameter, percent-decoded as the generated routes decode it (`user%3A1` is `user:1`).
    static func key(_ context: NeuroplexRequestContext) throws -> String {
        let raw = try context.parameters.require("key")
        guard raw.utf8.contains(UInt8(ascii: "%")) else { return raw }
        return raw.removingPercentEncoding ?? raw
    }

    var routes: [String: FastRoute] {
        [
            OpenAPIDocument.route("GET", "/memory/kv/{key}"): FastRoute { request, context, _ in
                try FastRoute.requireJSONAcceptable(request)
                let key = try Self.key(context)
                guard let entry = memory.get(key) else { throw NeuroplexError.notFound("key", id: key) }
                var out: [UInt8] = []
                out.reserveCapacity(64 + key.utf8.count)
                Self.writeEntry(key: key, value: entry.value, version: entry.version, expiresAt: entry.expiresAt, into: &out)
                return Self.response(out)
            },
            OpenAPIDocument.route("PUT", "/memory/kv/{key}"): FastRoute { request, context, _ in
                try FastRoute.requireJSONAcceptable(request)
                let key = try Self.key(context)
                let body = try await Self.jsonBody(request, context)
                let (value, ttl, condition) = try Self.putArguments(body)
                let result = try await memory.set(key, value, ttl: ttl, condition: condition)
                var out: [UInt8] = []
                Self.writeWritten(key: key, result: result, into: &out)
                return Self.response(out)
            },
            OpenAPIDocument.route("GET", "/memory/watch"): FastRoute { request, _, _ in
                let query = request.uri.queryParameters
                let pattern = query["pattern"].map(String.init) ?? "*"
                let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
                if let sent = query["since"] {
                    guard let since = Int64(sent) else {
                        throw NeuroplexError(.badRequest, code: .validationFailed, "since must be an integer", field: "since")
                    }
                    guard since >= 0 else { throw NeuroplexError.invalid("since", "since must not be negative") }
                    let frames = try APIHandler.changeStream(
                        memory, GlobPattern(pattern), since: UInt64(since), frames: watchHub.frames)
                    return Response(status: .ok, headers: headers, body: .init(asyncSequence: frames.map { ByteBuffer(bytes: $0) }))
                }
                // Live from now: the pattern's shared feed, joined before the answer starts.
                let reader = watchHub.join(pattern)
                return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                    try await withGracefulShutdownHandler {
                        for try await buffer in reader { try await writer.write(buffer) }
                    } onGracefulShutdown: {
                        reader.stop()
                    }
                    try await writer.finish(nil)
                })
            },
        ]
    }

    /// The value, `ttl` and condition of a `PUT /memory/kv/{key}` body `{value, ttl?, ifVersion?, ifAbsent?}`.
    /// - Throws: 400 for a body that is not such an object.
    static func putArguments(_ body: JSONValue) throws -> (value: JSONValue, ttl: Double?, condition: WriteCondition) {
        guard case .object(let fields) = body else {
            throw NeuroplexError.invalid("", "the body must be a JSON object with a value", kind: .badRequest)
        }
        guard let value = fields["value"] else {
            throw NeuroplexError.invalid("value", "value is required", kind: .badRequest)
        }
        var ttl: Double?
        if let sent = fields["ttl"], sent != .null {
            guard let seconds = sent.numberValue else {
                throw NeuroplexError.invalid("ttl", "ttl must be a number of seconds", kind: .badRequest)
            }
            ttl = seconds
        }
        var condition = WriteCondition.none
        if let sent = fields["ifVersion"], sent != .null {
            guard case .int(let version) = sent else {
                throw NeuroplexError.invalid("ifVersion", "ifVersion must be an integer", kind: .badRequest)
            }
            condition = .ifVersion(UInt64(clamping: version))
        }
        if let sent = fields["ifAbsent"], sent != .null {
            guard case .bool(let absent) = sent else {
                throw NeuroplexError.invalid("ifAbsent", "ifAbsent must be true or false", kind: .badRequest)
            }
            if absent {
                guard condition == .none else {
                    throw NeuroplexError.invalid("ifAbsent", "ifVersion and ifAbsent cannot be combined")
                }
                condition = .ifAbsent
            }
        }
        return (value, ttl, condition)
    }

    /// The answer to a `PUT`: `{key, version, expiresAt?}`.
    static func writeWritten(key: String, result: WriteResult, into out: inout [UInt8]) {
        out.reserveCapacity(64 + key.utf8.count)
        out += Array(#"{"key":"#.utf8)
        JSONValue.writeString(key, into: &out)
        out += Array(#","version":"#.utf8)
        out += Array(String(result.version ?? 0).utf8)
        writeExpiry(result.expiresAt, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    static func writeEntry(key: String, value: JSONValue, version: UInt64, expiresAt: Date?, into out: inout [UInt8]) {
        out += Array(#"{"key":"#.utf8)
        JSONValue.writeString(key, into: &out)
        out += Array(#","value":"#.utf8)
        value.write(into: &out)
        out += Array(#","version":"#.utf8)
        out += Array(String(version).utf8)
        writeExpiry(expiresAt, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    /// `,"expiresAt":"<RFC 3339>"`, or nothing for a key without expiry.
    static func writeExpiry(_ expiresAt: Date?, into out: inout [UInt8]) {
        guard let expiresAt else { return }
        out += Array(#","expiresAt":""#.utf8)
        out += Array(Timestamp.string(expiresAt).utf8)
        out.append(UInt8(ascii: "\""))
    }

    static func response(_ bytes: [UInt8]) -> Response {
        Response(
            status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The request body as JSON: 415 unless it is `application/json`, 400 `invalid_json` with the byte offset
    /// when it does not parse. The body limit was already enforced by ``BodyLimitMiddleware``.
    static func jsonBody(_ request: Request, _ context: NeuroplexRequestContext) async throws -> JSONValue {
        guard let type = request.headers[.contentType],
            type.lowercased().hasPrefix("application/json")
        else {
            throw NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, "send the body as application/json")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        do {
            return try JSONValue.parse(buffer.readableBytesView)
        } catch let error as JSONParseError {
            throw NeuroplexError(.badRequest, code: .invalidJSON, "the body is not JSON: \(error)")
        }
    }
}
