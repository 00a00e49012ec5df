import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

extension TestClientProtocol {
    /// A request with a raw body of the given content type.
    func send(
        _ method: HTTPRequest.Method, _ uri: String, key: String, body: String, contentType: String
    ) async throws -> TestResponse {
        try await execute(
            uri: uri, method: method, headers: [.authorization: "Bearer \(key)", .contentType: contentType],
            body: ByteBuffer(string: body))
    }
}

/// A labelled CSV of `rows` rows, larger than a small body limit.
func trafficCSV(rows: Int) -> String {
    var text = "f1,proto,blank,label\n"
    for i in 0..<rows {
        text += "\(Double(i) / 8),\(["tcp", "udp", "icmp"][i % 3]),\(i % 10 == 0 ? "" : "7"),\(i % 4 == 0 ? "attack" : "benign")\n"
    }
    return text
}

@Suite("Datasets over HTTP", .timeLimit(.minutes(3)))
struct DatasetAPITests {
    @Test("upload streams past the body limit; re-upload, get, list, stats and delete")
    func lifecycle() async throws {
        // A body limit far below the file: only the streamed upload route may take it.
        let configuration = try await testConfiguration(.sqlite, maxBodyBytes: 1024)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let csv = trafficCSV(rows: 400)
        try await app.test(.router) { client in
            let created = try await client.send(
                .post, "/ml/datasets/upload?name=traffic&label=label", key: admin, body: csv, contentType: "text/csv")
            #expect(created.status == .created, "\(created.text)")
            let dataset = created.json
            #expect(dataset["rows"] as? Int == 400 && dataset["label"] as? String == "label")
            #expect(dataset["name"] as? String == "traffic" && (dataset["sha256"] as? String)?.count == 64)
            let columns = (dataset["columns"] as? [[String: Any]] ?? []).map { "\($0["name"]!):\($0["type"]!)" }
            #expect(columns == ["f1:numeric", "proto:categorical", "blank:integer", "label:categorical"])
            let id = try #require(dataset["id"] as? String)

            let again = try await client.send(
                .post, "/ml/datasets/upload?name=copy&label=label", key: admin, body: csv, contentType: "text/csv")
            #expect(again.status == .ok && again.json["id"] as? String == id)
            #expect(try await client.send(.get, "/ml/datasets/\(id)", key: admin).json["name"] as? String == "traffic")

            let stats = try await client.send(.get, "/ml/datasets/\(id)/stats", key: admin)
            #expect(stats.status == .ok)
            let byName = Dictionary(
                uniqueKeysWithValues: (stats.json["columns"] as? [[String: Any]] ?? []).map { ($0["name"] as! String, $0) })
            #expect(byName["blank"]?["missing"] as? Int == 40)
            #expect((stats.json["labelDistribution"] as? [String: Int]) == ["attack": 100, "benign": 300])
            #expect((byName["f1"]?["quantiles"] as? [String: Double])?["p50"] == 24.9375)
            #expect(byName["proto"]?["labelCorrelationMethod"] as? String == "cramersV")

            // Other routes keep the body limit.
            expectProblem(
                try await client.send(.put, "/memory/kv/big", key: admin, json: #"{"value":"\#(String(repeating: "x", count: 2000))"}"#),
                .contentTooLarge, code: "payload_too_large")

            let listed = try await client.send(.get, "/ml/datasets?limit=10", key: admin)
            #expect((listed.json["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [id])
            #expect(try await client.send(.delete, "/ml/datasets/\(id)", key: admin).status == .noContent)
            expectProblem(try await client.send(.get, "/ml/datasets/\(id)", key: admin), .notFound, code: "not_found")
            expectProblem(try await client.send(.get, "/ml/datasets/\(id)/stats", key: admin), .notFound, code: "not_found")
        }
    }

    @Test("malformed uploads answer 400 naming line and column, an unknown label 422, and store nothing")
    func refusals() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let ragged = try await client.send(
                .post, "/ml/datasets/upload?name=ragged&label=label", key: admin,
                body: "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,y\n8,9,x\n", contentType: "text/csv")
            expectProblem(ragged, .badRequest, code: "malformed_dataset")
            #expect((ragged.json["detail"] as? String)?.hasPrefix("line 5, column 3 ('label')") == true)
            let quoting = try await client.send(
                .post, "/ml/datasets/upload?name=q", key: admin, body: "a,b\n1,\"2\n", contentType: "text/csv")
            expectProblem(quoting, .badRequest, code: "malformed_dataset")
            #expect((quoting.json["detail"] as? String)?.hasPrefix("line 2, column 2") == true)
            expectProblem(
                try await client.send(
                    .post, "/ml/datasets/upload?name=nolabel&label=missing_col", key: admin, body: "a,b\n1,2\n",
                    contentType: "text/csv"),
                .unprocessableContent, code: "unknown_column")
            expectProblem(
                try await client.send(
                    .post, "/ml/datasets/upload?label=a", key: admin, body: "a,b\n1,2\n", contentType: "text/csv"),
                .badRequest, code: "validation_failed")
            expectProblem(
                try await client.send(
                    .post, "/ml/datasets/upload?name=x", key: admin, body: "{}", contentType: "application/json"),
                .unsupportedMediaType, code: "unsupported_media_type")
            let listed = try await client.send(.get, "/ml/datasets", key: admin)
            #expect((listed.json["data"] as? [Any])?.isEmpty == true)
        }
        let blobs = configuration.dataDirectory + "/blobs"
        #expect((FileManager.default.enumerator(atPath: blobs)?.allObjects ?? []).isEmpty)
    }

    @Test("multipart and NDJSON uploads; scopes")
    func formatsAndScopes() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let boundary = "----neuroplex-test"
            let form = [
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nignored\r\n",
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"t.csv\"\r\n",
                "Content-Type: text/csv\r\n\r\nx,label\r\n1,a\r\n2,b\r\n3,a\r\n",
                "\r\n--\(boundary)--\r\n",
            ].joined()
            let multipart = try await client.send(
                .post, "/ml/datasets/upload?name=form&label=label", key: admin, body: form,
                contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(multipart.status == .created, "\(multipart.text)")
            #expect(multipart.json["rows"] as? Int == 3 && multipart.json["format"] as? String == "csv")

            // A form without a file part, and a file part named .ndjson (its format follows the name).
            let noFile = "--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--\(boundary)--\r\n"
            expectProblem(
                try await client.send(
                    .post, "/ml/datasets/upload?name=form", key: admin, body: noFile,
                    contentType: "multipart/form-data; boundary=\(boundary)"),
                .badRequest, code: "bad_request")
            let lines = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"e.ndjson\"\r\n\r\n"
                + "{\"v\": true}\n{\"v\": false}\n\r\n--\(boundary)--\r\n"
            let fromName = try await client.send(
                .post, "/ml/datasets/upload?name=lines", key: admin, body: lines,
                contentType: "multipart/form-data; boundary=\(boundary)")
            #expect(fromName.status == .created && fromName.json["format"] as? String == "ndjson", "\(fromName.text)")
            #expect((fromName.json["columns"] as? [[String: Any]])?.first?["type"] as? String == "boolean")

            let ndjson = try await client.send(
                .post, "/ml/datasets/upload?name=events&label=label", key: admin,
                body: "{\"x\": 1, \"label\": \"a\"}\n{\"x\": 2.5, \"label\": \"b\"}\n", contentType: "application/x-ndjson")
            #expect(ndjson.status == .created, "\(ndjson.text)")
            #expect(ndjson.json["format"] as? String == "ndjson" && ndjson.json["rows"] as? Int == 2)
            let ndjsonColumns = (ndjson.json["columns"] as? [[String: Any]])?.map { $0["type"] as? String }
            #expect(ndjsonColumns == ["numeric", "categorical"])

            let created = try await client.send(
                .post, "/keys", key: admin, json: #"{"name":"reader","scopes":["ml:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            #expect(try await client.send(.get, "/ml/datasets", key: reader).status == .ok)
            expectProblem(
                try await client.send(
                    .post, "/ml/datasets/upload?name=x", key: reader, body: "a\n1\n", contentType: "text/csv"),
                .forbidden, code: "insufficient_scope")
            let id = try #require(ndjson.json["id"] as? String)
            expectProblem(try await client.send(.delete, "/ml/datasets/\(id)", key: reader), .forbidden, code: "insufficient_scope")
            expectProblem(try await client.send(.get, "/ml/datasets"), .unauthorized, code: "unauthenticated")
        }
    }

    @Test("a client that expects 100-continue gets it before sending the body, then the upload's answer")
    func expectContinue() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let body = "x,label\n1,a\n2,b\n"
            let connection = try RawConnection(port: try #require(client.port))
            defer { connection.close() }
            // As curl does for a large body: the head alone, then the body only once 100 Continue has arrived.
            try connection.send(
                "POST /ml/datasets/upload?name=continue&label=label HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    + "Authorization: Bearer \(admin)\r\nContent-Type: text/csv\r\n"
                    + "Content-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
            #expect(try connection.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 100 Continue\r\n"))
            try connection.send(body)
            #expect(try connection.receive(until: "\r\n\r\n").hasPrefix("HTTP/1.1 201 Created\r\n"))
        }
    }
}

/// A blocking TCP connection to 127.0.0.1 for speaking raw HTTP/1.1, with a 10 s limit on every read.
private struct RawConnection {
    let descriptor: Int32

    init(port: Int) throws {
        #if canImport(Glibc)
        let stream = Int32(SOCK_STREAM.rawValue)
        #else
        let stream = SOCK_STREAM
        #endif
        descriptor = socket(AF_INET, stream, 0)
        guard descriptor >= 0 else { throw TimedOut(description: "socket() failed") }
        var limit = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            Foundation.close(descriptor)
            throw TimedOut(description: "connect() failed")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw TimedOut(description: "write() failed")
        }
    }

    /// Reads until `marker` has arrived (or the connection ends), and returns what was read.
    func receive(until marker: String) throws -> String {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1)
        // One byte at a time, so that nothing after the marker (the next response) is taken.
        while !String(decoding: received, as: UTF8.self).hasSuffix(marker) {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, 1) }
            guard count > 0 else { throw TimedOut(description: "no more bytes after \(received.count)") }
            received.append(buffer[0])
        }
        return String(decoding: received, as: UTF8.self)
    }

    func close() { Foundation.close(descriptor) }
}
