import HTTPTypes
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
import Synchronization
// `WebSocketHandler.handle` runs the WebSocket protocol (ping/pong, close handshake, fragments) over an upgraded
// channel, as hummingbird-websocket's own channel calls it. It is SPI, not API: this file is its only user, so a
// swift-websocket release that changes it breaks the build here and nowhere else.
@_spi(WSInternal) import WSCore

/// HTTP/1.1 with WebSocket upgrades, where an upgrade that ``decide`` refuses is answered by the HTTP router.
///
/// hummingbird-websocket's own upgrade channel answers every refused upgrade with an empty 400. Ours hands the
/// request to the router instead, so that a refused `GET /memory/ws` gets the same problem document as any other
/// route (401 without a valid key, 403 without the scope, with the request id and the metrics), before upgrading.
///
/// NIO's upgrade handler does not pass on a request that asked for an upgrade it did not make (a refused WebSocket,
/// or a protocol it has no upgrader for, such as `h2c`): ``FirstRequestHead`` notes the head, and that request is
/// answered from it (it has no body), after which the connection is closed.
struct HTTP1WebSocketChannel: ServerChildChannel, HTTPChannelHandler {
    /// The context of an upgraded connection.
    struct Context: WebSocketContext {
        let logger: Logger
    }

    typealias Handler = WebSocketDataHandler<Context>

    /// The handler for an upgrade request, or `nil` to let the router answer it as a plain request.
    typealias Decision = @Sendable (HTTPRequest, Logger) async -> Handler?

