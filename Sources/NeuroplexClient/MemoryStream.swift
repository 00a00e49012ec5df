public import NeuroplexCore
public import Foundation
import OpenAPIRuntime
import Synchronization

/// One acknowledged change to a key, as ``NeuroplexClient/watch(pattern:since:)`` and
/// ``NeuroplexClient/changes(since:)`` deliver it.
public struct ChangeEvent: Sendable, Hashable, Codable {
    /// What happened to the key. Matched like an enum (`case .insert:`), but open to kinds a newer server adds.
    public struct Kind: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let insert = Kind(rawValue: "insert")
        public static let update = Kind(rawValue: "update")
        public static let delete = Kind(rawValue: "delete")
        public static let expire = Kind(rawValue: "expire")
        public static let conflict = Kind(rawValue: "conflict")
    }

    /// The change's position in the node's history: it only grows; pass it as `since` to resume after it.
    public var sequence: UInt64
    public var kind: Kind
    public var key: String
    /// The value after the change (`nil` for deletions and expiries).
    public var value: JSON?
    /// The value before it (`nil` for insertions).
    public var previousValue: JSON?
    /// The key's version after the change (its last version for deletions).
    public var version: UInt64
    public var timestamp: Date
    /// The node that made the change.
    public var nodeID: String

    enum CodingKeys: String, CodingKey {
        case sequence, kind = "type", key, value, previousValue, version, timestamp, nodeID = "nodeId"
    }
}

/// An event published on a channel, as ``NeuroplexClient/subscribe(pattern:)`` delivers it.
public struct ChannelMessage: Sendable, Hashable, Codable {
    public var channel: String
    public var data: JSON
    public var timestamp: Date
    /// The node it was published on.
    public var nodeID: String

    enum CodingKeys: String, CodingKey {
        case channel, data, timestamp, nodeID = "nodeId"
    }
}

/// A stream of change events from ``NeuroplexClient/watch(pattern:since:)`` or ``NeuroplexClient/changes(since:)``.
public typealias ChangeStream = MemoryStream<ChangeEvent>

/// A stream of channel messages from ``NeuroplexClient/subscribe(pattern:)``.
public typealias ChannelStream = MemoryStream<ChannelMessage>

/// A live stream from the server (Server-Sent Events), as an `AsyncSequence`.
///
/// ```swift
/// let changes = try await client.watch(pattern: "user:*")   // subscribed once this returns
/// try await client.set("user:1", ["name": "Alice"])
/// for try await change in changes {
///     print(change.sequence, change.kind, change.key)      // 42 insert user:1
/// }
/// ```
///
/// The method that makes a stream returns once the server has accepted the subscription, so nothing written after
/// that is missed. The stream never ends by itself; leave the loop (or cancel the task) to close it. It throws
/// ``NeuroplexClientError`` `watcher_lagged` when it fell too far behind and the server dropped it.
///
/// Iterating the same stream again subscribes again (that is how ``_Concurrency/AsyncSequence/retry(_:delay:while:)``
/// re-subscribes). A change stream then resumes after the last change it delivered, so nothing is missed or repeated
/// while the server still retains that history; a channel stream is live only and resumes with what is published
/// from then on.
public struct MemoryStream<Element: Sendable & Decodable>: AsyncSequence, Sendable {
    let source: Source

    public func makeAsyncIterator() -> Iterator { Iterator(source: source) }

    /// Reads events off the open connection, decoding each `data:` line.
    public struct Iterator: AsyncIteratorProtocol {
        typealias Events = ServerSentEventsDeserializationSequence<ServerSentEventsLineDeserializationSequence<HTTPBody>>
        typealias EventIterator = Events.Iterator<ServerSentEventsLineDeserializationSequence<HTTPBody>.Iterator<HTTPBody.Iterator>>

        let source: Source
        var events: EventIterator?

        public mutating func next() async throws -> Element? {
            if events == nil {
                events = try await source.take().asDecodedServerSentEvents().makeAsyncIterator()
            }
            while let event = try await events?.next() {
                guard let data = event.data else { continue }
                if event.event == "error" { throw NeuroplexClientError(streamError: data) }
                let element = try JSON.decoder.decode(Element.self, from: Data(data.utf8))
                source.delivered(element)
                return element
            }
            return nil
        }
    }

    /// The subscription behind a stream: the connection opened by the call that made it (taken by the first
    /// iteration), how to open another, and the position of the last change delivered (to resume after it).
    final class Source: Sendable {
        private struct State {
            var pending: HTTPBody?
            var lastSequence: UInt64?
        }

        private let state: Mutex<State>
        private let open: @Sendable (_ after: UInt64?) async throws -> HTTPBody

        init(first: HTTPBody, open: @escaping @Sendable (_ after: UInt64?) async throws -> HTTPBody) {
            self.state = Mutex(State(pending: first))
            self.open = open
        }

        /// The connection opened by the call that made the stream, or a new one resuming after the last change.
        func take() async throws -> HTTPBody {
            let (pending, after) = state.withLock { state in
                defer { state.pending = nil }
                return (state.pending, state.lastSequence)
            }
            if let pending { return pending }
            return try await open(after)
        }

