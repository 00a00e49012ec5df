import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NeuroplexAPI
import NeuroplexCore
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("HTTP API", .timeLimit(.minutes(3)))
struct APITests {
    @Test("health, readiness, metrics, contract and docs are open and well-formed", arguments: TestEngines.all)
    func operations(engine: Database.Engine) async throws {
        let configuration = try await testConfiguration(engine)
        let app = try await buildApplication(configuration, logger: quietLogger)
        try await app.test(.router) { client in
            let health = try await client.send(.get, "/health")
            #expect(health.status == .ok)
            #expect(health.json["status"] as? String == "healthy")

            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.status == .ok)
            let checks = ready.json["checks"] as? [[String: Any]] ?? []
            #expect(Set(checks.compactMap { $0["name"] as? String }) == ["database", "disk"])
            #expect(checks.first { $0["name"] as? String == "database" }?["message"] as? String == engine.rawValue)

            let spec = try await client.send(.get, "/openapi.json")
            #expect(spec.json["openapi"] as? String == "3.1.0")
            let paths = spec.json["paths"] as? [String: Any] ?? [:]
            #expect(paths["/keys/{id}"] != nil)

            let docs = try await client.send(.get, "/docs")
            #expect(docs.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(docs.text.contains("/keys/{id}") && docs.text.contains("scope: admin"))

            let admin = try adminKey(configuration)
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"m","scopes":["admin"]}"#)
            let id = created.json["id"] as? String ?? ""
            _ = try await client.send(.get, "/keys/\(id)", key: admin)
            _ = try await client.send(.get, "/no/such/path")
            let metrics = try await client.send(.get, "/metrics")
            #expect(metrics.status == .ok)
            #expect(metrics.text.contains(#"http_requests_total{route="/keys/{id}",method="GET",status="200"} 1"#))
            #expect(metrics.text.contains(#"http_requests_total{route="unmatched",method="GET",status="404"} 1"#))
            #expect(metrics.text.contains("http_request_duration_seconds_bucket"))
            #expect(metrics.text.contains("process_resident_memory_bytes"))
        }
    }

    @Test("keys: create shows the secret once, list and get never do, revoke stops the key", arguments: TestEngines.all)
    func keyLifecycle(engine: Database.Engine) async throws {
        let configuration = try await testConfiguration(engine)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let created = try await client.send(
                .post, "/keys", key: admin,
                json: #"{"name":"reader","scopes":["memory:read"],"expiresAt":"2099-01-01T00:00:00.500Z","rateLimit":{"limit":100,"windowSeconds":60}}"#)
            #expect(created.status == .created)
            let secret = created.json["key"] as? String ?? ""
            let id = created.json["id"] as? String ?? ""
            #expect(secret.hasPrefix("nplx_") && id.hasPrefix("key_"))
            #expect(created.json["expiresAt"] as? String == "2099-01-01T00:00:00.500Z")
            #expect((created.json["createdAt"] as? String)?.hasSuffix("Z") == true)

            let listed = try await client.send(.get, "/keys", key: admin)
            #expect(listed.status == .ok)
            #expect(listed.text.contains(id) && !listed.text.contains(secret))
            let data = listed.json["data"] as? [[String: Any]] ?? []
            #expect(data.count == 2)

            let one = try await client.send(.get, "/keys/\(id)", key: admin)
            #expect(one.json["name"] as? String == "reader" && one.json["key"] == nil)
            #expect((one.json["rateLimit"] as? [String: Any])?["limit"] as? Int == 100)
            // GET /keys/{id} is a hand-written fast route; it must say exactly what the generated listing says.
            let listedOne = data.first { $0["id"] as? String == id } ?? [:]
            #expect(NSDictionary(dictionary: one.json) == NSDictionary(dictionary: listedOne))
            expectProblem(try await client.send(.get, "/keys/\(id)", key: secret), .forbidden, code: "insufficient_scope")
            for path in ["/keys", "/keys/\(id)"] {
                expectProblem(
                    try await client.send(.get, path, key: admin, headers: [.accept: "text/html"]), .notAcceptable,
                    code: "not_acceptable")
                #expect(try await client.send(.get, path, key: admin, headers: [.accept: "text/html, */*;q=0.1"]).status == .ok)
            }

            expectProblem(try await client.send(.get, "/keys", key: secret), .forbidden, code: "insufficient_scope")
            #expect(try await client.send(.delete, "/keys/\(id)", key: admin).status == .noContent)
            expectProblem(try await client.send(.get, "/keys", key: secret), .unauthorized, code: "revoked_api_key")
            let revoked = try await client.send(.get, "/keys/\(id)", key: admin)
            #expect(revoked.json["revokedAt"] is String)
            expectProblem(try await client.send(.delete, "/keys/key_nope", key: admin), .notFound, code: "not_found")
        }
    }

    @Test("client mistakes get 4xx problem documents and change nothing")
    func clientMistakes() async throws {
        let configuration = try await testConfiguration(.sqlite, maxBodyBytes: 4096)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            expectProblem(try await client.send(.get, "/keys"), .unauthorized, code: "unauthenticated")
            expectProblem(
                try await client.send(.get, "/keys", key: "nplx_not_a_real_key"), .unauthorized, code: "invalid_api_key")
            expectProblem(
                try await client.send(.get, "/keys", headers: [.authorization: "Basic YTpi"]), .unauthorized,
                code: "unauthenticated")
            // The scheme is case-insensitive and surrounding blanks do not matter (RFC 9110 §11.1).
            #expect(try await client.send(.get, "/keys", headers: [.authorization: "bearer  \(admin) "]).status == .ok)
            expectProblem(
                try await client.send(.get, "/keys", headers: [.authorization: "Bearer"]), .unauthorized,
                code: "unauthenticated")
            expectProblem(
                try await client.send(.post, "/keys", key: admin, json: "{not json"), .badRequest, code: "invalid_json")
            let missing = try await client.send(.post, "/keys", key: admin, json: #"{"scopes":["admin"]}"#)
            expectProblem(missing, .badRequest, code: "validation_failed")
            #expect(missing.json["field"] as? String == "name")
            let wrongType = try await client.send(.post, "/keys", key: admin, json: #"{"name":"x","scopes":"admin"}"#)
            expectProblem(wrongType, .badRequest, code: "validation_failed")
            #expect(wrongType.json["field"] as? String == "scopes")
            let badDate = try await client.send(
                .post, "/keys", key: admin, json: #"{"name":"x","scopes":["admin"],"expiresAt":"tomorrow"}"#)
            expectProblem(badDate, .badRequest, code: "validation_failed")
            let unknownScope = try await client.send(
                .post, "/keys", key: admin, json: #"{"name":"x","scopes":["root"]}"#)
            expectProblem(unknownScope, .unprocessableContent, code: "validation_failed")
            #expect(unknownScope.json["field"] as? String == "scopes[0]")
            expectProblem(
                try await client.send(
                    .post, "/keys", key: admin, json: "name=x", headers: [.contentType: "text/plain"]),
                .unsupportedMediaType, code: "unsupported_media_type")
            expectProblem(try await client.send(.get, "/no/such/route", key: admin), .notFound, code: "route_not_found")
            expectProblem(try await client.send(.get, "/keys/key_missing", key: admin), .notFound, code: "not_found")
            expectProblem(try await client.send(.get, "/keys?limit=0", key: admin), .unprocessableContent, code: "validation_failed")
            expectProblem(
                try await client.send(.get, "/keys?cursor=zzz", key: admin), .unprocessableContent, code: "validation_failed")
            let big = String(repeating: "x", count: 5000)
            expectProblem(
                try await client.send(.post, "/keys", key: admin, json: #"{"name":"\#(big)","scopes":["admin"]}"#),
                .contentTooLarge, code: "payload_too_large")
            // None of the refused requests created anything: only the admin key exists.
            let listed = try await client.send(.get, "/keys", key: admin)
            #expect((listed.json["data"] as? [Any])?.count == 1)
        }
    }

    @Test("a key over its rate limit gets 429 with Retry-After")
    func rateLimit() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let created = try await client.send(
                .post, "/keys", key: admin, json: #"{"name":"l","scopes":["admin"],"rateLimit":{"limit":2,"windowSeconds":60}}"#)
            let limited = created.json["key"] as? String ?? ""
            #expect(try await client.send(.get, "/keys", key: limited).status == .ok)
            #expect(try await client.send(.get, "/keys", key: limited).status == .ok)
            let refused = try await client.send(.get, "/keys", key: limited)
            expectProblem(refused, .tooManyRequests, code: "rate_limited")
            // One request more is allowed every 30 s; the wait counts from the key's first requests, so a slow
            // machine may already have spent a second of it.
            let retryAfter = refused.headers[.retryAfter].flatMap { Int($0) }
            #expect(retryAfter.map { (25...30).contains($0) } == true, "Retry-After: \(String(describing: retryAfter))")
            // The limit is the key's own: the admin key is not affected.
            #expect(try await client.send(.get, "/keys", key: admin).status == .ok)
        }
    }

    @Test("X-Request-ID is echoed, made when absent, and on the log lines of the request")
    func requestIDs() async throws {
        let capture = LogCapture()
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: capture.logger())
        try await app.test(.router) { client in
            let echoed = try await client.send(.get, "/keys", headers: [HTTPField.Name("X-Request-ID")!: "trace-77"])
            #expect(echoed.headers[HTTPField.Name("X-Request-ID")!] == "trace-77")
            #expect(echoed.json["requestId"] as? String == "trace-77")
            #expect(capture.all.contains { $0.contains("trace-77") && $0.contains("request refused") })

            let made = try await client.send(.get, "/health")
            let id = made.headers[HTTPField.Name("X-Request-ID")!] ?? ""
            #expect(id.count >= 16)
            let unsafe = try await client.send(.get, "/health", headers: [HTTPField.Name("X-Request-ID")!: String(repeating: "a", count: 300)])
            #expect(unsafe.headers[HTTPField.Name("X-Request-ID")!]?.count ?? 0 < 300)
        }
    }

    @Test("no secret reaches a log line, at any level, or any file but admin.key", arguments: TestEngines.all)
    func secretsNeverLeak(engine: Database.Engine) async throws {
        let capture = LogCapture()
        let configuration = try await testConfiguration(engine)
        let app = try await buildApplication(configuration, logger: capture.logger())
        let admin = try adminKey(configuration)
        let secrets = try await app.test(.router) { client in
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"s","scopes":["ml:read"]}"#)
            let secret = created.json["key"] as? String ?? ""
            _ = try await client.send(.get, "/keys", key: secret)  // refused: logged at debug
            _ = try await client.send(.get, "/keys", key: admin)
            _ = try await client.send(.delete, "/keys/\(created.json["id"] as? String ?? "")", key: admin)
            _ = try await client.send(.get, "/keys", key: secret)
            return [admin, secret]
        }
        #expect(capture.all.count > 5)
        for secret in secrets where !secret.isEmpty {
            #expect(capture.all.allSatisfy { !$0.contains(secret) })
            let enumerator = FileManager.default.enumerator(atPath: configuration.dataDirectory)
            while let name = enumerator?.nextObject() as? String {
                guard name != "admin.key" else { continue }
                let data = FileManager.default.contents(atPath: configuration.dataDirectory + "/" + name) ?? Data()
                #expect(data.range(of: Data(secret.utf8)) == nil, "\(name) holds a secret")
            }
        }
    }

    @Test("a file and environment configure the server; flags win over both")
    func configurationPrecedence() async throws {
        let directory = makeTemporaryDirectory()
        let file = directory + "/neuroplex.yaml"
        try "port: 9001\nhost: 0.0.0.0\nlog:\n  level: debug\ndata:\n  dir: /from/file\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let configuration = try await ServerConfiguration.load(
            flags: ["data.dir": "/from/flag"],
            environment: ["NEUROPLEX_PORT": "9002", "NEUROPLEX_LOG_FORMAT": "json"], configFile: file)
        #expect(configuration.port == 9002)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logFormat == .json)
        #expect(configuration.dataDirectory == "/from/flag")
        #expect(configuration.respPort == 6380)

        let json = directory + "/neuroplex.json"
        try #"{"resp": {"port": 7000}}"#.write(toFile: json, atomically: true, encoding: .utf8)
        #expect(try await ServerConfiguration.load(flags: [:], environment: [:], configFile: json).respPort == 7000)

        for (environment, field) in [
            (["NEUROPLEX_PORT": "eighty"], "port"), (["NEUROPLEX_PORT": "70000"], "port"),
            (["NEUROPLEX_LOG_LEVEL": "loud"], "log.level"),
        ] {
            let error = await #expect(throws: NeuroplexError.self) {
                _ = try await ServerConfiguration.load(flags: [:], environment: environment, configFile: nil)
            }
            #expect(error?.field == field)
        }
        await #expect(throws: NeuroplexError.self) {
            _ = try await ServerConfiguration.load(flags: [:], environment: [:], configFile: directory + "/missing.json")
        }
    }
}
