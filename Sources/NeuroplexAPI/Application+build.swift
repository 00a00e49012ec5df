public import Hummingbird
import Foundation
import NIOCore
import NIOPosix
public import Logging
public import NeuroplexCore
public import NeuroplexGateway
public import NeuroplexMemory
public import NeuroplexML
public import NeuroplexSentinel
public import NeuroplexStorage
import OpenAPIRuntime
import ServiceLifecycle
import Synchronization

/// The database and the API keys alone: what operator commands (`neuroplex keys ...`) open. They may run beside a
/// live server, so they never touch engine files such as the memory log, which only the server may write.
public struct KeyAdministration: Sendable {
    public let configuration: ServerConfiguration
    public let database: Database
    public let keys: KeyStore

    /// Opens the database, applies the migrations, and loads the keys.
    public static func open(
        _ configuration: ServerConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> KeyAdministration {
        let database = try await Database.open(
            .init(dataDirectory: configuration.dataDirectory, url: configuration.databaseURL), logger: logger)
        do {
            try await database.migrate(GatewayMigrations.all, logger: logger)
            let keys = try await KeyStore(database: database, clock: clock, logger: logger)
            return KeyAdministration(configuration: configuration, database: database, keys: keys)
        } catch {
            await database.close()
            throw error
        }
    }

    /// Closes the database.
    public func close() async { await database.close() }
}

/// The engines and shared state of one running server, opened from its configuration.
extension Platform {
    /// The deployed model `reference` (a name or id) as Sentinel's flow scorer, for tools that run Sentinel outside
    /// the server (`neuroplex sentinel analyze --model`). Restores the deployments first.
    /// - Throws: 404 for an unknown model, 409 `not_deployed`, 422 for a model that is not a classifier.
    public func flowScorer(model reference: String) async throws -> any FlowScorer {
        try await serving.restore()
        return try await ServingFlowScorer.resolve(reference, serving: serving)
    }
}

public struct Platform: Sendable {
    public let configuration: ServerConfiguration
    public let database: Database
    public let keys: KeyStore
    public let blobs: BlobStore
    public let memory: Memory
    public let datasets: Datasets
    public let training: MLTraining
    public let serving: ModelServing
    public let sentinel: Sentinel
    public let captures: SentinelCaptures

    /// Opens the database, applies the migrations, and loads the engines.
    public static func open(
        _ configuration: ServerConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger
    ) async throws -> Platform {
        let administration = try await KeyAdministration.open(configuration, clock: clock, logger: logger)
        do {
            let directory = configuration.dataDirectory as NSString
            let blobs = try BlobStore(directory: directory.appendingPathComponent("blobs"))
            blobs.removeStaleTemporaryFiles()
            try await administration.database.migrate(MLMigrations.all, logger: logger)
            var datasetSettings = Datasets.Configuration()
            datasetSettings.maximumUploadBytes = configuration.maxUploadBytes
            let events = MLEventBus()
            let jobs = MLJobs(database: administration.database, events: events, clock: clock, logger: logger)
            let datasets = Datasets(
                database: administration.database, blobs: blobs, usage: jobs, configuration: datasetSettings,
                clock: clock, logger: logger)
            let training = MLTraining(
                registry: ModelRegistry(database: administration.database, blobs: blobs, clock: clock, logger: logger),
                jobs: jobs, datasets: datasets, events: events, logger: logger)
            var servingSettings = ModelServing.Configuration()
            servingSettings.cacheTTL = .seconds(configuration.mlCacheTTLSeconds)
            servingSettings.cacheMaxBytes = configuration.mlCacheMaxBytes
            servingSettings.driftWindow = configuration.mlDriftWindow
            servingSettings.psiThreshold = configuration.mlDriftPSI
            servingSettings.ksThreshold = configuration.mlDriftKS
            let serving = ModelServing(
                training: training, database: administration.database, configuration: servingSettings, clock: clock,
                logger: logger)
            let memory = try await Memory(
                configuration: .init(
                    directory: directory.appendingPathComponent("memory"),
                    durability: configuration.memoryDurability == "async" ? .async : .sync),
                clock: clock, logger: logger)
            try await administration.database.migrate(Sentinel.migrations + SentinelCaptures.migrations, logger: logger)
            let channels = memory.events
            let sentinel = try await Sentinel(
                database: administration.database, clock: clock, logger: logger,
                announce: { channel, json in
                    // Alerts and incidents on the platform's channels (HTTP /memory/events, WebSocket, Redis SUBSCRIBE).
                    if let document = try? JSONValue.parse(json) { channels.publish(channel, document) }
                }
            ) { alert, verdict in
                // A true positive confirms the model's class; a false positive says the flows were benign.
                guard let model = alert.evidence.model, let version = alert.evidence.modelVersion,
                    let predicted = alert.evidence.predicted
                else { return }
                let benign = serving.classes(model: model)?.first(where: FlowLabels.isBenign) ?? "benign"
                try await serving.recordOutcome(
                    model: model, version: version, predicted: predicted,
                    actual: verdict == .truePositive ? predicted : benign, reference: alert.id)
            }
            let captures = SentinelCaptures(
                sentinel: sentinel, database: administration.database, blobs: blobs,
                maximumUploadBytes: configuration.maxUploadBytes,
                scorer: { try await ServingFlowScorer.resolve($0, serving: serving) }, clock: clock, logger: logger)
            return Platform(
                configuration: configuration, database: administration.database, keys: administration.keys,
                blobs: blobs, memory: memory, datasets: datasets, training: training,
                serving: serving, sentinel: sentinel, captures: captures)
        } catch {
            await administration.close()
            throw error
        }
    }

