import Foundation
import Logging
import NIOCore
import NIOPosix
import NeuroplexCore
import NeuroplexSentinel
import ServiceLifecycle
import Synchronization

/// Sources started through `POST /sentinel/sources`, whose flows run through Sentinel's live rules and host
/// baselines in arrival order: `netflow`, a UDP listener that decodes NetFlow v5/v9 and IPFIX export packets, and
/// `pcap`, live capture from an interface through libpcap (with a BPF filter) metered into flows.
///
/// Sources live as long as the server: they are not stored, and a restart starts none (the listing shows what runs).
final class SentinelCollectors: Service, Sendable {
    struct Source: Codable, Sendable, Equatable {
        var id: String
        var type: String
        /// A collector's address.
        var host: String?
        var port: Int?
        /// A live capture's interface and filter.
        var interface: String?
        var filter: String?
        var startedAt: Date
        /// A live capture's packets.
        var packets: Int?
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
        let close: @Sendable () async -> Void
        let capture: LiveCapture?
        let feed: AsyncStream<[FlowObservation]>.Continuation
        init(
            source: Source, counters: Counters, capture: LiveCapture? = nil, feed: AsyncStream<[FlowObservation]>.Continuation,
            close: @escaping @Sendable () async -> Void
        ) {
            self.source = source
            self.counters = counters
            self.capture = capture
            self.feed = feed
            self.close = close
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
            if let capture {
                current.packets = capture.packets
                current.flows = capture.flows
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

    /// Starts a source: `netflow` listens on `host:port`; `pcap` captures on `interface` through `filter`.
    /// - Throws: `validation_failed` for an unknown type, a bad port, interface or filter; `conflict` when the port
    ///   cannot be bound; `capture_not_permitted` when the server may not capture.
    func start(type: String, host: String, port: Int, interface: String? = nil, filter: String? = nil) async throws -> Source {
        switch type {
        case "netflow": return try await startCollector(host: host, port: port)
        case "pcap": return try startCapture(interface: interface, filter: filter)
        default:
            throw NeuroplexError.invalid(
                "type", "type is netflow (NetFlow v5/v9 and IPFIX over UDP) or pcap (live capture from an interface)")
        }
    }

    /// Runs a source's flows through the live rules, in arrival order, until its feed ends.
    private func consume(_ stream: AsyncStream<[FlowObservation]>, source id: String) {
        let sentinel = sentinel
        let logger = logger
        Task {
            for await flows in stream {
                do {
                    _ = try await sentinel.observe(flows: flows)
                } catch {
                    logger.warning("could not store a source's alerts", metadata: ["error": "\(error)", "source": "\(id)"])
                }
            }
        }
    }

    private func startCapture(interface: String?, filter: String?) throws -> Source {
        guard let interface, !interface.isEmpty else {
            throw NeuroplexError.invalid("interface", "interface is required for a pcap source (e.g. eth0, lo)", kind: .badRequest)
        }
        let capture = try LiveCapture(interface: interface, filter: filter)
        let id = Identifier.make(prefix: "src", at: Date())
        let (stream, feed) = AsyncStream.makeStream(of: [FlowObservation].self, bufferingPolicy: .bufferingNewest(10_000))
        let thread = Thread {
            capture.run { flows in feed.yield(flows.map { $0.observation(id: "\(id):\($0.serial)") }) }
            feed.finish()
        }
        thread.name = "sentinel-live-\(interface)"
        thread.start()
        let source = Source(
            id: id, type: "pcap", interface: interface, filter: filter, startedAt: Timestamp.truncated(Date()), packets: 0,
            datagrams: 0, flows: 0, rejected: 0, skippedRecords: 0, lastError: nil)
        running.withLock { $0[id] = Running(source: source, counters: Counters(), capture: capture, feed: feed) { capture.stop() } }
        consume(stream, source: id)
        logger.info("live capture started", metadata: ["source": "\(id)", "interface": "\(interface)", "filter": "\(filter ?? "")"])
        return source
    }

    private func startCollector(host: String, port: Int) async throws -> Source {
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
            id: id, type: "netflow", host: host, port: channel.localAddress?.port ?? port, startedAt: Timestamp.truncated(Date()),
            datagrams: 0, flows: 0, rejected: 0, skippedRecords: 0, lastError: nil)
        running.withLock { $0[id] = Running(source: source, counters: counters, feed: feed) { try? await channel.close() } }
        consume(stream, source: id)
        logger.info("flow collector started", metadata: ["source": "\(id)", "port": "\(channel.localAddress?.port ?? port)"])
        return source
    }

    func list() -> [Source] {
        running.withLock { $0.values.map(\.snapshot) }.sorted { $0.id < $1.id }
    }

    /// - Throws: `not_found`.
    func stop(id: String) async throws {
        guard let entry = running.withLock({ $0.removeValue(forKey: id) }) else { throw NeuroplexError.notFound("source", id: id) }
        await entry.close()
        if entry.capture == nil { entry.feed.finish() }
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
