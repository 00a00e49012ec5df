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
/// Each connection is a child task reading batches of commands (all that arrived together) and answering each
/// batch with one write, so pipelined clients get their replies in few system calls.
struct RESPServer: Service {
    let host: String
    let port: Int
    let memory: Memory
    let keys: KeyStore
    let logger: Logger
    /// Called with the bound port once listening (tests bind port 0).
    var onListening: @Sendable (Int) -> Void = { _ in }

    private static let clientIDs = Atomic<Int>(0)

    func run() async throws {
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .bind(host: host, port: port) { child in
                child.eventLoop.makeCompletedFuture {
                    try child.pipeline.syncOperations.addHandler(ByteToMessageHandler(RESPCommandDecoder()))
                    return try NIOAsyncChannel<[RESPCommand], ByteBuffer>(wrappingChannelSynchronously: child)
                }
            }
        // The channel must be closed through executeThenClose whatever happens next, cancellation included.
        let listener = server.channel
        try await server.executeThenClose { connections in
            let bound = listener.localAddress?.port ?? port
            logger.info("redis protocol listening", metadata: ["resp.port": "\(bound)"])
            onListening(bound)
            try await withGracefulShutdownHandler {
                try await withThrowingDiscardingTaskGroup { group in
                    for try await connection in connections {
                        group.addTask { await serve(connection) }
                    }
                }
            } onGracefulShutdown: {
                listener.close(promise: nil)
            }
        }
    }

    private func serve(_ connection: NIOAsyncChannel<[RESPCommand], ByteBuffer>) async {
        let id = Self.clientIDs.add(1, ordering: .relaxed).newValue
        var session = RESPSession(memory: memory, keys: keys, clientID: id)
        do {
            try await connection.executeThenClose { inbound, outbound in
                try await withThrowingDiscardingTaskGroup { group in
                    defer { session.endSubscription() }
                    for try await batch in inbound {
                        var writer = RESPWriter(
                            buffer: connection.channel.allocator.buffer(capacity: 64 * batch.count),
                            protocolVersion: session.protocolVersion)
                        for command in batch {
                            await session.execute(command, into: &writer)
                            if session.closeAfterReply { break }
                        }
                        try await outbound.write(writer.buffer)
                        if let subscription = session.newSubscription {
                            session.newSubscription = nil
                            let version = session.protocolVersion
                            let events = memory.events
                            let allocator = connection.channel.allocator
                            group.addTask {
                                for try await message in subscription.messages {
                                    var push = RESPWriter(buffer: allocator.buffer(capacity: 64), protocolVersion: version)
                                    if let pattern = events.matchedPattern(subscription.id, channel: message.channel) {
                                        push.pushHeader(4)
                                        push.bulk("pmessage")
                                        push.bulk(pattern)
                                    } else {
                                        push.pushHeader(3)
                                        push.bulk("message")
                                    }
                                    push.bulk(message.channel)
                                    if case .string(let text) = message.data { push.bulk(text) } else { push.bulk(message.data.bytes) }
                                    try await outbound.write(push.buffer)
                                }
                            }
                        }
                        if session.closeAfterReply { return }
                    }
                }
            }
        } catch let violation as RESPCommandDecoder.ProtocolViolation {
            logger.debug("redis protocol error", metadata: ["error": "\(violation)"])
        } catch {
            logger.debug("redis connection ended", metadata: ["error": "\(error)"])
        }
    }
}
