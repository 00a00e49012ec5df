import Foundation
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

/// Live watches share one feed per pattern (see `WatchHub`): the engine sees one watcher however many clients.
@Suite("Live watch feeds", .timeLimit(.minutes(3)))
struct WatchFeedTests {
    static func watchRequest(_ pattern: String, key: String) -> String {
        "GET /memory/watch?pattern=\(pattern) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(key)\r\n\r\n"
    }

    /// Sets `count` batches of 100 keys `<prefix>:<batch>:<n>`, each a 1,000-character string (~100 KB a batch).
    static func writeBatches(_ client: some TestClientProtocol, prefix: String, count: Int, key: String) async throws {
        let value = String(repeating: "x", count: 1000)
        for batch in 0..<count {
            let entries = (0..<100).map { #""\#(prefix):\#(batch):\#($0)":"\#(value)""# }
            let written = try await client.send(
                .post, "/memory/batch/set", key: key, json: #"{"entries":{\#(entries.joined(separator: ","))}}"#)
            #expect(written.status == .ok)
        }
    }

    /// Each test runs with live watches streamed on the event loop (the default) and through the router.
    static let fastPath = [true, false]

    @Test("clients of one pattern share one engine watcher and each gets every change once, in order",
        arguments: fastPath)
    func sharedFeed(fastPath: Bool) async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.httpMemoryFastPath = fastPath
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            var first = Optional(try RawRESPClient(port: port))
            var second = Optional(try RawRESPClient(port: port))
            first?.sendRaw(Self.watchRequest("feed:*", key: admin))
            second?.sendRaw(Self.watchRequest("feed:*", key: admin))
            #expect(await first?.read(untilContaining: "\r\n\r\n").contains("200 OK") == true)
            #expect(await second?.read(untilContaining: "\r\n\r\n").contains("200 OK") == true)
            let stats = try await client.send(.get, "/memory/stats", key: admin)
            #expect(stats.json["watchers"] as? Int == 1)
            for value in 1...20 {
                _ = try await client.send(.put, "/memory/kv/feed:\(value % 3)", key: admin, json: #"{"value":\#(value)}"#)
            }
            _ = try await client.send(.put, "/memory/kv/other", key: admin, json: #"{"value":0}"#)
            for watcher in [first, second].compactMap({ $0 }) {
                let text = await watcher.read(untilContaining: #""value":20"#)
                let values = text.split(separator: "\n").compactMap { line -> Int? in
                    guard line.hasPrefix("data: "), let range = line.range(of: #""value":"#) else { return nil }
                    return Int(line[range.upperBound...].prefix { $0.isNumber })
                }
                #expect(values == Array(1...20))
                #expect(!text.contains(#""key":"other""#))
            }
            // Clients that hang up are let go: the engine's watcher goes with the last of them. (A stream through
            // the router notices only when it next writes, hence the writes.)
            first = nil
            second = nil
            let deadline = ContinuousClock.now + .seconds(10)
            var watchers = -1
            while ContinuousClock.now < deadline {
                watchers = try await client.send(.get, "/memory/stats", key: admin).json["watchers"] as? Int ?? -1
                if watchers == 0 { break }
                _ = try await client.send(.put, "/memory/kv/feed:poke", key: admin, json: #"{"value":0}"#)
            }
            #expect(watchers == 0)
        }
    }

    @Test("a stream that outpaces its connection still delivers every change exactly once, in order",
        arguments: fastPath)
    func outpacedConnection(fastPath: Bool) async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.httpMemoryFastPath = fastPath
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let watcher = try RawRESPClient(port: port)
            watcher.sendRaw(Self.watchRequest("big:*", key: admin))
            #expect(await watcher.read(untilContaining: "\r\n\r\n").contains("200 OK"))
            // Batches of 100 KB: each chunk is more than the connection's write buffer holds, so its writability
            // changes while the stream writes to it.
            try await Self.writeBatches(client, prefix: "big", count: 20, key: admin)
            let text = await watcher.read(untilContaining: #""key":"big:19:99""#)
            // The body (the head was read above), undone from its chunked framing, which may cut a line anywhere.
            let body = try #require(FeedChunkTests.dechunk(text.utf8, partial: true))
            let ids = String(decoding: body, as: UTF8.self).split(separator: "\n").compactMap { line in
                line.hasPrefix("id: ") ? Int(line.dropFirst(4)) : nil
            }
            #expect(ids.count == 2000)
            let consecutive = zip(ids, ids.dropFirst()).allSatisfy { $1 == $0 + 1 }
            #expect(consecutive, "ids not consecutive: \(ids.count) ids from \(ids.first ?? -1) to \(ids.last ?? -1)")
        }
    }

    @Test("a client that stops reading is ended with watcher_lagged while the writes go on", arguments: fastPath)
    func laggingClient(fastPath: Bool) async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.httpMemoryFastPath = fastPath
        configuration.memoryWatchLagBytes = 4096
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let stalled = try RawRESPClient(port: port, receiveBuffer: 4096)
            stalled.sendRaw(Self.watchRequest("lag:*", key: admin))
            #expect(await stalled.read(untilContaining: "\r\n\r\n").contains("200 OK"))
            // About 4 MB of changes: far more than the socket buffers and the 4 KiB allowed behind.
            try await Self.writeBatches(client, prefix: "lag", count: 40, key: admin)
            let text = await stalled.read(untilContaining: "watcher_lagged")
            #expect(text.contains("event: error") && text.contains("watcher_lagged"))
        }
    }

    @Test("since must be a whole number; a live watch left open does not hold up the server's graceful shutdown",
        .timeLimit(.minutes(1)), arguments: fastPath)
    func sinceAndShutdown(fastPath: Bool) async throws {
        var configuration = try await testConfiguration(.sqlite)
        configuration.httpMemoryFastPath = fastPath
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let watcher = try await app.test(.live) { client in
            expectProblem(
                try await client.send(.get, "/memory/watch?since=abc", key: admin), .badRequest, code: "validation_failed")
            expectProblem(
                try await client.send(.get, "/memory/watch?since=-1", key: admin), .unprocessableContent,
                code: "validation_failed")
            let open = try RawRESPClient(port: try #require(client.port))
            open.sendRaw(Self.watchRequest("*", key: admin))
            #expect(await open.read(untilContaining: "\r\n\r\n").contains("200 OK"))
            return open  // returning starts the graceful shutdown with the watch still open
        }
        // The server ended the stream (the last chunk) and stopped.
        #expect(await watcher.closedByServer())
    }
}
