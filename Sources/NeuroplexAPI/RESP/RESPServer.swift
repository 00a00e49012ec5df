import Logging
import NIOCore
import NIOPosix
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory
import ServiceLifecycle
import Synchronization

/// The Redis-protocol listener of the memory engine (`--resp-port`, default 6380): RESP2, and RESP3 after
/// `HELLO 3`. Every connection must `AUTH` with an API key first; its scopes apply as over HTTP.
///
/// Each connection is a ``RESPConnectionHandler`` on its event loop: hot commands run there synchronously, the
/// rest in batches on a task; pipelined replies go out with one write per read.
struct RESPServer: Service {
    let host: String
    let port: Int
    let memory: Memory
    let keys: KeyStore
    let logger: Logger
    /// The event loops the connections run on: the HTTP server's (see `ServerThreads`).
    var group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    /// Called with the bound port once listening (tests bind port 0).
    var onListening: @Sendable (Int) -> Void = { _ in }

    private static let clientIDs = Atomic<Int>(0)

    func run() async throws {
        let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
        let memory = memory
        let keys = keys
        let logger = logger
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.autoRead, value: true)
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelInitializer { child in
                child.eventLoop.makeCompletedFuture {
                    let id = Self.clientIDs.add(1, ordering: .relaxed).newValue
                    let session = RESPSession(memory: memory, keys: keys, clientID: id)
                    try child.pipeline.syncOperations.addHandler(
                        RESPConnectionHandler(session: session, allocator: child.allocator, logger: logger))
                    let key = ObjectIdentifier(child)
                    connections.withLock { $0[key] = child }
                    child.closeFuture.whenComplete { _ in _ = connections.withLock { $0.removeValue(forKey: key) } }
                }
            }
            .bind(host: host, port: port).get()
        let bound = listener.localAddress?.port ?? port
        logger.info("redis protocol listening", metadata: ["resp.port": "\(bound)"])
        onListening(bound)
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await listener.closeFuture.get()
        } onCancelOrGracefulShutdown: {
            listener.close(promise: nil)
        }
        // Stopping: the listener is closed; end the open connections too (clients reconnect elsewhere).
        for connection in connections.withLock({ Array($0.values) }) { try? await connection.close() }
    }
}