    enum Negotiated: Sendable {
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, Handler)
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        /// An upgrade request that was not upgraded: NIO consumed it, so it is answered from its head.
        case notUpgraded(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, HTTPRequest)
    }

    struct Value: ServerChildChannelValue {
        let negotiated: EventLoopFuture<Negotiated>
        let channel: any Channel
    }

    /// What the pipeline callbacks of one connection tell each other: the decision of the upgrader's `shouldUpgrade`
    /// for its pipeline callback, and the head of the first request.
    private final class Pending: Sendable {
        let handler = Mutex<Handler?>(nil)
        let firstHead = Mutex<HTTPRequestHead?>(nil)
    }

    /// Notes the head of a connection's first request, then leaves the pipeline.
    private final class FirstRequestHead: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias InboundOut = HTTPServerRequestPart
        let pending: Pending

        init(_ pending: Pending) { self.pending = pending }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .head(let head) = unwrapInboundIn(data) else {
                context.fireChannelRead(data)
                return
            }
            pending.firstHead.withLock { $0 = head }
            context.fireChannelRead(data)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    let responder: Responder
    let configuration: WebSocketServerConfiguration
    let decide: Decision
    /// When set, each connection answers plain key-value reads and writes on its event loop.
    let memoryFastPath: MemoryKVChannelHandler.Shared?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let pending = Pending()
            let upgrader = NIOTypedWebSocketServerUpgrader<Negotiated>(
                maxFrameSize: configuration.maxFrameSize,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        guard let request = try? HTTPRequest(head, secure: false, splitCookie: false),
                            let handler = await decide(request, logger)
                        else { return nil }
                        pending.handler.withLock { $0 = handler }
                        return HTTPHeaders()
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        guard let handler = pending.handler.withLock({ $0 }) else {
                            preconditionFailure("an upgrade only runs after shouldUpgrade chose a handler")
                        }
                        let webSocket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return .webSocket(webSocket, handler)
                    }
                })
            let http1 = HTTP1Channel.Configuration()
            var pipeline = NIOUpgradableHTTPServerPipelineConfiguration<Negotiated>(
                upgradeConfiguration: .init(
                    upgraders: [upgrader],
                    notUpgradingCompletionHandler: { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                            if memoryFastPath?.watchHub != nil {
                                try channel.pipeline.syncOperations.addHandler(LiveStreamShutdownHandler())
                            }
                            try channel.pipeline.syncOperations.addHandler(
                                HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                            if let memoryFastPath {
                                try channel.pipeline.syncOperations.addHandler(MemoryKVChannelHandler(memoryFastPath))
                            }
                            let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                                wrappingChannelSynchronously: channel,
                                configuration: .init(isOutboundHalfClosureEnabled: true))
                            // A request without `Upgrade` is passed on to this pipeline; one with it was consumed.
                            if let head = pending.firstHead.withLock({ $0 }), head.headers.contains(name: "upgrade") {
                                return .notUpgraded(http, try HTTPRequest(head, secure: false, splitCookie: false))
                            }
                            return .http(http)
                        }
                    }))
            // As Hummingbird's own HTTP/1 channel: it pipelines and handles errors itself.
            pipeline.enablePipelining = false
            pipeline.enableErrorHandling = false
            pipeline.enableResponseHeaderValidation = false
            pipeline.decoderConfiguration.maxHeaderFieldSize = http1.httpDecoder.maxHeaderFieldSize
            pipeline.decoderConfiguration.maxHeaderListSize = http1.httpDecoder.maxHeaderListSize
            pipeline.decoderConfiguration.maxHeaderFieldCount = http1.httpDecoder.maxHeaderFieldCount
            let negotiated = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(
                configuration: pipeline)
            let upgradeHandler = try channel.pipeline.syncOperations.handler(
                type: NIOTypedHTTPServerUpgradeHandler<Negotiated>.self)
            try channel.pipeline.syncOperations.addHandler(FirstRequestHead(pending), position: .before(upgradeHandler))
            return Value(negotiated: negotiated, channel: channel)
        }
    }

    func handle(value: Value, logger: Logger) async {
        do {
            switch try await value.negotiated.get() {
            case .http(let http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case .notUpgraded(let http, let head):
                try await http.executeThenClose { _, outbound in
                    try await responder(
                        Request(head: head, body: .init(buffer: ByteBuffer())), ResponseWriter(outbound: outbound),
                        http.channel)
                }
            case .webSocket(let webSocket, let handler):
                _ = try await WebSocketHandler.handle(
                    type: .server,
                    configuration: .init(
                        extensions: [], autoPing: configuration.autoPing, closeTimeout: configuration.closeTimeout,
                        validateUTF8: configuration.validateUTF8, maxFrameSize: configuration.maxFrameSize),
                    asyncChannel: webSocket, context: Context(logger: logger), handler: handler)
            }
        } catch {
            // A malformed upgrade request (no Sec-WebSocket-Key, say) or a connection lost during the handshake.
            logger.debug("WebSocket connection ended", metadata: ["error": "\(error)"])
            try? await value.channel.close()
        }
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with WebSocket upgrades decided by `decide`; see ``HTTP1WebSocketChannel``.
    static func http1WebSocket(
        configuration: WebSocketServerConfiguration, memoryFastPath: MemoryKVChannelHandler.Shared? = nil,
        decide: @escaping HTTP1WebSocketChannel.Decision
    ) -> HTTPServerBuilder {
        HTTPServerBuilder { responder in
            HTTP1WebSocketChannel(
                responder: HTTP1WebSocketChannel.answeringContinue(responder), configuration: configuration,
                decide: decide, memoryFastPath: memoryFastPath)
        }
    }
}

extension HTTP1WebSocketChannel {
    /// Answers a request that says `Expect: 100-continue` with `100 Continue` before the route reads its body.
    ///
    /// A client that asks (curl does for every body over 1 MiB) waits for that answer before sending the body, and
    /// without it waits a second: a second added to every large upload.
    static func answeringContinue(_ responder: @escaping Responder) -> Responder {
        { (request, writer: consuming ResponseWriter, channel) in
            if let expectation = request.headers[.expect], expectation.lowercased() == "100-continue" {
                try await writer.writeInformationalHead(HTTPResponse(status: .continue))
            }
            try await responder(request, writer, channel)
        }
    }
}
