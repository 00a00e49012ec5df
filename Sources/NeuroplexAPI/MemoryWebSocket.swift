import AsyncAlgorithms
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory
import ServiceLifecycle
import Synchronization

extension NeuroplexError.Code {
    /// `GET /memory/ws` was sent as a plain request, not as a WebSocket upgrade.
    static let upgradeRequired: Self = "upgrade_required"
    /// A binary WebSocket message: the protocol speaks JSON text frames only.
    static let unsupportedFrame: Self = "unsupported_frame"
    /// A socket asked for more subscriptions, channels and patterns than it may hold.
    static let tooManySubscriptions: Self = "too_many_subscriptions"
    /// `subscribe` to a pattern this socket is already subscribed to.
    static let alreadySubscribed: Self = "already_subscribed"
    /// `unsubscribe` from a pattern this socket is not subscribed to.
    static let notSubscribed: Self = "not_subscribed"
}

/// `GET /memory/ws`: the change stream and the event channels over one WebSocket.
///
/// The client sends JSON text frames `{"op": …, "id"?: …}` (`subscribe`, `unsubscribe`, `join`, `leave`, `publish`,
/// `ping`) and gets a reply for each, echoing `id`, besides `change` and `message` frames for what it listens to;
/// the README's memory section is the reference. A bad frame gets an `error` frame and the socket stays open.
///
/// One connection is one task group: a reader (which answers the client's frames), one forwarding task per change
/// subscription and one for the event channels (each draining a bounded engine stream, so writers never wait for
/// a socket; a stream left too far behind ends with `watcher_lagged`), and one writer, the only task that writes to
/// the socket, taking frames from all the others one at a time through an `AsyncChannel`.
struct MemoryWebSocket: Sendable {
    /// The path of the WebSocket.
    static let path = "/memory/ws"

    /// Bounds of one connection.
    struct Limits: Sendable {
        /// The largest message a client may send, also the largest frame (fragments larger messages out).
        var maxMessageBytes = 1 << 20
        /// How many change subscriptions, joined channels and joined patterns one socket may hold together.
        var maxSubscriptions = 256
    }

    let memory: Memory
    let keys: KeyStore
    var limits = Limits()

    /// The server's WebSocket settings: frames up to ``Limits/maxMessageBytes``, a ping every 30 s.
    var serverConfiguration: WebSocketServerConfiguration {
        WebSocketServerConfiguration(maxFrameSize: limits.maxMessageBytes, autoPing: .enabled(timePeriod: .seconds(30)))
    }

    private var gate: AccessGate { AccessGate(access: .scope(.memoryRead), keys: keys) }

    /// The handler for an upgrade request to ``path`` with a key that may read memory; `nil` for anything else, so
    /// that the router answers it (the route from ``addRoute(to:)`` then says why, with the usual problem document).
    func decide(_ head: HTTPRequest, logger: Logger) async -> HTTP1WebSocketChannel.Handler? {
        guard head.method == .get, head.path?.split(separator: "?", maxSplits: 1).first == Self.path[...] else {
            return nil
        }
        // The refused request is authenticated again by the route; only a key without the scope is counted twice
        // against its rate limit.
        guard let key = try? await gate.admit(Request(head: head, body: .init(buffer: ByteBuffer()))) else { return nil }
        return { [self] inbound, outbound, context in
            var logger = context.logger
            logger[metadataKey: "key.id"] = .string(key.id)
            logger.debug("memory WebSocket opened")
            let connection = Connection(memory: memory, key: key, limits: limits, logger: logger)
            await cancelWhenGracefulShutdown { await connection.run(inbound: inbound, outbound: outbound) }
            logger.debug("memory WebSocket closed")
        }
    }

    /// `GET /memory/ws` for requests that were not upgraded: the same key and scope checks as every route (so that
    /// a refused upgrade gets its 401 or 403 problem), then `upgrade_required`.
    func addRoute(to router: Router<NeuroplexRequestContext>) {
        let gate = gate
        router.get(RouterPath(Self.path)) { request, _ -> Response in
            _ = try await gate.admit(request)
            throw NeuroplexError(
                .badRequest, code: .upgradeRequired,
                "\(Self.path) is a WebSocket: send the request as an upgrade (Connection: Upgrade, Upgrade: websocket)")
        }
    }
}

