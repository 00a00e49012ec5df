import Foundation
import Logging
import NIOCore
import NIOPosix
import NeuroplexCore
import NeuroplexSentinel
import ServiceLifecycle
import Synchronization

/// Flow collectors started through `POST /sentinel/sources`: a UDP listener per source that decodes NetFlow v5/v9
/// and IPFIX export packets and runs the flows through Sentinel's live rules, in arrival order.
///
/// Sources live as long as the server: they are not stored, and a restart starts none (say so to the exporter's
/// owner; the listing shows what runs). Live packet capture from an interface is not built yet.
final class SentinelCollectors: Service, Sendable {
    struct Source: Codable, Sendable, Equatable {
        var id: String
        var type: String
        var host: String
        var port: Int
        var startedAt: Date
        /// Export packets received, flows decoded, packets that could not be read, and the last reason.
        var datagrams: Int
        var flows: Int
        var rejected: Int
        var skippedRecords: Int
        var lastError: String?
    }

    /// A source's figures, updated on its event loop.
    private final class Counters: Sendable {
        struct Figures {
            var datagrams = 0, flows = 0, rejected = 0, skippedRecords = 0
            var lastError: String?
        }
        let figures = Mutex(Figures())
    }

    private final class Running: Sendable {
        let source: Source
        let counters: Counters
        let channel: any Channel
        let feed: AsyncStream<[FlowObservation]>.Continuation
        init(source: Source, counters: Counters, channel: any Channel, feed: AsyncStream<[FlowObservation]>.Continuation) {
            self.source = source
            self.counters = counters
            self.channel = channel
            self.feed = feed
        }

        var snapshot: Source {
            var current = source
            counters.figures.withLock { figures in
                current.datagrams = figures.datagrams
                current.flows = figures.flows
                current.rejected = figures.rejected
                current.skippedRecords = figures.skippedRecords
                current.lastError = figures.lastError
            }
            return current
        }
    }

    let sentinel: Sentinel
    let group: any EventLoopGroup
    let logger: Logger
    private let running = Mutex<[String: Running]>([:])

    init(sentinel: Sentinel, group: any EventLoopGroup, logger: Logger) {
        self.sentinel = sentinel
        self.group = group
        self.logger = logger
    }

    /// Waits for shutdown, then closes every collector.
    func run() async throws {
        try? await gracefulShutdown()
        for id in running.withLock({ Array($0.keys) }) { try? await stop(id: id) }
    }

    /// Starts a collector. - Throws: `validation_failed` for an unknown type or a bad port; `conflict` when the port
    /// cannot be bound.
    func start(type: String, host: String, port: Int) async throws -> Source {
        guard type == "netflow" else {
            throw NeuroplexError.invalid(
                "type", "type is netflow (NetFlow v5/v9 and IPFIX over UDP); live interface capture is not available yet")
        }
        guard (0...65535).contains(port) else { throw NeuroplexError.invalid("port", "port is 0–65535 (0: any free port)") }
        let id = Identifier.make(prefix: "src", at: Date())
        let (stream, feed) = AsyncStream.makeStream(of: [FlowObservation].self, bufferingPolicy: .bufferingNewest(10_000))
        let counters = Counters()
        let channel: any Channel
        do {
            // No SO_REUSEADDR: for UDP it would let a second listener share the port and split the exports.
            channel = try await DatagramBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ExportHandler(feed: feed, counters: counters))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            feed.finish()
            throw NeuroplexError(.conflict, code: .conflict, "cannot listen on \(host):\(port): \(error)")
        }
        let source = Source(
            id: id, type: type, host: host, port: channel.localAddress?.port ?? port, startedAt: Timestamp.truncated(Date()),
            datagrams: 0, flows: 0, rejected: 0, skippedRecords: 0, lastError: nil)
        let entry = Running(source: source, counters: counters, channel: channel, feed: feed)
        running.withLock { $0[id] = entry }
        let sentinel = sentinel
        let logger = logger
        Task {
            for await flows in stream {
                do {
                    _ = try await sentinel.observe(flows: flows)
                } catch {
                    logger.warning("could not store a collector's alerts", metadata: ["error": "\(error)", "source": "\(id)"])
                }
            }
        }
        logger.info("flow collector started", metadata: ["source": "\(id)", "port": "\(source.port)"])
        return source
    }

    func list() -> [Source] {
        running.withLock { $0.values.map(\.snapshot) }.sorted { $0.id < $1.id }
    }

    /// - Throws: `not_found`.
    func stop(id: String) async throws {
        guard let entry = running.withLock({ $0.removeValue(forKey: id) }) else { throw NeuroplexError.notFound("source", id: id) }
        try? await entry.channel.close()
        entry.feed.finish()
    }

    /// Decodes each datagram on the collector's event loop (templates kept per exporter) and feeds the flows on.
    private final class ExportHandler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        var decoder = NetFlowDecoder()
        let feed: AsyncStream<[FlowObservation]>.Continuation
        let counters: Counters

        init(feed: AsyncStream<[FlowObservation]>.Continuation, counters: Counters) {
            self.feed = feed
            self.counters = counters
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            let exporter = envelope.remoteAddress.ipAddress ?? "unknown"
            do {
                let flows = try decoder.decode(Array(envelope.data.readableBytesView), exporter: exporter)
                let skipped = decoder.skippedRecords
                counters.figures.withLock { figures in
                    figures.datagrams += 1
                    figures.flows += flows.count
                    figures.skippedRecords = skipped
                }
                if !flows.isEmpty { feed.yield(flows) }
            } catch {
                let reason = (error as? NeuroplexError)?.message ?? "\(error)"
                counters.figures.withLock { figures in
                    figures.datagrams += 1
                    figures.rejected += 1
                    figures.lastError = "\(exporter): \(reason)"
                }
            }
        }
    }
}