    /// Snapshots the memory engine and closes the database. The platform must not be used afterwards.
    public func close(logger: Logger) async {
        do {
            try await memory.close()
        } catch {
            logger.error("could not snapshot the memory engine", metadata: ["error": "\(error)"])
        }
        await database.close()
    }
}

/// Builds the Neuroplex HTTP application: opens the platform, creates the first admin key on an empty database,
/// and wires the routes, middleware and background services.
///
/// ```swift
/// let app = try await buildApplication(configuration, logger: logger)
/// try await app.runService()   // until SIGTERM or SIGINT
/// ```
/// The `Server` header of every answer.
let serverName = "neuroplex"

public func buildApplication(
    _ configuration: ServerConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger
) async throws -> some ApplicationProtocol {
    let platform = try await Platform.open(configuration, clock: clock, logger: logger)
    do {
        try await platform.keys.bootstrapAdminKey(writingTo: configuration.adminKeyPath, logger: logger)
        let metrics = ServerMetrics()
        let collectors = SentinelCollectors(
            sentinel: platform.sentinel,
            group: ServerThreads.group(configured: configuration.httpEventLoops) ?? MultiThreadedEventLoopGroup.singleton,
            logger: logger)
        let changeFrames = ChangeFrameCache()
        let watchHub = WatchHub(
            memory: platform.memory, frames: changeFrames, behindLimit: platform.configuration.memoryWatchLagBytes)
        let router = try buildRouter(
            platform: platform, clock: clock, metrics: metrics, collectors: collectors, watchHub: watchHub)
        var services: [any Service] = [
            PlatformCloser(platform: platform, logger: logger),
            KeyCacheRefresher(keys: platform.keys, logger: logger),
            MemoryExpirySweeper(memory: platform.memory, logger: logger),
            collectors,
        ]
        // Jobs left running by a server that died: this server starts none of its own before this. On SQLite (one
        // server per file) every running job is orphaned; on PostgreSQL other nodes may be running theirs, so only
        // jobs whose heartbeat stopped are, here and every 10 s after.
        let orphanPolicy = OrphanedJobPolicy(rawValue: configuration.mlOrphanedJobs) ?? .requeue
        let shared = platform.database.engine == .postgres
        try await platform.training.jobs.recoverOrphans(
            policy: orphanPolicy, staleAfter: shared ? MLOrphanSweeper.staleAfter : 0)
        if shared {
            services.append(MLOrphanSweeper(jobs: platform.training.jobs, policy: orphanPolicy, logger: logger))
        }
        // Deployments stored before a restart serve again before the first request is accepted.
        try await platform.serving.restore()
        // Captures left queued or being analysed by a server that stopped are analysed again (after the models that
        // score them are deployed again).
        try await platform.captures.resume()
        services.append(CanaryChecker(serving: platform.serving))
        XGBoostThreads.configure(workers: configuration.mlWorkers)
        for index in 0..<configuration.mlWorkers {
            services.append(MLJobWorker(training: platform.training, index: index))
        }
        if configuration.respPort != 0 {
            services.append(
                RESPServer(
                    host: configuration.host, port: configuration.respPort, memory: platform.memory,
                    keys: platform.keys, logger: logger,
                    group: ServerThreads.group(configured: configuration.httpEventLoops) ?? MultiThreadedEventLoopGroup.singleton))
        }
        let webSocket = MemoryWebSocket(memory: platform.memory, keys: platform.keys)
        let modelEvents = MLEventStream(events: platform.training.events, registry: platform.training.registry, keys: platform.keys)
        return Application(
            router: router,
            server: .http1WebSocket(
                configuration: webSocket.serverConfiguration,
                // Debug logging sees every request in the router's log line, so the fast path stands aside then.
                memoryFastPath: configuration.httpMemoryFastPath && logger.logLevel > .debug
                    ? MemoryKVChannelHandler.Shared(
                        memory: platform.memory, keys: platform.keys, metrics: metrics.http, readScope: .memoryRead,
                        writeScope: .memoryWrite, serverName: serverName,
                        maxBody: min(MemoryKVChannelHandler.maxBody, configuration.maxBodyBytes), watchHub: watchHub)
                    : nil
            ) { head, logger in
                if let handler = await webSocket.decide(head, logger: logger) { return handler }
                return await modelEvents.decide(head, logger: logger)
            },
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: serverName),
            services: services,
            eventLoopGroupProvider: ServerThreads.provider(configured: configuration.httpEventLoops),
            logger: logger)
    } catch {
        await platform.close(logger: logger)
        throw error
    }
}