extension MemoryWebSocket {
    /// What the other tasks of a connection hand to its writer.
    enum Outgoing: Sendable {
        /// An answer to the client's frame, or a pong.
        case reply([UInt8])
        /// A change for one subscription; dropped once the client has unsubscribed.
        case change(subscription: UInt64, [UInt8])
        /// A channel message; dropped once the client has left the channel.
        case message(channel: String, [UInt8])
        /// A subscription the engine ended (it lagged, or its history was compacted): forget it, then say why.
        case subscriptionEnded(UInt64, [UInt8])
        /// The event-bus subscription the engine ended (it lagged): forget the joined channels, then say why.
        case channelsEnded(bus: UInt64, [UInt8])
    }

    /// A stream for a forwarding task, started by the connection's task group.
    enum Forwarding: Sendable {
        case changes(subscription: UInt64, pattern: String, AsyncThrowingStream<ChangeEvent, any Error>, stop: AsyncStream<Never>)
        case messages(bus: UInt64, AsyncThrowingStream<ChannelMessage, any Error>)
    }

    /// What one socket listens to. Changed by the reader (the client's ops) and by the writer (streams the engine
    /// ended), so that what the writer lets through always matches what the client was last told.
    struct Listening: Sendable {
        struct Subscription: Sendable {
            var pattern: String
            var stop: AsyncStream<Never>.Continuation
        }

        struct Channels: Sendable {
            var bus: UInt64
            var names: Set<String> = []
            var patterns: [String: GlobPattern] = [:]

            func wants(_ channel: String) -> Bool {
                names.contains(channel) || patterns.values.contains { $0.matches(channel) }
            }
        }

        var subscriptions: [UInt64: Subscription] = [:]
        var channels: Channels?
        var lastSubscription: UInt64 = 0

        var count: Int { subscriptions.count + (channels.map { $0.names.count + $0.patterns.count } ?? 0) }

        func subscription(for pattern: String) -> UInt64? {
            subscriptions.first { $0.value.pattern == pattern }?.key
        }

        /// The bytes to write for `item`, or `nil` to drop it; updates the state for ended streams.
        mutating func admit(_ item: Outgoing) -> [UInt8]? {
            switch item {
            case .reply(let bytes):
                return bytes
            case .change(let id, let bytes):
                return subscriptions[id] == nil ? nil : bytes
            case .message(let channel, let bytes):
                return channels?.wants(channel) == true ? bytes : nil
            case .subscriptionEnded(let id, let bytes):
                guard let ended = subscriptions.removeValue(forKey: id) else { return nil }  // unsubscribed meanwhile
                ended.stop.finish()
                return bytes
            case .channelsEnded(let bus, let bytes):
                if channels?.bus == bus { channels = nil }
                return bytes
            }
        }
    }

    /// The frames the server sends. `nil` fields are left out.
    struct Reply: Encodable {
        var type: String
        var id: JSONValue?
        var pattern: String?
        var channel: String?
        var receivers: Int?
        var code: String?
        var detail: String?
        var field: String?

        static func error(_ error: NeuroplexError, id: JSONValue? = nil, pattern: String? = nil) -> Reply {
            Reply(type: "error", id: id, pattern: pattern, code: error.code.rawValue, detail: error.message, field: error.field)
        }

        var bytes: [UInt8] {
            // Only strings, integers and JSON values: encoding cannot fail.
            (try? CompactJSONEncoder().encode(self)) ?? Array(#"{"type":"error","code":"internal_error"}"#.utf8)
        }
    }

    /// `{"type":"change","pattern":…,"event":{…}}`, the event exactly as the SSE change stream writes it.
    struct ChangeFrame: Encodable {
        var type = "change"
        var pattern: String
        var event: ChangeEvent
    }

    /// `{"type":"message", …}` with the message's own fields, exactly as the SSE event stream writes them.
    struct MessageFrame: Encodable {
        var message: ChannelMessage

        private enum Keys: String, CodingKey { case type }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Keys.self)
            try container.encode("message", forKey: .type)
            try message.encode(to: encoder)
        }
    }
}

extension MemoryWebSocket {
    /// One upgraded connection.
    final class Connection: Sendable {
        let memory: Memory
        let key: APIKey
        let limits: Limits
        let logger: Logger
        let frames = AsyncChannel<Outgoing>()
        let listening = Mutex(Listening())

        init(memory: Memory, key: APIKey, limits: Limits, logger: Logger) {
            self.memory = memory
            self.key = key
            self.limits = limits
            self.logger = logger
        }

