import Foundation
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

/// A minimal blocking client over a loopback socket: sends raw commands (Redis protocol) or raw bytes, reads raw
/// replies. `receiveBuffer` shrinks the socket's receive buffer (a client that reads slowly).
final class RawRESPClient: @unchecked Sendable {
    private let descriptor: Int32

    init(port: Int, receiveBuffer: Int32? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        if var size = receiveBuffer {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(descriptor) }

    /// Encodes commands as RESP arrays and sends them in one write (a pipeline).
    func send(_ commands: [[String]]) {
        var bytes: [UInt8] = []
        for command in commands {
            bytes += Array("*\(command.count)\r\n".utf8)
            for argument in command { bytes += Array("$\(argument.utf8.count)\r\n\(argument)\r\n".utf8) }
        }
        _ = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
    }

    /// Sends raw bytes, `chunk` bytes per write (a command split across reads).
    func sendRaw(_ text: String, chunk: Int = .max) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + chunk)
            _ = bytes[offset..<end].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            offset = end
        }
    }

    /// Reads until `expected` is a prefix of what arrived (or the timeout passes), returning what arrived.
    ///
    /// The blocking reads run on a thread of their own: blocking one of the few threads of Swift's cooperative pool
    /// could starve the server under test, whose slower commands run on that pool.
    func read(until expected: String) async -> String {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: self.readBlocking(until: expected)) }
            thread.start()
        }
    }

    /// Reads until what arrived contains `expected` (or the timeout passes), returning all that arrived.
    func read(untilContaining expected: String) async -> String {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var received: [UInt8] = []
                var chunk = [UInt8](repeating: 0, count: 65536)
                let wanted = Array(expected.utf8)
                // Only the new bytes (and the ones just before, where the text may begin) are searched each time.
                var searched = 0
                while received[max(0, searched - wanted.count)...].firstRange(of: wanted) == nil {
                    searched = received.count
                    let count = chunk.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                    if count <= 0 { break }
                    received += chunk[0..<count]
                }
                continuation.resume(returning: String(decoding: received, as: UTF8.self))
            }
            thread.start()
        }
    }

    /// Whether the server closes the connection (rather than the read timing out), reading anything it sends
    /// before closing.
    func closedByServer() async -> Bool {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                var chunk = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = chunk.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                    if count <= 0 {
                        continuation.resume(returning: count == 0)
                        return
                    }
                }
            }
            thread.start()
        }
    }

    private func readBlocking(until expected: String) -> String {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !String(decoding: received, as: UTF8.self).hasPrefix(expected) {
            let count = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

@Suite("Redis protocol", .timeLimit(.minutes(3)))
struct RESPTests {
    static func freePort() throws -> Int {
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(probe) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("AUTH is required; strings, counters, expiry, pipelining, MULTI/EXEC and publish/subscribe work, shared with HTTP")
    func commands() async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.respPort = try Self.freePort()
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let port = configuration.respPort
        try await app.test(.live) { client in
            let redis = try await Self.connect(port)
            redis.send([["GET", "a"]])
            #expect(await redis.read(until: "-NOAUTH").hasPrefix("-NOAUTH"))
            redis.send([["AUTH", "nplx_wrong"]])
            #expect(await redis.read(until: "-WRONGPASS").hasPrefix("-WRONGPASS"))
            redis.send([["AUTH", admin]])
            #expect(await redis.read(until: "+OK\r\n") == "+OK\r\n")
            // A pipeline: every reply, in order, however the bytes arrive.
            redis.send([["SET", "greeting", "hello"], ["GET", "greeting"], ["SET", "n", "5"], ["INCRBY", "n", "10"],
                        ["SET", "greeting", "x", "NX"], ["EXPIRE", "greeting", "100"], ["TTL", "greeting"], ["EXISTS", "greeting", "n", "zz"]])
            let expected = "+OK\r\n$5\r\nhello\r\n+OK\r\n:15\r\n$-1\r\n:1\r\n:100\r\n:2\r\n"
            #expect(await redis.read(until: expected) == expected)
            redis.send([["MULTI"], ["INCR", "n"], ["GET", "n"], ["EXEC"]])
            let transaction = "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:16\r\n$2\r\n16\r\n"
            #expect(await redis.read(until: transaction) == transaction)
            redis.send([["HELLO", "3"]])
            #expect(await redis.read(until: "%7").hasPrefix("%7"))

            let http = try await client.execute(
                uri: "/memory/kv/greeting", method: .get, headers: [.authorization: "Bearer \(admin)"])
            #expect(String(buffer: http.body).contains(#""value":"hello""#))

            // Publish/subscribe across connections and protocols.
            let subscriber = try RawRESPClient(port: port)
            subscriber.send([["AUTH", admin], ["SUBSCRIBE", "news"], ["PSUBSCRIBE", "alerts.*"]])
            let subscribed = "+OK\r\n*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$10\r\npsubscribe\r\n$8\r\nalerts.*\r\n:2\r\n"
            #expect(await subscriber.read(until: subscribed) == subscribed)
            redis.send([["PUBLISH", "news", "hi"]])
            #expect(await redis.read(until: ":1\r\n") == ":1\r\n")
            let message = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
            #expect(await subscriber.read(until: message) == message)
            let published = try await client.execute(
                uri: "/memory/events/alerts.disk", method: .post,
                headers: [.authorization: "Bearer \(admin)", .contentType: "application/json"],
                body: ByteBuffer(string: #"{"data":{"level":"high"}}"#))
            #expect(String(buffer: published.body) == #"{"receivers":1}"#)
            let pushed = "*4\r\n$8\r\npmessage\r\n$8\r\nalerts.*\r\n$11\r\nalerts.disk\r\n$16\r\n{\"level\":\"high\"}\r\n"
            #expect(await subscriber.read(until: pushed) == pushed)
            // Hashes are OR-maps, TEXT.* edits a collaborative text, INCR counts on a PN-counter key.
            redis.send([["HSET", "h", "a", "1", "b", "2"], ["HGET", "h", "a"], ["HLEN", "h"], ["HDEL", "h", "a", "zz"],
                        ["HGETALL", "h"], ["TEXT.INSERT", "t", "0", "Hello"], ["TEXT.INSERT", "t", "5", "!"],
                        ["TEXT.GET", "t"], ["TYPE", "t"], ["INCR", "h"]])
            // (This connection speaks RESP3 since HELLO 3, so HGETALL answers a map.)
            let structures = ":2\r\n$1\r\n1\r\n:2\r\n:1\r\n%1\r\n$1\r\nb\r\n$1\r\n2\r\n:5\r\n:6\r\n$6\r\nHello!\r\n+text\r\n-WRONGTYPE"
            #expect(await redis.read(until: structures).hasPrefix(structures))
            subscriber.send([["GET", "greeting"]])
            #expect(await subscriber.read(until: "-ERR").hasPrefix("-ERR Can't execute 'get'"))
        }
    }

    /// Starts the application with a Redis-protocol port and waits for it to accept connections.
    static func withRESP(
        durability: String = "sync",
        _ body: @Sendable (_ client: any TestClientProtocol, _ port: Int, _ admin: String) async throws -> Void
    ) async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.respPort = try freePort()
        configuration.memoryDurability = durability
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let port = configuration.respPort
        try await app.test(.live) { client in
            _ = try await Self.connect(port)
            try await body(client, port, admin)
        }
    }

    /// A connection to the Redis-protocol port, once the listener (started with the application's services) is up.
    static func connect(_ port: Int) async throws -> RawRESPClient {
        for _ in 0..<100 {
            if let client = try? RawRESPClient(port: port) { return client }
            try await Task.sleep(for: .milliseconds(20))
        }
        return try RawRESPClient(port: port)
    }

    @Test("GET and SET on the event loop: commands split byte by byte, scopes, wrong types, protocol errors")
    func hotPath() async throws {
        try await Self.withRESP { client, port, admin in
            let redis = try RawRESPClient(port: port)
            // Before AUTH the hot commands are refused like any other.
            redis.send([["SET", "k", "v"]])
            #expect(await redis.read(until: "-NOAUTH").hasPrefix("-NOAUTH"))
            // A pipeline delivered one byte per write: every reply, once, in order.
            let pipeline = "*2\r\n$4\r\nAUTH\r\n$\(admin.utf8.count)\r\n\(admin)\r\n"
                + "*3\r\n$3\r\nset\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGeT\r\n$1\r\nk\r\n"
                + "*2\r\n$4\r\nINCR\r\n$1\r\nc\r\n*2\r\n$3\r\nGET\r\n$1\r\nc\r\n*1\r\n$4\r\nPING\r\n"
            redis.sendRaw(pipeline, chunk: 1)
            let replies = "+OK\r\n+OK\r\n$5\r\nvalue\r\n:1\r\n$1\r\n1\r\n+PONG\r\n"
            #expect(await redis.read(until: replies) == replies)
            // A key holding a CRDT is the wrong type for GET.
            redis.send([["SADD", "s", "a"], ["GET", "s"], ["GET", "missing"]])
            let typed = ":1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$-1\r\n"
            #expect(await redis.read(until: typed) == typed)

            // A read-only key reads on the hot path and is refused writes.
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"r","scopes":["memory:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            let readOnly = try RawRESPClient(port: port)
            readOnly.send([["AUTH", reader], ["GET", "k"], ["SET", "k", "other"], ["GET", "k"]])
            let refused = "+OK\r\n$5\r\nvalue\r\n-NOPERM this API key lacks the scope 'memory:write' that SET needs\r\n$5\r\nvalue\r\n"
            #expect(await readOnly.read(until: refused) == refused)

            // A malformed length is a protocol error: the connection answers it and closes.
            let broken = try RawRESPClient(port: port)
            broken.sendRaw("*1\r\n$x\r\n")
            #expect(await broken.read(until: "-ERR Protocol error").hasPrefix("-ERR Protocol error"))
            #expect(await broken.closedByServer())
        }
    }

    @Test("with sync durability, pipelined SETs are acknowledged once on disk and survive a restart")
    func durablePipeline() async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.respPort = try Self.freePort()
        let admin = try await {
            let app = try await buildApplication(configuration, logger: quietLogger)
            let admin = try adminKey(configuration)
            let port = configuration.respPort
            try await app.test(.live) { _ in
                let redis = try await Self.connect(port)
                redis.send([["AUTH", admin]] + (0..<200).map { ["SET", "p\($0)", "v\($0)"] } + [["GET", "p199"]])
                let expected = "+OK\r\n" + String(repeating: "+OK\r\n", count: 200) + "$4\r\nv199\r\n"
                #expect(await redis.read(until: expected) == expected)
            }
            return admin
        }()
        // The same data directory, a new process's worth of engine: every acknowledged SET is there.
        configuration.respPort = try Self.freePort()
        let app = try await buildApplication(configuration, logger: quietLogger)
        let port = configuration.respPort
        try await app.test(.live) { _ in
            let redis = try await Self.connect(port)
            redis.send([["AUTH", admin], ["GET", "p0"], ["GET", "p123"], ["DBSIZE"]])
            let expected = "+OK\r\n$2\r\nv0\r\n$4\r\nv123\r\n:200\r\n"
            #expect(await redis.read(until: expected) == expected)
        }
    }
}