/// The routes and middleware, in order from the outside in: metrics (which so count the final status), request
/// id and problem rendering, the body limit, then the OpenAPI operations with their scope checks.
func buildRouter(
    platform: Platform, clock: any WallClock, metrics: ServerMetrics, collectors: SentinelCollectors, watchHub: WatchHub
) throws -> Router<NeuroplexRequestContext> {
    let document = try OpenAPIDocument.bundled()
    let serving = platform.serving
    metrics.add { serving.prometheus() }
    let router = Router(context: NeuroplexRequestContext.self)
    router.middlewares.add(HTTPMetricsMiddleware(metrics: metrics))
    router.middlewares.add(RequestTracingMiddleware())
    // Dataset uploads stream to disk and are bounded by their own limit (`ml.max.upload.bytes`).
    router.middlewares.add(
        BodyLimitMiddleware(maxBytes: platform.configuration.maxBodyBytes, streamedPaths: ["/ml/datasets/upload", "/sentinel/captures"]))

    let handler = APIHandler(
        keys: platform.keys,
        memory: platform.memory,
        datasets: platform.datasets,
        readiness: Readiness(checks: [
            DatabaseCheck(database: platform.database),
            DiskSpaceCheck(directory: platform.configuration.dataDirectory),
        ]),
        metrics: metrics, clock: clock, changeFrames: watchHub.frames, watchHub: watchHub)
    try handler.registerHandlers(
        on: RouterTransport(
            router: router, document: document, keys: platform.keys,
            fastRoutes: fastRoutes(keys: platform.keys, memory: platform.memory, watchHub: watchHub).merging(
                MLTrainingRoutes(training: platform.training, serving: platform.serving).routes
            ) { first, _ in first }.merging(
                MLServingRoutes(serving: platform.serving, training: platform.training, keys: platform.keys).routes
            ) { first, _ in first }.merging(
                SentinelRoutes(
                    sentinel: platform.sentinel, captures: platform.captures, datasets: platform.datasets, collectors: collectors,
                    host: platform.configuration.host, defaultModel: platform.configuration.sentinelModel).routes
            ) { first, _ in first },
            causal: CausalTokens(memory: platform.memory)),
        configuration: .init(dateTranscoder: RFC3339DateTranscoder(), jsonEncodingOptions: [.sortedKeys]))

    MemoryWebSocket(memory: platform.memory, keys: platform.keys).addRoute(to: router)
    MLEventStream(events: platform.training.events, registry: platform.training.registry, keys: platform.keys)
        .addRoute(to: router)

    let spec = ByteBuffer(bytes: document.json)
    router.get("/openapi.json") { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: spec))
    }
    let docs = ByteBuffer(string: DocsPage.render(document))
    router.get("/docs") { _, _ in
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: docs))
    }
    return router
}

