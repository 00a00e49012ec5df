import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NeuroplexCore
import NeuroplexGateway
import NeuroplexML
import ServiceLifecycle

/// Real-time model status: every ``MLEvent`` (job progress, versions, validations, deploys, canary steps,
/// rollbacks, retirements, drift and accuracy alerts) as JSON, over Server-Sent Events (`GET /ml/events`) and a
/// WebSocket (`GET /ml/ws`). `?model=` (id or name) keeps one model's events. Both end at graceful shutdown.
struct MLEventStream: Sendable {
    static let socketPath = "/ml/ws"

    let events: MLEventBus
    let registry: ModelRegistry
    let keys: KeyStore

    /// The id of the model `?model=` names; `nil` for all models.
    /// - Throws: 404 for an unknown model.
    func filter(_ request: Request) async throws -> String? {
        guard let reference = request.uri.queryParameters.get("model"), !reference.isEmpty else { return nil }
        if let model = try? await registry.get(id: reference) { return model.id }
        if let model = try await registry.find(name: reference) { return model.id }
        throw NeuroplexError.notFound("model", id: reference)
    }

    /// `GET /ml/events`: one `event: <type>` / `data: <json>` frame per event.
    var route: FastRoute {
        FastRoute { request, _, _ in
            let model = try await filter(request)
            let subscription = events.subscription()
            return Response(
                status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: ": model events\n\n"))
                    try await withGracefulShutdownHandler {
                        for await event in subscription.events where model == nil || event.modelId == model {
                            let frame = "event: \(event.type)\ndata: \(event.json.description)\n\n"
                            try await writer.write(ByteBuffer(string: frame))
                        }
                    } onGracefulShutdown: {
                        subscription.end()
                    }
                    try await writer.finish(nil)
                })
        }
    }

    /// The handler for a WebSocket upgrade to ``socketPath`` with a key that may read ML; `nil` for anything else.
    func decide(_ head: HTTPRequest, logger: Logger) async -> HTTP1WebSocketChannel.Handler? {
        guard head.method == .get, head.path?.split(separator: "?", maxSplits: 1).first == Self.socketPath[...] else {
            return nil
        }
        let request = Request(head: head, body: .init(buffer: ByteBuffer()))
        // Refused upgrades are answered by the route from ``addRoute(to:)``, with the usual problem document.
        let model: String?
        do {
            _ = try await AccessGate(access: .scope(.mlRead), keys: keys).admit(request)
            model = try await filter(request)
        } catch {
            return nil
        }
        let events = events
        return { inbound, outbound, _ in
            let stream = events.subscribe()
            await cancelWhenGracefulShutdown {
                await withTaskGroup(of: Void.self) { group in
                    // Frames from the client are read (and dropped) so that its close ends the socket.
                    group.addTask {
                        var iterator = inbound.makeAsyncIterator()
                        while (try? await iterator.next()) != nil {}
                    }
                    group.addTask {
                        for await event in stream where model == nil || event.modelId == model {
                            guard (try? await outbound.write(.text(event.json.description))) != nil else { return }
                        }
                    }
                    await group.next()
                    group.cancelAll()
                }
            }
        }
    }

    /// `GET /ml/ws` sent without an upgrade: the usual key and scope checks, then `upgrade_required`.
    func addRoute(to router: Router<NeuroplexRequestContext>) {
        let gate = AccessGate(access: .scope(.mlRead), keys: keys)
        let stream = self
        router.get(RouterPath(Self.socketPath)) { request, _ -> Response in
            _ = try await gate.admit(request)
            _ = try await stream.filter(request)
            throw NeuroplexError(
                .badRequest, code: .upgradeRequired,
                "\(Self.socketPath) is a WebSocket: send the request as an upgrade (Connection: Upgrade, Upgrade: websocket)")
        }
    }
}
