import Dispatch
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory
import Synchronization

/// `GET` and `PUT /memory/kv/{key}` answered on the connection's event loop, before Hummingbird sees the request.
///
/// Every other request goes through Hummingbird's router as a task: the hop from the event loop to the concurrency
/// pool and back, the async request and response streams and the middleware cost more than the key-value operation
/// itself many times over (see docs/benchmarks.md). This handler sits in each HTTP/1 connection's pipeline after the
/// HTTP codec and answers the plain, successful cases of the two hottest routes itself — the same bytes the router's
/// ``MemoryFastRoutes`` would send, with the same headers, request id and metrics. It hands anything else to the
/// router unchanged: other routes; requests with a query, a causal token, `Expect`, `Connection: close`, an `Accept`
/// that rules out JSON or a body over 64 KiB; keys that need checks beyond the cache (unknown, rate-limited,
/// expiring, revoked); and every request that does not succeed here — a missing key, a body that does not parse, a
/// failed condition, a wrong type — so that errors are rendered in one place. Nothing is applied before such a hand
/// over: the engine refuses a write before it changes anything.
///
/// Answers keep the order of the requests: a request is answered here only when no earlier request of the
/// connection is still with the router; with sync durability the answer waits for the log's group commit, and the
/// connection reads nothing more meanwhile.
///
/// A plain live watch (`GET /memory/watch`, at most a `pattern` in the query) is answered here too: the head, then
/// the pattern's feed writes the body through a ``LoopWatchStream`` until the client goes, lags or the server stops.
final class MemoryKVChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// What every connection's handler shares.
    struct Shared: Sendable {
        let memory: Memory
        let keys: KeyStore
        let metrics: HTTPInstruments
        let readScope: Scope
        let writeScope: Scope
        let serverName: String
        /// The largest body answered here (64 KiB, or the configured limit when lower).
        let maxBody: Int
        /// Live watches (`GET /memory/watch` without `since`) are streamed here from this hub's feeds when set.
        var watchHub: WatchHub?
        let dates = HTTPDateCache()
    }

    /// The largest body answered here by default; larger ones go to the router, which enforces the configured limit.
    static let maxBody = 64 * 1024
    static let route = "/memory/kv/{key}"
    static let watchRoute = "/memory/watch"
    private static let prefix = Array("/memory/kv/".utf8)

    private let shared: Shared
    /// Requests given to the router whose answers have not ended yet.
    private var withRouter = 0
    /// The request being collected to be answered here.
    private var pending: (head: HTTPRequest, key: String, body: ByteBuffer?, start: UInt64)?
    /// A live watch whose request is being read, and the stream once it is answered. A connection with a live
    /// watch answers nothing else: the response has no end but the server's.
    private var pendingWatch: (head: HTTPRequest, pattern: String, start: UInt64)?
    private var watch: LoopWatchStream?
    /// While an answer waits for the disk: the parts that arrived meanwhile, and whether a read was asked for.
    private var waitingForDisk = false
    private var held: [HTTPRequestPart] = []
    private var readPending = false
    private var wroteSinceFlush = false
    private var active = true
    /// The HTTP types codec's context: an answer's head and body are written through it as NIO's own parts,
    /// straight to NIO's encoder. Without it (`nil`: not in the pipeline), every request goes to the router.
    private var codec: ChannelHandlerContext?

    init(_ shared: Shared) { self.shared = shared }

    func handlerAdded(context: ChannelHandlerContext) {
        codec = try? context.pipeline.syncOperations.context(handlerType: HTTP1ToHTTPServerCodec.self)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if waitingForDisk {
            held.append(part)
        } else {
            receive(part, context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfWritten(context: context)
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        active = false
        context.fireChannelInactive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if let watch, context.channel.isWritable { watch.deliver() }
        context.fireChannelWritabilityChanged()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is EndLiveStreams {
            watch?.end()
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        // Anything sent after a live watch's request is not answered (the watch's response does not end).
        guard watch == nil else { return }
        switch part {
        case .head(let head):
            if withRouter == 0, codec != nil, let key = Self.answerableKey(head, shared: shared) {
                pending = (head, key, nil, DispatchTime.now().uptimeNanoseconds)
            } else if withRouter == 0, let pattern = Self.answerableWatch(head, shared: shared) {
                pendingWatch = (head, pattern, DispatchTime.now().uptimeNanoseconds)
            } else {
                forward(.head(head), context: context)
            }
        case .body(var bytes):
            if let request = pendingWatch {
                // A GET with a body: the router decides what that is.
                pendingWatch = nil
                return handOver(request.head, bytes, context: context)
            }
            guard var request = pending else {
                context.fireChannelRead(wrapInboundOut(part))
                return
            }
            pending = nil
            if request.body == nil { request.body = bytes } else { request.body!.writeBuffer(&bytes) }
            guard request.body!.readableBytes <= shared.maxBody else {
                handOver(request.head, request.body, context: context)
                return
            }
            pending = request
        case .end:
            if let request = pendingWatch {
                pendingWatch = nil
                return startWatch(request, context: context)
            }
            guard let request = pending else {
                context.fireChannelRead(wrapInboundOut(part))
                return
            }
            pending = nil
            answer(request, context: context)
        }
    }

    /// Gives a request's head to the router; its other parts follow.
    private func forward(_ head: HTTPRequestPart, context: ChannelHandlerContext) {
        withRouter += 1
        context.fireChannelRead(wrapInboundOut(head))
    }

    /// Gives the router a request this handler collected (or started to) and does not answer.
    private func handOver(_ head: HTTPRequest, _ body: ByteBuffer?, ended: Bool = false, context: ChannelHandlerContext) {
        forward(.head(head), context: context)
        if let body, body.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(.body(body))) }
        if ended { context.fireChannelRead(wrapInboundOut(.end(nil))) }
    }

    // MARK: Answering

    private func answer(
        _ request: (head: HTTPRequest, key: String, body: ByteBuffer?, start: UInt64), context: ChannelHandlerContext
    ) {
        let memory = shared.memory
        var out: [UInt8] = []
        switch request.head.method {
        case .get:
            guard request.body == nil || request.body!.readableBytes == 0, let entry = memory.get(request.key) else {
                return handOver(request.head, request.body, ended: true, context: context)
            }
            out.reserveCapacity(64 + request.key.utf8.count)
            MemoryFastRoutes.writeEntry(
                key: request.key, value: entry.value, version: entry.version, expiresAt: entry.expiresAt, into: &out)
            respond(request.head, out, causal: false, start: request.start, context: context)
        default:
            let written: (WriteResult, DurabilityTicket?)
            do {
                let body = try JSONValue.parse(request.body?.readableBytesView ?? ByteBuffer().readableBytesView)
                let (value, ttl, condition) = try MemoryFastRoutes.putArguments(body)
                written = try memory.setApplying(request.key, value, ttl: ttl, condition: condition)
            } catch {
                // The router answers it (and renders the error); nothing was written.
                return handOver(request.head, request.body, ended: true, context: context)
            }
            MemoryFastRoutes.writeWritten(key: request.key, result: written.0, into: &out)
            guard let ticket = written.1 else {
                return respond(request.head, out, causal: true, start: request.start, context: context)
            }
            // Acknowledged once on disk; the connection reads nothing more until then.
            waitingForDisk = true
            let loop = context.eventLoop
            let handler = NIOLoopBound(self, eventLoop: loop)
            let bound = NIOLoopBound(context, eventLoop: loop)
            let head = request.head
            let start = request.start
            let answer = out
            ticket.whenDurable { error in
                loop.execute {
                    handler.value.durable(head, answer, start: start, error: error, context: bound.value)
                }
            }
        }
    }

    private func durable(
        _ head: HTTPRequest, _ out: [UInt8], start: UInt64, error: (any Error)?, context: ChannelHandlerContext
    ) {
        waitingForDisk = false
        guard active else { return }
        if error != nil {
            // Applied but not durable: the client must not take it as acknowledged (as the router's path fails it).
            context.close(promise: nil)
            return
        }
        respond(head, out, causal: true, start: start, context: context)
        flushIfWritten(context: context)
        guard !held.isEmpty else { return resumeReading(context: context) }
        while !held.isEmpty && !waitingForDisk {
            receive(held.removeFirst(), context: context)
        }
        flushIfWritten(context: context)
        // Parts given to the router here, outside a read, reach it only with a read-complete.
        context.fireChannelReadComplete()
        resumeReading(context: context)
    }

    private func resumeReading(context: ChannelHandlerContext) {
        if readPending && !waitingForDisk {
            readPending = false
            context.read()
        }
    }

    private func respond(
        _ request: HTTPRequest, _ body: [UInt8], causal: Bool, start: UInt64, context: ChannelHandlerContext
    ) {
        guard let codec else { preconditionFailure("a request is answered here only with the HTTP codec below") }
        // The head and body as NIO's parts, below the HTTP types codec (the same fields in the same order as the
        // router's answer), without making `HTTPFields` and converting them to NIO's headers, and two passes fewer
        // through the handlers above. The end goes through them all: the connection's state handler counts it, and
        // NIO's encoder, which pairs each response with its request's method, ends the response it saw begin.
        var headers = HTTPHeaders()
        headers.reserveCapacity(6)
        headers.add(name: "Content-Type", value: "application/json; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.count))
        if causal { headers.add(name: CausalTokens.header.rawName, value: shared.memory.causalToken) }
        if let sent = request.headerFields[.xRequestID], RequestTracingMiddleware.isAcceptable(sent) {
            headers.add(name: "X-Request-ID", value: sent)
        } else {
            headers.add(name: "X-Request-ID", value: RequestID().description)
        }
        headers.add(name: "Date", value: shared.dates.now())
        headers.add(name: "Server", value: shared.serverName)
        var buffer = context.channel.allocator.buffer(capacity: body.count)
        buffer.writeBytes(body)
        codec.write(NIOAny(HTTPServerResponsePart.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
        codec.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buffer))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
        wroteSinceFlush = true
        shared.metrics.record(route: Self.route, method: request.method, status: 200, start: start)
    }

    /// Answers a live watch: joins the pattern's feed, then sends the head of an SSE response whose body the feed
    /// writes (see ``LoopWatchStream``).
    private func startWatch(_ request: (head: HTTPRequest, pattern: String, start: UInt64), context: ChannelHandlerContext) {
        guard let hub = shared.watchHub else { return handOver(request.head, nil, ended: true, context: context) }
        // Joined before the answer starts: every change after the client sees the head is in the stream.
        let stream = hub.stream(request.pattern, to: context)
        watch = stream
        // Left when the connection closes (Hummingbird's connection handler, before this one, does not pass
        // `channelInactive` on).
        let bound = NIOLoopBound(stream, eventLoop: context.eventLoop)
        context.channel.closeFuture.whenComplete { _ in bound.value.stop() }
        var fields = HTTPFields()
        fields.reserveCapacity(5)
        fields[.contentType] = "text/event-stream"
        fields[.cacheControl] = "no-cache"
        if let sent = request.head.headerFields[.xRequestID], RequestTracingMiddleware.isAcceptable(sent) {
            fields[.xRequestID] = sent
        } else {
            fields[.xRequestID] = RequestID().description
        }
        fields[.date] = shared.dates.now()
        fields[.server] = shared.serverName
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: fields))), promise: nil)
        wroteSinceFlush = false
        context.flush()
        shared.metrics.record(route: Self.watchRoute, method: .get, status: 200, start: request.start)
    }

    private func flushIfWritten(context: ChannelHandlerContext) {
        guard wroteSinceFlush else { return }
        wroteSinceFlush = false
        context.flush()
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { withRouter = max(0, withRouter - 1) }
        context.write(data, promise: promise)
    }

    func read(context: ChannelHandlerContext) {
        if waitingForDisk {
            readPending = true
        } else {
            context.read()
        }
    }

    // MARK: Which requests

    /// The pattern when `head` is a live watch (`GET /memory/watch` with at most a `pattern` in its query) that
    /// this handler may answer.
    static func answerableWatch(_ head: HTTPRequest, shared: Shared) -> String? {
        guard shared.watchHub != nil, head.method == .get, let path = head.path,
            path.utf8.starts(with: watchPath),
            path.utf8.count == watchPath.count || path.utf8[path.utf8.index(path.utf8.startIndex, offsetBy: watchPath.count)] == UInt8(ascii: "?")
        else { return nil }
        let query = URI(path).queryParameters
        guard query.allSatisfy({ $0.key == "pattern" }), query.count <= 1 else { return nil }
        let fields = FastPathFields(head.headerFields)
        guard !fields.refused, fields.contentLength.map({ $0 == "0" }) ?? true,
            let token = AccessGate.bearerToken(fields.authorization),
            let key = shared.keys.unrestrictedCachedKey(token), key.scopes.grant(shared.readScope)
        else { return nil }
        return query["pattern"].map(String.init) ?? "*"
    }

    private static let watchPath = Array("/memory/watch".utf8)

    /// The decoded key when `head` is a `GET` or `PUT /memory/kv/{key}` that this handler may answer.
    static func answerableKey(_ head: HTTPRequest, shared: Shared) -> String? {
        let scope: Scope
        switch head.method {
        case .get: scope = shared.readScope
        case .put: scope = shared.writeScope
        default: return nil
        }
        guard let path = head.path, path.utf8.starts(with: prefix) else { return nil }
        let raw = path.utf8.dropFirst(prefix.count)
        guard !raw.isEmpty,
            !raw.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") })
        else { return nil }
        let fields = FastPathFields(head.headerFields)
        guard !fields.refused, FastRoute.acceptsJSON(fields.accept) else { return nil }
        if head.method == .put {
            guard let type = fields.contentType, type.lowercased().hasPrefix("application/json") else { return nil }
        }
        guard let token = AccessGate.bearerToken(fields.authorization),
            let key = shared.keys.unrestrictedCachedKey(token), key.scopes.grant(scope)
        else { return nil }
        let segment = String(Substring(raw))
        guard segment.utf8.contains(UInt8(ascii: "%")) else { return segment }
        return segment.removingPercentEncoding
    }
}