/// The operations served by hand-written handlers instead of the generated ones: the hot read paths, where the
/// generated conversion would be most of the cost (see ``RouterTransport``).
func fastRoutes(keys: KeyStore, memory: Memory, watchHub: WatchHub) -> [String: FastRoute] {
    MemoryFastRoutes(memory: memory, watchHub: watchHub).routes.merging([
        OpenAPIDocument.route("GET", "/keys/{id}"): FastRoute { request, context, _ in
            try FastRoute.requireJSONAcceptable(request)
            let id = try context.parameters.require("id")
            if let key = keys.cached(id: id) { return try FastRoute.json(APIHandler.schema(key)) }
            return try await FastRoute.json(APIHandler.schema(keys.get(id: id)))
        }
    ]) { first, _ in first }
}

/// Checks the canaries every second: rolls back those that break their rules, moves the others a step on.
struct CanaryChecker: Service {
    let serving: ModelServing

    func run() async throws {
        await cancelWhenGracefulShutdown { await serving.runCanaryChecks() }
    }
}

/// One worker of the training-job queue. At graceful shutdown its running job goes back to the queue.
struct MLJobWorker: Service {
    let training: MLTraining
    let index: Int

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await training.runWorker()
        }
    }
}

/// On a shared PostgreSQL: re-queues (or fails) jobs whose node stopped writing their heartbeat.
struct MLOrphanSweeper: Service {
    /// A running job's heartbeat is written four times a second; one this old means its node is gone.
    static let staleAfter: Double = 30
    let jobs: MLJobs
    let policy: OrphanedJobPolicy
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(10))
                do {
                    try await jobs.recoverOrphans(policy: policy, staleAfter: Self.staleAfter)
                } catch {
                    logger.warning("could not recover orphaned jobs", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Closes the database once the HTTP server has drained (services stop in reverse order of start).
struct PlatformCloser: Service {
    let platform: Platform
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        await platform.close(logger: logger)
        logger.info("platform closed")
    }
}

/// Removes expired memory keys every second (reads already ignore them; this reclaims their memory and publishes
/// their `expire` changes).
struct MemoryExpirySweeper: Service {
    let memory: Memory
    let logger: Logger

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(1))
                do {
                    try await memory.removeExpired()
                } catch {
                    logger.warning("could not remove expired memory keys", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// Re-reads the key table every few seconds, so that a key revoked elsewhere — by another node on a shared
/// PostgreSQL, or by `neuroplex keys revoke` on this data directory — stops working here too.
struct KeyCacheRefresher: Service {
    let keys: KeyStore
    let logger: Logger
    var interval: Duration = .seconds(5)

    func run() async throws {
        // Sleeping is cancelled at graceful shutdown, so stopping never waits out an interval.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    try await keys.reload()
                } catch {
                    logger.warning("could not refresh the API key cache", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

/// The HTTP server's event loops: one per CPU the process may run on. NIO sizes its shared group by the machine's
/// (or the cgroup's) CPUs but not by the process's affinity (`taskset`, a cpuset), so a server pinned to one core
/// of two ran two event loops that took turns on it, with a context switch between them at every request.
enum ServerThreads {
    /// Groups made so far, by size: made once per process, as NIO's own shared group is.
    private static let groups = Mutex<[Int: MultiThreadedEventLoopGroup]>([:])

    /// `configured` loops (`http.event.loops`), or for 0 one per allowed CPU when that is fewer than NIO counts;
    /// otherwise NIO's shared group.
    static func provider(configured: Int) -> EventLoopGroupProvider {
        group(configured: configured).map { .shared($0) } ?? .singleton
    }

    /// The group ``provider(configured:)`` gives, `nil` for NIO's shared one. The Redis-protocol listener uses it
    /// too.
    static func group(configured: Int) -> MultiThreadedEventLoopGroup? {
        let allowed = allowedCPUs()
        let count = configured > 0 ? configured : (allowed > 0 && allowed < System.coreCount ? allowed : 0)
        guard count > 0 else { return nil }
        return groups.withLock { groups in
            if let group = groups[count] { return group }
            let group = MultiThreadedEventLoopGroup(numberOfThreads: count)
            groups[count] = group
            return group
        }
    }

    /// The number of CPUs in this process's affinity mask (`Cpus_allowed` in /proc/self/status; 0 when unknown).
    static func allowedCPUs(status: String? = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) -> Int {
        guard let line = status?.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") }) else { return 0 }
        let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
        return mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
    }
}
