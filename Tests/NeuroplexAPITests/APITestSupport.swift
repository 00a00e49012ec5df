import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

/// A configuration for a test server of its own: a fresh data directory, a fresh database, port 0.
func testConfiguration(_ engine: Database.Engine, maxBodyBytes: Int = 32 * 1024 * 1024) async throws
    -> ServerConfiguration
{
    let location = try await makeDatabaseLocation(engine)
    var configuration = ServerConfiguration()
    configuration.dataDirectory = location.dataDirectory
    configuration.databaseURL = location.url
    configuration.port = 0
    configuration.respPort = 0  // off; the Redis-protocol tests pick a free port
    configuration.maxBodyBytes = maxBodyBytes
    return configuration
}

func adminKey(_ configuration: ServerConfiguration) throws -> String {
    try String(contentsOfFile: configuration.adminKeyPath, encoding: .utf8)
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

extension TestClientProtocol {
    /// A request with an optional bearer key and JSON body.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String? = nil, json: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let key { headers[.authorization] = "Bearer \(key)" }
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await execute(
            uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var json: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    }
    var text: String { String(buffer: body) }
}

/// Checks that the answer is a problem document with this status and code.
func expectProblem(
    _ response: TestResponse, _ status: HTTPResponse.Status, code: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(response.status == status, "status", sourceLocation: sourceLocation)
    #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
    let document = response.json
    #expect(document["code"] as? String == code, "\(response.text)", sourceLocation: sourceLocation)
    #expect(document["status"] as? Int == Int(status.code), sourceLocation: sourceLocation)
    #expect((document["requestId"] as? String)?.isEmpty == false, sourceLocation: sourceLocation)
    #expect(document["title"] is String, sourceLocation: sourceLocation)
}
