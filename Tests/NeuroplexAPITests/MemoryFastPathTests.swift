import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

/// `GET`/`PUT /memory/kv/{key}` answered on the event loop (`MemoryKVChannelHandler`) must be indistinguishable
/// from the router's answers: the same requests go to a live server with the fast path and to one without it.
@Suite("Memory key-value fast path over a real connection", .timeLimit(.minutes(3)))
struct MemoryFastPathTests {
    /// A request of the script, sent alike to both servers.
    struct Step {
        var method: HTTPRequest.Method
        var path: String
        var json: String?
        var headers: HTTPFields = [:]
        var key: KeyChoice = .admin
    }

    enum KeyChoice { case admin, reader, none }

    /// What a client sees of an answer, with the parts that differ by nature (request ids, dates) left out.
    struct Seen: Equatable, CustomStringConvertible {
        var status: Int
        var contentType: String?
        var body: String
        var causalToken: Bool
        var requestID: String?
        var description: String { "\(status) \(contentType ?? "-") causal:\(causalToken) id:\(requestID ?? "-") \(body)" }
    }

    static let script: [Step] = [
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":{"name":"Alice","age":30}}"#),
        Step(method: .get, path: "/memory/kv/user:1"),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":[1,2.5,"x",null,true]}"#),
        Step(method: .get, path: "/memory/kv/user:1", headers: [.init("X-Request-ID")!: "trace-me-7"]),
        Step(method: .get, path: "/memory/kv/user%3A1"),
        Step(method: .put, path: "/memory/kv/space%20key%2Fx", json: #"{"value":"s"}"#),
        Step(method: .get, path: "/memory/kv/space%20key%2Fx"),
        Step(method: .get, path: "/memory/kv/missing"),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":1,"ifVersion":999}"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":1,"ifAbsent":true}"#),
        Step(method: .put, path: "/memory/kv/fresh", json: #"{"value":1,"ifAbsent":true}"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":2,"ifVersion":3}"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"ttl":5}"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":1,"ttl":-1}"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"[1]"#),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":1}"#, headers: [.contentType: "text/plain"]),
        Step(method: .get, path: "/memory/kv/user:1", headers: [.accept: "text/html"]),
        Step(method: .get, path: "/memory/kv/user:1", headers: [.accept: "text/html, application/json;q=0.5"]),
        Step(method: .get, path: "/memory/kv/user:1", key: .none),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":1}"#, key: .reader),
        Step(method: .get, path: "/memory/kv/user:1", key: .reader),
        Step(method: .put, path: "/memory/kv/big", json: #"{"value":""# + String(repeating: "b", count: 70_000) + #""}"#),
        Step(method: .get, path: "/memory/kv/big"),
        Step(method: .put, path: "/memory/kv/" + String(repeating: "k", count: 1100), json: #"{"value":1}"#),
        Step(method: .get, path: "/memory/kv/user:1?x=1"),
        Step(method: .put, path: "/memory/kv/user:1", json: #"{"value":{"nested":{"deep":true}}}"#),
        Step(method: .get, path: "/memory/kv/user:1"),
        // Accept sent twice (read as one list); a causal token (left to the router, which waits for it).
        Step(method: .get, path: "/memory/kv/user:1", headers: [.accept: "text/html", .accept: "application/json"]),
        Step(method: .get, path: "/memory/kv/user:1", headers: [.init("Neuroplex-Causal-Token")!: "c1:1"]),
    ]

    @Test("every answer equals the router's, and both count the same metrics")
    func sameAnswers() async throws {
        let withFastPath = try await run(fastPath: true)
        let withoutFastPath = try await run(fastPath: false)
        #expect(withFastPath.answers.count == Self.script.count)
        for (index, (fast, router)) in zip(withFastPath.answers, withoutFastPath.answers).enumerated() {
            let step = Self.script[index]
            #expect(fast == router, "\(step.method) \(step.path.prefix(60)): fast path \(fast) vs router \(router)")
        }
        // The answers this test relies on are what the contract says (so that equal answers are right ones).
        #expect(withFastPath.answers[1].status == 200 && withFastPath.answers[1].body.contains(#""age":30"#))
        #expect(withFastPath.answers[3].requestID == "trace-me-7")
        #expect(withFastPath.answers[7].status == 404 && withFastPath.answers[8].status == 412)
        #expect(withFastPath.answers[20].status == 403 && withFastPath.answers[21].status == 200)
        #expect(withFastPath.answers[23].status == 200 && withFastPath.answers[23].body.count > 70_000)
        #expect(withFastPath.metrics == withoutFastPath.metrics, "\(withFastPath.metrics) vs \(withoutFastPath.metrics)")
        #expect(withFastPath.answers[28].status == 200 && withFastPath.answers[29].status == 200)
        #expect(withFastPath.metrics.contains { $0.hasSuffix(#"route="/memory/kv/{key}",method="GET",status="200"} 11"#) })
    }

    /// Runs the script against a fresh live server; returns the answers and its `http_requests_total` lines for
    /// the key-value route.
    private func run(fastPath: Bool) async throws -> (answers: [Seen], metrics: [String]) {
        var configuration = try await testConfiguration(.sqlite)
        configuration.httpMemoryFastPath = fastPath
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        return try await app.test(.live) { client in
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"reader","scopes":["memory:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            var answers: [Seen] = []
            for step in Self.script {
                let key: String? = switch step.key {
                case .admin: admin
                case .reader: reader
                case .none: nil
                }
                let response = try await client.send(step.method, step.path, key: key, json: step.json, headers: step.headers)
                answers.append(Self.seen(response))
            }
            let metrics = try await client.send(.get, "/metrics", key: admin).text
                .split(separator: "\n").filter { $0.hasPrefix("http_requests_total{route=\"/memory/kv/{key}\"") }
                .map(String.init).sorted()
            return (answers, metrics)
        }
    }

    static func seen(_ response: TestResponse) -> Seen {
        var body = response.text
        // A problem names its request id; the servers number requests alike but from different random bases.
        if var document = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any],
            document["requestId"] != nil
        {
            document["requestId"] = "-"
            body = String(decoding: (try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data(), as: UTF8.self)
        }
        let sentID = response.headers[.init("X-Request-ID")!]
        return Seen(
            status: Int(response.status.code), contentType: response.headers[.contentType], body: body,
            causalToken: response.headers[.init("Neuroplex-Causal-Token")!] != nil,
            requestID: sentID.map { $0.count > 16 && $0.allSatisfy(\.isHexDigit) ? "generated" : $0 })
    }

    @Test("pipelined requests on one connection are answered in order, with sync durability")
    func pipelined() async throws {
        let configuration = try await testConfiguration(.sqlite)
        #expect(configuration.memoryDurability == "sync")
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            func request(_ method: String, _ path: String, _ body: String? = nil, close: Bool = false) -> String {
                var text = "\(method) \(path) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(admin)\r\n"
                if let body { text += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
                if close { text += "Connection: close\r\n" }
                return text + "\r\n" + (body ?? "")
            }
            // Fast, router (a 404 and a 400 are the router's), fast again, and a write that waits for the disk
            // between them: answers must still come back in this order. A HEAD among them: NIO's encoder matches
            // each response to its request's method (a HEAD's has no body), so every answer must pass through it
            // in turn, or a later 404 loses its body.
            let pipeline = [
                request("PUT", "/memory/kv/p", #"{"value":1}"#),
                request("GET", "/memory/kv/p"),
                request("GET", "/memory/kv/absent"),
                request("PUT", "/memory/kv/p", #"{"value":"#),
                request("PUT", "/memory/kv/p", #"{"value":2}"#),
                request("GET", "/keys"),
                request("HEAD", "/memory/kv/p"),
                request("GET", "/memory/kv/p"),
                request("GET", "/memory/kv/absent"),
                request("PUT", "/memory/kv/p", #"{"value":3,"ifVersion":1}"#),
                request("GET", "/memory/kv/p", close: true),
            ].joined()
            // A blocking socket, on a thread of its own: blocking a concurrency pool thread could starve the server.
            let answer = try await withCheckedThrowingContinuation { (done: CheckedContinuation<String, any Error>) in
                Thread { done.resume(with: Result { try Self.exchange(port: port, bytes: Array(pipeline.utf8)) }) }.start()
            }
            let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
            #expect(statuses == ["200", "200", "404", "400", "200", "200", "200", "200", "404", "412", "200"], "\(answer.prefix(2000))")
            #expect(answer.components(separatedBy: #""code":"not_found""#).count == 3, "\(answer)")
            #expect(answer.hasSuffix(#""value":2,"version":2}"#), "\(answer.suffix(300))")
        }
    }

    @Test("many connections writing at once with sync durability: each gets every answer, in order, once on disk")
    func concurrentDurableWriters() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            // Each connection pipelines 20 writes of its own key and a read that closes it. The answers of all the
            // connections of an event loop wait for the log's group commits together.
            func script(_ connection: Int) -> [UInt8] {
                var text = ""
                for value in 0..<20 {
                    let body = #"{"value":\#(value)}"#
                    text += "PUT /memory/kv/w\(connection) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(admin)\r\n"
                        + "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                }
                text += "GET /memory/kv/w\(connection) HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer \(admin)\r\n"
                    + "Connection: close\r\n\r\n"
                return Array(text.utf8)
            }
            let answers = try await withThrowingTaskGroup(of: (Int, String).self) { group in
                for connection in 0..<16 {
                    let bytes = script(connection)
                    group.addTask {
                        let answer = try await withCheckedThrowingContinuation { (done: CheckedContinuation<String, any Error>) in
                            Thread { done.resume(with: Result { try Self.exchange(port: port, bytes: bytes) }) }.start()
                        }
                        return (connection, answer)
                    }
                }
                return try await group.reduce(into: [Int: String]()) { $0[$1.0] = $1.1 }
            }
            #expect(answers.count == 16)
            for (connection, answer) in answers {
                let statuses = answer.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
                #expect(statuses == Array(repeating: "200", count: 21), "connection \(connection): \(answer.prefix(500))")
                // Versions grow within the connection (each write answered after the one before it).
                let versions = answer.components(separatedBy: #""version":"#).dropFirst().compactMap { Int($0.prefix { $0.isNumber }) }
                #expect(versions.count == 21 && versions.dropLast() == versions.dropLast().sorted(), "\(versions)")
                #expect(answer.contains(#""value":19"#), "connection \(connection): \(answer.suffix(200))")
            }
        }
    }

    /// Sends `bytes` on a new connection to 127.0.0.1:`port` and reads until the server closes it.
    static func exchange(port: Int, bytes: [UInt8]) throws -> String {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw POSIXError(.EIO) }
        defer { close(socket) }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { send(socket, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { throw POSIXError(.EPIPE) }
            sent += count
        }
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}