/// The request header fields the fast paths decide on, found in one pass. `HTTPFields`' subscript walks every field
/// and joins the values it finds for each name it is asked: seven of them took ~2.5 µs of a ~40 µs request. Values
/// of a name sent more than once are joined with ", ", as the subscript joins them.
struct FastPathFields {
    /// A field the fast paths leave to the router: a causal token, `Expect`, `Transfer-Encoding`, or
    /// `Connection: close`.
    var refused = false
    var accept: String?
    var contentType: String?
    var contentLength: String?
    var authorization: String?

    init(_ fields: HTTPFields) {
        for field in fields {
            switch field.name {
            case CausalTokens.header, .expect, .transferEncoding: refused = true
            case .connection: if field.value.lowercased().contains("close") { refused = true }
            case .accept: Self.add(field.value, to: &accept)
            case .contentType: Self.add(field.value, to: &contentType)
            case .contentLength: Self.add(field.value, to: &contentLength)
            case .authorization: Self.add(field.value, to: &authorization)
            default: continue
            }
        }
    }

    private static func add(_ value: String, to slot: inout String?) {
        slot = slot.map { $0 + ", " + value } ?? value
    }
}

/// The `Date` header's text (RFC 9110's IMF-fixdate), made once a second.
final class HTTPDateCache: Sendable {
    private let cached = Mutex<(second: Int, text: String)>((-1, ""))

    func now() -> String {
        let second = Int(time(nil))
        return cached.withLock { cached in
            if cached.second != second { cached = (second, Self.format(second)) }
            return cached.text
        }
    }

    static func format(_ seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

/// Sent down a connection's pipeline when the server starts its graceful shutdown, for the live watch streams
/// answered by ``MemoryKVChannelHandler`` to end their responses (Hummingbird's connection handler, which sees the
/// shutdown first, does not pass it on).
struct EndLiveStreams {}

/// Passes the server's quiesce event on and then sends ``EndLiveStreams``; it sits just before Hummingbird's
/// `HTTPConnectionStateHandler`, which consumes that event.
final class LiveStreamShutdownHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if event is ChannelShouldQuiesceEvent { context.fireUserInboundEventTriggered(EndLiveStreams()) }
    }
}
