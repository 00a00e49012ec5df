import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import HummingbirdWSClient
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOWebSocket
import NeuroplexAPI
import NeuroplexCore
import NeuroplexStorage
import NeuroplexTestSupport
import Synchronization
import Testing

@Suite("Memory over WebSocket", .timeLimit(.minutes(3)))
struct MemoryWebSocketTests {
    @Test("an upgrade without a valid key, or without memory:read, is refused with the usual problem document")
    func refusals() async throws {
        try await withLiveServer { client, port, admin in
            await #expect(throws: WebSocketClientError.self) {
                try await withMemorySocket(port: port, key: nil) { _ in Issue.record("upgraded without a key") }
            }
            await #expect(throws: WebSocketClientError.self) {
                try await withMemorySocket(port: port, key: "nplx_nope") { _ in Issue.record("upgraded with a bad key") }
            }

            let missing = try await upgradeRequest(port: port, key: nil)
            #expect(missing.status == 401 && missing.contentType == "application/problem+json")
            #expect(missing.problem["code"] as? String == "unauthenticated" && missing.problem["requestId"] is String)
            let invalid = try await upgradeRequest(port: port, key: "nplx_nope")
            #expect(invalid.status == 401 && invalid.problem["code"] as? String == "invalid_api_key")

            let other = try await client.send(.post, "/keys", key: admin, json: #"{"name":"ml","scopes":["ml:read"]}"#)
            let otherKey = try #require(other.json["key"] as? String)
            let forbidden = try await upgradeRequest(port: port, key: otherKey)
            #expect(forbidden.status == 403 && forbidden.problem["code"] as? String == "insufficient_scope")

            // Sent as a plain request, with a good key: the route says how to ask.
            expectProblem(try await client.send(.get, "/memory/ws", key: admin), .badRequest, code: "upgrade_required")
            expectProblem(try await client.send(.get, "/memory/ws"), .unauthorized, code: "unauthenticated")
        }
    }

    @Test("subscribe: each matching change once, in order, live and replayed with since; unsubscribe stops them")
    func changes() async throws {
        try await withLiveServer { client, port, admin in
            let first = try await withMemorySocket(port: port, key: admin) { socket in
                try await socket.send(#"{"op":"subscribe","id":1,"pattern":"user:*"}"#)
                let subscribed = try await socket.expect("subscribed")
                #expect(subscribed["id"] == 1 && subscribed["pattern"] == "user:*")

                for (key, value) in [("user:1", "1"), ("other:1", "2"), ("user:2", #"{"name":"Bo"}"#), ("user:1", "3")] {
                    #expect(try await client.send(.put, "/memory/kv/\(key)", key: admin, json: #"{"value":\#(value)}"#).status == .ok)
                }
                #expect(try await client.send(.delete, "/memory/kv/user:2", key: admin).status == .ok)
                var events: [JSONValue] = []
                for _ in 0..<4 {
                    let change = try await socket.expect("change")
                    #expect(change["pattern"] == "user:*")
                    events.append(try #require(change["event"]))
                }
                #expect(events.map { $0["key"] } == ["user:1", "user:2", "user:1", "user:2"])
                #expect(events.map { $0["type"] } == ["insert", "insert", "update", "delete"])
                #expect(events[0]["value"] == 1 && events[1]["value"] == ["name": "Bo"] && events[2]["value"] == 3)
                #expect(events[2]["previousValue"] == 1 && events[3]["value"] == nil)
                let sequences = events.compactMap { $0["sequence"]?.numberValue }
                #expect(sequences.count == 4 && sequences == sequences.sorted() && Set(sequences).count == 4)
                for event in events {
                    #expect(event["version"]?.numberValue != nil && event["nodeId"] != nil)
                    guard case .string(let timestamp)? = event["timestamp"] else {
                        Issue.record("no timestamp in \(event)")
                        continue
                    }
                    #expect(timestamp.hasSuffix("Z"))
                }
                // The change to other:1 was not sent: the next frame answers the ping.
                try await socket.send(#"{"op":"ping","id":"p"}"#)
                #expect(try await socket.expect("pong")["id"] == "p")

                try await socket.send(#"{"op":"subscribe","id":2,"pattern":"user:*"}"#)
                #expect(try await socket.expect("error")["code"] == "already_subscribed")
                try await socket.send(#"{"op":"unsubscribe","id":3,"pattern":"user:*"}"#)
                #expect(try await socket.expect("unsubscribed")["id"] == 3)
                try await socket.send(#"{"op":"unsubscribe","id":4,"pattern":"user:*"}"#)
                #expect(try await socket.expect("error")["code"] == "not_subscribed")
                #expect(try await client.send(.put, "/memory/kv/user:3", key: admin, json: #"{"value":4}"#).status == .ok)
                try await socket.send(#"{"op":"ping"}"#)
                _ = try await socket.expect("pong")
                return events
            }

            // A second socket replays from the position before the first change, then keeps going live.
            let start = try #require(first[0]["sequence"]?.numberValue).rounded() - 1
            try await withMemorySocket(port: port, key: admin) { socket in
                try await socket.send(#"{"op":"subscribe","pattern":"user:*","since":\#(Int(start))}"#)
                _ = try await socket.expect("subscribed")
                var replayed: [JSONValue] = []
                for _ in 0..<5 { replayed.append(try #require(try await socket.expect("change")["event"])) }
                #expect(Array(replayed.prefix(4)) == first)
                #expect(replayed[4]["key"] == "user:3")
                #expect(try await client.send(.put, "/memory/kv/user:4", key: admin, json: #"{"value":5}"#).status == .ok)
                #expect(try await socket.expect("change")["event"]?["key"] == "user:4")

                try await socket.send(#"{"op":"subscribe","id":9,"pattern":"x","since":-1}"#)
                let refused = try await socket.expect("error")
                #expect(refused["code"] == "validation_failed" && refused["field"] == "since" && refused["id"] == 9)
            }
        }
    }

    @Test("join a channel or a pattern: messages published from another socket and over HTTP; leave stops them")
    func channels() async throws {
        try await withLiveServer { client, port, admin in
            try await withMemorySocket(port: port, key: admin) { listener in
                try await listener.send(#"{"op":"join","id":"j","channel":"chat"}"#)
                let joined = try await listener.expect("joined")
                #expect(joined["id"] == "j" && joined["channel"] == "chat")
                try await listener.send(#"{"op":"join","pattern":"news.*"}"#)
                #expect(try await listener.expect("joined")["pattern"] == "news.*")

                try await withMemorySocket(port: port, key: admin) { publisher in
                    try await publisher.send(#"{"op":"publish","id":7,"channel":"chat","data":{"text":"hi"}}"#)
                    let published = try await publisher.expect("published")
                    #expect(published["id"] == 7 && published["channel"] == "chat" && published["receivers"] == 1)
                    let message = try await listener.expect("message")
                    #expect(message["channel"] == "chat" && message["data"] == ["text": "hi"])
                    #expect(message["nodeId"] != nil)
                    guard case .string(let timestamp)? = message["timestamp"] else {
                        Issue.record("no timestamp in \(message)")
                        return
                    }
                    #expect(timestamp.hasSuffix("Z"))

                    let overHTTP = try await client.send(.post, "/memory/events/news.sport", key: admin, json: #"{"data":42}"#)
                    #expect(overHTTP.json["receivers"] as? Int == 1)
                    let news = try await listener.expect("message")
                    #expect(news["channel"] == "news.sport" && news["data"] == 42)

                    try await listener.send(#"{"op":"leave","id":"l","channel":"chat"}"#)
                    #expect(try await listener.expect("left")["id"] == "l")
                    try await publisher.send(#"{"op":"publish","channel":"chat","data":null}"#)
                    #expect(try await publisher.expect("published")["receivers"] == 0)
                    try await publisher.send(#"{"op":"publish","channel":"news.local","data":"rain"}"#)
                    #expect(try await publisher.expect("published")["receivers"] == 1)
                    // Nothing for chat any more: the next message is the one on news.local.
                    #expect(try await listener.expect("message")["data"] == "rain")
                }
            }
        }
    }

    @Test("bad frames get error frames and the socket stays open; a read-only key cannot publish")
    func mistakes() async throws {
        try await withLiveServer { client, port, admin in
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"r","scopes":["memory:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            try await withMemorySocket(port: port, key: reader) { socket in
                try await socket.send(#"{"op":"publish","id":1,"channel":"chat","data":1}"#)
                let refused = try await socket.expect("error")
                #expect(refused["code"] == "insufficient_scope" && refused["id"] == 1)
                try await socket.send(#"{"op":"ping","id":2}"#)
                #expect(try await socket.expect("pong")["id"] == 2)

                let mistakes: [(frame: String, code: JSONValue, field: JSONValue?)] = [
                    ("not json", "invalid_json", nil),
                    (#"{"op":"subscribe""#, "invalid_json", nil),
                    ("[1]", "validation_failed", nil),
                    (#"{"id":3}"#, "validation_failed", "op"),
                    (#"{"op":"fly","id":3}"#, "validation_failed", "op"),
                    (#"{"op":"subscribe","pattern":""}"#, "validation_failed", "pattern"),
                    (#"{"op":"subscribe","pattern":7}"#, "validation_failed", "pattern"),
                    (#"{"op":"join"}"#, "validation_failed", "channel"),
                    (#"{"op":"join","channel":"a","pattern":"b"}"#, "validation_failed", "channel"),
                ]
                for mistake in mistakes {
                    try await socket.send(mistake.frame)
                    let error = try await socket.expect("error")
                    #expect(error["code"] == mistake.code, "\(mistake.frame)")
                    #expect(error["field"] == mistake.field, "\(mistake.frame)")
                    #expect(error["detail"] != nil, "\(mistake.frame)")
                }
                try await socket.outbound.write(.binary(ByteBuffer(string: #"{"op":"ping"}"#)))
                #expect(try await socket.expect("error")["code"] == "unsupported_frame")

                // A message larger than 1 MiB, sent in fragments, is dropped with an error; the socket stays open.
                let fragment = ByteBuffer(repeating: UInt8(ascii: " "), count: 600 * 1024)
                try await socket.outbound.write(.custom(.init(fin: false, opcode: .text, data: fragment)))
                try await socket.outbound.write(.custom(.init(fin: true, opcode: .continuation, data: fragment)))
                #expect(try await socket.expect("error")["code"] == "payload_too_large")

                try await socket.send(#"{"op":"ping","id":"still here"}"#)
                #expect(try await socket.expect("pong")["id"] == "still here")

                // A single frame over 1 MiB is more than the server reads: it closes the socket (1009).
                let huge = ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
                try await socket.outbound.write(.custom(.init(fin: true, opcode: .text, data: huge)))
                let error = await #expect(throws: SocketTestError.self) { try await socket.expect("error") }
                #expect(error?.description.contains("closed") == true)
            }
        }
    }

    @Test("graceful shutdown closes open sockets with a normal close, and the server stops", .timeLimit(.minutes(1)))
    func shutdown() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let (ports, portSink) = AsyncStream<Int>.makeStream()
        let (ready, readySink) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await app.test(.live) { client in
                    portSink.yield(try #require(client.port))
                    for await _ in ready { break }
                }  // returning starts the graceful shutdown, which waits for the socket to close
            }
            var portIterator = ports.makeAsyncIterator()
            let port = try #require(await portIterator.next())
            let close = try await WebSocketClient.connect(
                url: "ws://127.0.0.1:\(port)/memory/ws",
                configuration: .init(additionalHeaders: [.authorization: "Bearer \(admin)"]), logger: quietLogger
            ) { inbound, outbound, _ in
                var messages = inbound.messages(maxSize: 1 << 20).makeAsyncIterator()
                try await outbound.write(.text(#"{"op":"subscribe","pattern":"*"}"#))
                guard case .text(let text)? = try await messages.next() else { throw SocketTestError("no reply") }
                #expect(text.contains("subscribed"))
                readySink.yield()
                while try await messages.next() != nil {}  // until the server closes the socket
            }
            #expect(close?.closeCode == .normalClosure)
            try await group.waitForAll()
        }
    }
}

// MARK: - A WebSocket client for the tests

/// A fresh server on 127.0.0.1: runs `body` with its HTTP test client, its port and the admin key.
func withLiveServer(
    _ body: @escaping @Sendable (any TestClientProtocol, Int, String) async throws -> Void
) async throws {
    let configuration = try await testConfiguration(.sqlite)
    let app = try await buildApplication(configuration, logger: quietLogger)
    let admin = try adminKey(configuration)
    try await app.test(.live) { client in try await body(client, try #require(client.port), admin) }
}

struct SocketTestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The frames a socket received, in order, for a test to take one at a time.
final class FrameInbox: Sendable {
    private struct State {
        var frames: [JSONValue] = []
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    func deliver(_ frame: JSONValue) {
        state.withLock { state in
            state.frames.append(frame)
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    func close() {
        state.withLock { state in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }?.resume()
    }

    /// The next frame; throws when none arrives within `timeout`, or the socket closes first.
    func next(within timeout: Duration, waitingFor what: String) async throws -> JSONValue {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            let (frame, closed) = state.withLock { state -> (JSONValue?, Bool) in
                if state.frames.isEmpty { return (Optional<JSONValue>.none, state.closed) }
                return (state.frames.removeFirst(), false)
            }
            if let frame { return frame }
            if closed { throw SocketTestError("the socket closed while the test waited for \(what)") }
            guard ContinuousClock.now < deadline else {
                throw SocketTestError("no frame within \(timeout) while the test waited for \(what)")
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.waitForDelivery() }
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
                await group.next()
                group.cancelAll()
            }
        }
    }

    private func waitForDelivery() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if !state.frames.isEmpty || state.closed || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }
    }
}

/// One open `/memory/ws` connection of a test.
struct TestSocket: Sendable {
    let outbound: WebSocketOutboundWriter
    let inbox: FrameInbox

    func send(_ text: String) async throws {
        try await outbound.write(.text(text))
    }

    /// The next frame the server sent, which must be of `type`.
    func expect(
        _ type: String, within timeout: Duration = .seconds(10), sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue {
        let frame = try await inbox.next(within: timeout, waitingFor: "a '\(type)' frame")
        try #require(
            frame["type"] == .string(type), "expected a '\(type)' frame, got \(String(decoding: frame.bytes, as: UTF8.self))",
            sourceLocation: sourceLocation)
        return frame
    }
}

/// What a socket's body returned, out of the client's handler.
final class ResultBox<Value: Sendable>: Sendable {
    let value = Mutex<Value?>(nil)
}

/// Opens `/memory/ws` on the test server with `key`, runs `body` on it, and closes it.
@discardableResult
func withMemorySocket<Result: Sendable>(
    port: Int, key: String?, _ body: @escaping @Sendable (TestSocket) async throws -> Result
) async throws -> Result {
    var headers = HTTPFields()
    if let key { headers[.authorization] = "Bearer \(key)" }
    let result = ResultBox<Result>()
    try await WebSocketClient.connect(
        url: "ws://127.0.0.1:\(port)/memory/ws", configuration: .init(maxFrameSize: 1 << 21, additionalHeaders: headers),
        logger: quietLogger
    ) { inbound, outbound, _ in
        let socket = TestSocket(outbound: outbound, inbox: FrameInbox())
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { socket.inbox.close() }
                for try await message in inbound.messages(maxSize: 1 << 24) {
                    guard case .text(let text) = message else { throw SocketTestError("a binary frame from the server") }
                    socket.inbox.deliver(try JSONValue.parse(text))
                }
            }
            let value = try await body(socket)
            result.value.withLock { $0 = value }
            group.cancelAll()
        }
    }
    guard let value = result.value.withLock({ $0 }) else { throw SocketTestError("the socket closed before the test ended") }
    return value
}

/// A WebSocket upgrade request sent by hand, to read the answer when the server refuses it (a WebSocket client only
/// reports that the upgrade failed).
func upgradeRequest(port: Int, key: String?) async throws -> (status: Int, contentType: String?, problem: [String: Any]) {
    let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                return try NIOAsyncChannel<HTTPClientResponsePart, HTTPClientRequestPart>(wrappingChannelSynchronously: channel)
            }
        }
    let (status, contentType, body) = try await channel.executeThenClose { inbound, outbound in
        var headers = HTTPHeaders([
            ("Host", "127.0.0.1:\(port)"), ("Connection", "Upgrade"), ("Upgrade", "websocket"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
        ])
        if let key { headers.add(name: "Authorization", value: "Bearer \(key)") }
        try await outbound.write(.head(HTTPRequestHead(version: .http1_1, method: .GET, uri: "/memory/ws", headers: headers)))
        try await outbound.write(.end(nil))
        var status = 0
        var contentType: String?
        var body = ByteBuffer()
        for try await part in inbound {
            switch part {
            case .head(let head):
                status = Int(head.status.code)
                contentType = head.headers.first(name: "Content-Type")
            case .body(let chunk):
                body.writeImmutableBuffer(chunk)
            case .end:
                return (status, contentType, body)
            }
        }
        throw SocketTestError("the server closed the connection before answering")
    }
    let problem = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
    return (status, contentType, problem)
}