        /// Serves the socket until the client closes it, or the task is cancelled (graceful shutdown).
        func run(inbound: WebSocketInboundStream, outbound: WebSocketOutboundWriter) async {
            let (forwardings, starter) = AsyncStream<Forwarding>.makeStream()
            await withDiscardingTaskGroup { group in
                group.addTask { await self.write(to: outbound) }
                group.addTask {
                    await self.read(inbound, starting: starter)
                    starter.finish()
                }
                // The forwarding tasks are children of this group, started here as the reader asks.
                for await forwarding in forwardings {
                    group.addTask { await self.forward(forwarding) }
                }
                group.cancelAll()
            }
            let channels = listening.withLock { listening in
                for subscription in listening.subscriptions.values { subscription.stop.finish() }
                listening.subscriptions = [:]
                defer { listening.channels = nil }
                return listening.channels
            }
            if let channels { memory.events.unsubscribe(channels.bus) }
        }

        // MARK: Writer

        /// The one task that writes to the socket. When it stops (the socket is gone), `finish()` releases every
        /// task still waiting to hand it a frame.
        private func write(to outbound: WebSocketOutboundWriter) async {
            defer { frames.finish() }
            for await item in frames {
                guard let bytes = listening.withLock({ $0.admit(item) }) else { continue }
                do {
                    try await Self.writeText(bytes, to: outbound, maxFrameSize: limits.maxMessageBytes)
                } catch {
                    logger.debug("could not write to the memory WebSocket", metadata: ["error": "\(error)"])
                    return
                }
            }
        }

        /// One text message, in fragments of at most `maxFrameSize` bytes.
        private static func writeText(_ bytes: [UInt8], to outbound: WebSocketOutboundWriter, maxFrameSize: Int) async throws {
            var buffer = ByteBuffer(bytes: bytes)
            var opcode = WebSocketOpcode.text
            while buffer.readableBytes > maxFrameSize {
                let slice = buffer.readSlice(length: maxFrameSize)!
                try await outbound.write(.custom(WebSocketFrame(fin: false, opcode: opcode, data: slice)))
                opcode = .continuation
            }
            try await outbound.write(.custom(WebSocketFrame(fin: true, opcode: opcode, data: buffer)))
        }

        private func send(_ reply: Reply) async {
            await frames.send(.reply(reply.bytes))
        }

        // MARK: Forwarding