        func delivered(_ element: Element) {
            guard let change = element as? ChangeEvent else { return }
            state.withLock { $0.lastSequence = change.sequence }
        }
    }
}

/// Change streams and channels.
extension NeuroplexClient {
    /// Changes to keys matching a glob pattern, in order, each delivered once.
    ///
    /// ```swift
    /// for try await change in try await client.watch(pattern: "orders:*") where change.kind == .insert {
    ///     print("new order", change.key, change.value ?? nil)
    /// }
    /// ```
    /// - Parameters:
    ///   - pattern: a Redis glob (`*`, `?`, `[abc]`, `\` escapes).
    ///   - since: replay the retained changes after this sequence number first; `nil` for live changes only.
    /// - Returns: once the server has accepted the subscription: every change after that is delivered.
    /// - Throws: 409 `history_compacted` when `since` is older than the retained history.
    public func watch(pattern: String = "*", since: UInt64? = nil) async throws -> ChangeStream {
        try await stream(since: since) { client, after in
            switch try await client.watchMemory(query: .init(pattern: pattern, since: after.map { Int64(clamping: $0) })) {
            case .ok(let ok):
                guard case .textEventStream(let body) = ok.body else { preconditionFailure() }
                return body
            case .default(let status, let problem): throw NeuroplexClientError(status, problem)
            }
        }
    }

    /// Every change after a position (default: from the start of the retained history), then live ones.
    /// - Throws: 409 `history_compacted` when `since` is older than the retained history.
    public func changes(since: UInt64 = 0) async throws -> ChangeStream {
        try await stream(since: since) { client, after in
            switch try await client.memoryChanges(query: .init(since: Int64(clamping: after ?? 0))) {
            case .ok(let ok):
                guard case .textEventStream(let body) = ok.body else { preconditionFailure() }
                return body
            case .default(let status, let problem): throw NeuroplexClientError(status, problem)
            }
        }
    }

    /// Events published on channels matching a glob pattern, live, in publish order.
    ///
    /// ```swift
    /// let alerts = try await client.subscribe(pattern: "alerts:*")
    /// try await client.publish(event: "alerts:disk", data: ["free": "2%"])
    /// for try await message in alerts { print(message.channel, message.data) }
    /// ```
    public func subscribe(pattern: String = "*") async throws -> ChannelStream {
        try await stream(since: nil) { client, _ in
            switch try await client.subscribeMemoryEvents(query: .init(pattern: pattern)) {
            case .ok(let ok):
                guard case .textEventStream(let body) = ok.body else { preconditionFailure() }
                return body
            case .default(let status, let problem): throw NeuroplexClientError(status, problem)
            }
        }
    }

    /// Publishes an event on a channel to everyone subscribed now (over HTTP, WebSocket or Redis `SUBSCRIBE`); it
    /// is not stored. For a `Codable` payload, pass `try JSON(encoding: payload)`.
    /// - Returns: how many subscribers it reached.
    @discardableResult
    public func publish(event channel: String, data: JSON = .null) async throws -> Int {
        let body = data.container
        switch try await call(.once, {
            try await $0.publishMemoryEvent(path: .init(name: channel), body: .json(.init(data: body)))
        }) {
        case .ok(let ok): return try ok.body.json.receivers
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// A named channel: publish to it and subscribe to it alone.
    public func channel(_ name: String) -> MemoryChannel { MemoryChannel(name: name, client: self) }

    /// Opens a stream with failover, then keeps it on the node that accepted it: re-subscribing (a second iteration)
    /// goes through failover again.
    private func stream<Element>(
        since: UInt64?, _ open: @escaping @Sendable (Client, _ after: UInt64?) async throws -> HTTPBody
    ) async throws -> MemoryStream<Element> {
        let first = try await call { try await open($0, since) }
        let source = MemoryStream<Element>.Source(first: first) { [self] after in
            try await call { try await open($0, after ?? since) }
        }
        return MemoryStream(source: source)
    }
}

/// One named channel: ``send(_:)`` publishes, ``messages()`` subscribes to this channel alone.
///
/// ```swift
/// let chat = client.channel("room:42")
/// let incoming = try await chat.messages()
/// try await chat.send(["from": "alice", "text": "hi"])
/// for try await message in incoming { print(message.data) }
/// ```
public struct MemoryChannel: Sendable {
    public let name: String
    let client: NeuroplexClient

    /// Publishes `data`; returns how many subscribers it reached.
    @discardableResult
    public func send(_ data: JSON) async throws -> Int {
        try await client.publish(event: name, data: data)
    }

    /// The messages published on this channel from now on.
    public func messages() async throws -> ChannelStream {
        try await client.subscribe(pattern: Self.escapedGlob(name))
    }

    /// `name` as a glob that matches only itself.
    static func escapedGlob(_ name: String) -> String {
        var pattern = ""
        for character in name {
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        return pattern
    }
}