        private func forward(_ forwarding: Forwarding) async {
            switch forwarding {
            case .changes(let id, let pattern, let stream, let stop):
                // Ends when the engine ends the stream, or when the client unsubscribes (`stop` finishes):
                // whichever comes first cancels the other.
                await withTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            for try await event in stream {
                                let bytes = try CompactJSONEncoder().encode(ChangeFrame(pattern: pattern, event: event))
                                await self.frames.send(.change(subscription: id, bytes))
                            }
                        } catch {
                            let ended = Reply.error(Problem.classify(error), pattern: pattern)
                            await self.frames.send(.subscriptionEnded(id, ended.bytes))
                        }
                    }
                    group.addTask { for await _ in stop {} }
                    await group.next()
                    group.cancelAll()
                }
            case .messages(let bus, let stream):
                do {
                    for try await message in stream {
                        let bytes = try CompactJSONEncoder().encode(MessageFrame(message: message))
                        await frames.send(.message(channel: message.channel, bytes))
                    }
                } catch {
                    var ended = Problem.classify(error)
                    ended.message += "; every channel and pattern joined before was left: join them again"
                    await frames.send(.channelsEnded(bus: bus, Reply.error(ended).bytes))
                }
            }
        }

        // MARK: Reader

        /// Reads the client's messages (collating fragments, at most ``Limits/maxMessageBytes`` each) and answers them.
        private func read(_ inbound: WebSocketInboundStream, starting starter: AsyncStream<Forwarding>.Continuation) async {
            var iterator = inbound.makeAsyncIterator()
            var message = ByteBuffer()
            var opcode: WebSocketDataFrame.Opcode?
            var tooLarge = false
            do {
                while let frame = try await iterator.next() {
                    switch frame.opcode {
                    case .text, .binary:
                        opcode = frame.opcode
                        message = frame.data
                        tooLarge = false
                    case .continuation:
                        guard opcode != nil else { continue }  // a continuation of nothing: ignore it
                        if !tooLarge { message.writeImmutableBuffer(frame.data) }
                    }
                    if message.readableBytes > limits.maxMessageBytes {
                        tooLarge = true
                        message.clear()
                    }
                    guard frame.fin, let kind = opcode else { continue }
                    opcode = nil
                    if tooLarge {
                        await send(.error(NeuroplexError(
                            .payloadTooLarge, code: .payloadTooLarge,
                            "a message may be at most \(limits.maxMessageBytes) bytes; this one was dropped")))
                    } else if kind == .binary {
                        await send(.error(NeuroplexError(
                            .badRequest, code: .unsupportedFrame, "send JSON text frames; binary frames are not understood")))
                    } else {
                        await answer(Array(message.readableBytesView), starting: starter)
                    }
                    message.clear()
                }
            } catch {
                logger.debug("could not read from the memory WebSocket", metadata: ["error": "\(error)"])
            }
        }

        /// Answers one client frame: a reply echoing its `id`, or an error frame.
        private func answer(_ text: [UInt8], starting starter: AsyncStream<Forwarding>.Continuation) async {
            let request: JSONValue
            do {
                request = try JSONValue.parse(text)
            } catch {
                await send(.error(NeuroplexError(.badRequest, code: .invalidJSON, "the frame is not JSON: \(error)")))
                return
            }
            guard case .object(let fields) = request else {
                await send(.error(NeuroplexError(.badRequest, code: .validationFailed, "a frame must be a JSON object with an op")))
                return
            }
            let id = fields["id"]
            do {
                guard case .string(let op)? = fields["op"] else {
                    throw NeuroplexError.invalid(
                        "op", "op must be one of subscribe, unsubscribe, join, leave, publish, ping", kind: .badRequest)
                }
                switch op {
                case "subscribe": try await subscribe(fields, id: id, starting: starter)
                case "unsubscribe": try await unsubscribe(fields, id: id)
                case "join": try await join(fields, id: id, starting: starter)
                case "leave": try await leave(fields, id: id)
                case "publish": try await publish(fields, id: id)
                case "ping": await send(Reply(type: "pong", id: id))
                default:
                    throw NeuroplexError.invalid(
                        "op", "unknown op '\(op)': use subscribe, unsubscribe, join, leave, publish or ping")
                }
            } catch {
                await send(.error(Problem.classify(error), id: id))
            }
        }

        private func subscribe(
            _ fields: [String: JSONValue], id: JSONValue?, starting starter: AsyncStream<Forwarding>.Continuation
        ) async throws {
            let pattern = try Self.string(fields, "pattern", "a glob such as user:*")
            var since: UInt64?
            if let sent = fields["since"], sent != .null {
                guard case .int(let position) = sent, position >= 0 else {
                    throw NeuroplexError.invalid("since", "since must be a change sequence: an integer of 0 or more")
                }
                since = UInt64(position)
                // A position no longer retained is refused before subscribing, as the HTTP change stream does.
                _ = try memory.changes(since: UInt64(position), limit: 1)
            }
            let (stop, stopper) = AsyncStream<Never>.makeStream()
            let subscription = try listening.withLock { listening in
                guard listening.subscription(for: pattern) == nil else {
                    throw NeuroplexError(
                        .conflict, code: .alreadySubscribed,
                        "this socket is already subscribed to '\(pattern)'; unsubscribe first to start again elsewhere",
                        field: "pattern")
                }
                try checkRoom(listening)
                listening.lastSubscription += 1
                listening.subscriptions[listening.lastSubscription] = .init(pattern: pattern, stop: stopper)
                return listening.lastSubscription
            }
            // Watching starts now, so nothing between this reply and the first change frame is missed.
            let changes = memory.watch(GlobPattern(pattern), since: since)
            await send(Reply(type: "subscribed", id: id, pattern: pattern))
            starter.yield(.changes(subscription: subscription, pattern: pattern, changes, stop: stop))
        }

        private func unsubscribe(_ fields: [String: JSONValue], id: JSONValue?) async throws {
            let pattern = try Self.string(fields, "pattern", "a pattern this socket is subscribed to")
            try listening.withLock { listening in
                guard let subscription = listening.subscription(for: pattern) else {
                    throw NeuroplexError(
                        .notFound, code: .notSubscribed, "this socket is not subscribed to '\(pattern)'", field: "pattern")
                }
                listening.subscriptions.removeValue(forKey: subscription)?.stop.finish()
            }
            await send(Reply(type: "unsubscribed", id: id, pattern: pattern))
        }

        private func join(
            _ fields: [String: JSONValue], id: JSONValue?, starting starter: AsyncStream<Forwarding>.Continuation
        ) async throws {
            let target = try Self.channelOrPattern(fields)
            let events = memory.events
            let started = try listening.withLock { listening -> Forwarding? in
                if var channels = listening.channels {
                    switch target {
                    case .channel(let name) where channels.names.contains(name): return nil
                    case .pattern(let pattern) where channels.patterns[pattern] != nil: return nil
                    default: try checkRoom(listening)
                    }
                    switch target {
                    case .channel(let name):
                        if events.update(channels.bus, addChannels: [name]).channels.contains(name) {
                            channels.names.insert(name)
                            listening.channels = channels
                            return nil
                        }
                    case .pattern(let pattern):
                        if events.update(channels.bus, addPatterns: [pattern]).patterns.contains(pattern) {
                            channels.patterns[pattern] = GlobPattern(pattern)
                            listening.channels = channels
                            return nil
                        }
                    }
                    // The bus ended that subscription (it lagged; the writer is about to say so): start another.
                } else {
                    try checkRoom(listening)
                }
                let channels: Listening.Channels
                let messages: AsyncThrowingStream<ChannelMessage, any Error>
                switch target {
                case .channel(let name):
                    let subscription = events.subscribe(channels: [name])
                    channels = .init(bus: subscription.id, names: [name])
                    messages = subscription.messages
                case .pattern(let pattern):
                    let subscription = events.subscribe(patterns: [GlobPattern(pattern)])
                    channels = .init(bus: subscription.id, patterns: [pattern: GlobPattern(pattern)])
                    messages = subscription.messages
                }
                listening.channels = channels
                return .messages(bus: channels.bus, messages)
            }
            await send(target.reply("joined", id: id))
            if let started { starter.yield(started) }
        }

        private func leave(_ fields: [String: JSONValue], id: JSONValue?) async throws {
            let target = try Self.channelOrPattern(fields)
            let events = memory.events
            listening.withLock { listening in
                guard var channels = listening.channels else { return }
                switch target {
                case .channel(let name):
                    guard channels.names.remove(name) != nil else { return }
                    events.update(channels.bus, removeChannels: [name])
                case .pattern(let pattern):
                    guard channels.patterns.removeValue(forKey: pattern) != nil else { return }
                    events.update(channels.bus, removePatterns: [pattern])
                }
                listening.channels = channels
            }
            await send(target.reply("left", id: id))
        }

        private func publish(_ fields: [String: JSONValue], id: JSONValue?) async throws {
            guard key.scopes.grant(.memoryWrite) else {
                throw NeuroplexError(
                    .forbidden, code: .forbidden, "publishing needs the scope 'memory:write', which this key lacks")
            }
            let channel = try Self.string(fields, "channel", "the channel's name")
            let receivers = memory.events.publish(channel, fields["data"] ?? .null)
            await send(Reply(type: "published", id: id, channel: channel, receivers: receivers))
        }

        private func checkRoom(_ listening: Listening) throws {
            guard listening.count < limits.maxSubscriptions else {
                throw NeuroplexError(
                    .conflict, code: .tooManySubscriptions,
                    "a socket may hold \(limits.maxSubscriptions) subscriptions, channels and patterns together")
            }
        }

        private enum Target {
            case channel(String)
            case pattern(String)

            func reply(_ type: String, id: JSONValue?) -> Reply {
                switch self {
                case .channel(let name): Reply(type: type, id: id, channel: name)
                case .pattern(let pattern): Reply(type: type, id: id, pattern: pattern)
                }
            }
        }

        private static func channelOrPattern(_ fields: [String: JSONValue]) throws -> Target {
            switch (fields["channel"], fields["pattern"]) {
            case (.some, nil): .channel(try string(fields, "channel", "the channel's name"))
            case (nil, .some): .pattern(try string(fields, "pattern", "a glob such as chat.*"))
            default: throw NeuroplexError.invalid("channel", "give either channel or pattern", kind: .badRequest)
            }
        }

        private static func string(_ fields: [String: JSONValue], _ name: String, _ what: String) throws -> String {
            guard case .string(let value)? = fields[name], !value.isEmpty else {
                throw NeuroplexError.invalid(name, "\(name) must be a non-empty string: \(what)", kind: .badRequest)
            }
            return value
        }
    }
}
