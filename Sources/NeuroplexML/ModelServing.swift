public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit
import Synchronization

/// Model serving: deployments with their routing (immediate, canary, A/B, shadow), predictions with the result
/// cache and explanations, feedback, drift, and live metrics.
///
/// A deploy loads and warms the versions it needs before any request reaches them, stores the deployment, then
/// swaps the model's routing in one step: a request holds the routing it started with, so requests in flight end
/// on the version they began on and none fails during a swap. Predictions run synchronously on the caller's
/// thread with the native evaluator (``ServedModel``).
///
/// ```swift
/// let serving = ModelServing(training: training, database: database, logger: logger)
/// try await serving.restore()                                   // the deployments stored before a restart
/// _ = try await serving.deploy(modelId: id, DeployRequest(version: "1"))
/// let answer = try serving.predict(try PredictRequest(parsing: body))
/// ```
public final class ModelServing: Sendable {
    /// The settings of serving, from the server configuration.
    public struct Configuration: Sendable {
        public var cacheTTL: Duration = .seconds(300)
        public var cacheMaxBytes = 64 << 20
        /// Recent inputs kept per version for drift.
        public var driftWindow = 1000
        public var psiThreshold = 0.2
        public var ksThreshold = 0.1
        /// The most instances one predict request may carry.
        public var maxInstances = 10_000
        public init() {}
    }

    /// What requests of one model are routed to: immutable, replaced whole by a deploy.
    final class Routing: Sendable {
        struct Route: Sendable {
            let model: ServedModel
            let name: String
            /// The upper end of this variant's share in [0, total).
            let upTo: Double
        }

        let deployment: Deployment
        let name: String
        let routes: [Route]
        let total: Double
        let shadow: ServedModel?

        init(deployment: Deployment, name: String, models: [Int: ServedModel]) {
            self.deployment = deployment
            self.name = name
            var routes: [Route] = []
            var total = 0.0
            for variant in deployment.variants where variant.weight > 0 {
                guard let model = models[variant.version] else { continue }
                total += variant.weight
                routes.append(Route(model: model, name: variant.name, upTo: total))
            }
            self.routes = routes
            self.total = total
            shadow = deployment.shadowVersion.flatMap { models[$0] }
        }

        func pick() -> Route {
            guard routes.count > 1 else { return routes[0] }
            let draw = Double.random(in: 0..<total)
            return routes.first { draw < $0.upTo } ?? routes[routes.count - 1]
        }
    }

    struct State {
        var routings: [String: Routing] = [:]
        var ids: [String: String] = [:]
        var deployments: [String: Deployment] = [:]
    }

    let registry: ModelRegistry
    let database: Database
    let events: MLEventBus
    let jobs: MLJobs
    let datasets: Datasets
    let training: MLTraining
    let clock: any WallClock
    let logger: Logger
    public let configuration: Configuration
    let cache: PredictionCache
    let monitor: ServingMonitor
    private let state = Mutex(State())
    /// Deploys, retires and canary steps, one at a time.
    private let changes = AsyncSerialGate()
    private let shadowsInFlight = Atomic<Int>(0)
    /// What monitoring last alerted about, per model: the drifted features, and whether accuracy was low.
    let alerted = Mutex<[String: (drift: Set<String>, accuracyLow: Bool)]>([:])

    /// Takes one of the 32 places for shadow predictions, if one is free.
    func shadowsInFlightAdd() -> Bool {
        if shadowsInFlight.wrappingAdd(1, ordering: .relaxed).newValue > 32 {
            shadowsInFlight.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func shadowsInFlightDone() { shadowsInFlight.wrappingSubtract(1, ordering: .relaxed) }

    /// Serves the models of `training`'s registry, and runs its `predict` jobs (batch predictions).
    public init(
        training: MLTraining, database: Database, configuration: Configuration = .init(),
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.registry = training.registry
        self.database = database
        self.events = training.events
        self.jobs = training.jobs
        self.datasets = training.datasets
        self.training = training
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        cache = PredictionCache(ttl: configuration.cacheTTL, maxBytes: configuration.cacheMaxBytes)
        monitor = ServingMonitor(windowSize: configuration.driftWindow)
        training.runners.register("predict") { [weak self] job, reporter in
            guard let self else { throw NeuroplexError(.unavailable, code: "serving_stopped", "model serving has stopped") }
            return try await self.runBatch(job, reporter)
        }
    }

    // MARK: Deployments

    /// Loads the deployments stored before a restart and the latest day's feedback, and ends the trigger firings
    /// the last server left running.
    public func restore() async throws {
        try await endInterruptedFirings()
        let rows = try await database.sql.select().column("document").from("ml_deployments").all()
        for row in rows {
            let deployment = try ModelRegistry.decode(Deployment.self, row)
            do {
                if deployment.status == .deployed {
                    let model = try await registry.get(id: deployment.modelId)
                    let models = try await load(model: model, versions: deployment.versions)
                    install(deployment, name: model.name, models: models)
                } else {
                    state.withLock { $0.deployments[deployment.modelId] = deployment }
                }
            } catch {
                logger.error(
                    "could not restore a deployment",
                    metadata: ["model.id": "\(deployment.modelId)", "error": "\(error)"])
            }
        }
        let since = Timestamp.string(clock.now().addingTimeInterval(-86_400))
        let feedback = try await database.sql.select().columns("model_id", "version", "predicted", "actual", "created_at")
            .from("ml_feedback").where("created_at", .greaterThanOrEqual, since).orderBy("created_at").limit(200_000).all()
        for row in feedback {
            let record = ServingMonitor.PredictionRecord(
                modelId: try row.decode(column: "model_id", as: String.self),
                version: try row.decode(column: "version", as: Int.self),
                predicted: try row.decode(column: "predicted", as: String.self))
            let at = Timestamp.parse(try row.decode(column: "created_at", as: String.self)) ?? clock.now()
            monitor.recordFeedback(record, actual: try row.decode(column: "actual", as: String.self), at: at)
        }
    }

    /// Serves the deployments other nodes sharing the database changed: each stored deployment that differs from
    /// the one served here is loaded and swapped in (or retired).
    public func refreshDeployments() async {
        guard let rows = try? await database.sql.select().column("document").from("ml_deployments").all() else { return }
        for row in rows {
            guard let stored = try? ModelRegistry.decode(Deployment.self, row) else { continue }
            do {
                try await changes.run {
                    let current = state.withLock { $0.deployments[stored.modelId] }
                    guard current != stored, current.map({ stored.updatedAt > $0.updatedAt }) ?? true else { return }
                    if stored.status == .deployed {
                        let model = try await registry.get(id: stored.modelId)
                        install(stored, name: model.name, models: try await load(model: model, versions: stored.versions))
                    } else {
                        state.withLock { state in
                            state.routings[stored.modelId] = nil
                            state.ids = state.ids.filter { $0.value != stored.modelId }
                            state.deployments[stored.modelId] = stored
                        }
                        cache.invalidate(modelId: stored.modelId)
                    }
                    logger.info("deployment changed by another node", metadata: ["model.id": "\(stored.modelId)"])
                }
            } catch {
                logger.warning("could not serve another node's deployment", metadata: ["model.id": "\(stored.modelId)", "error": "\(error)"])
            }
        }
    }

    /// The model's deployment, if it was ever deployed.
    public func deployment(modelId: String) -> Deployment? { state.withLock { $0.deployments[modelId] } }

    /// Deploys a version with a strategy (default: the latest version, immediately).
    /// - Throws: `not_found` (model, version, alias), `no_version` and `no_deployment` (409), `validation_failed` (400).
    public func deploy(modelId: String, _ request: DeployRequest) async throws -> Deployment {
        try await changes.run {
            let model = try await registry.get(id: modelId)
            let target = try await resolve(modelId: modelId, request)
            let strategy = request.strategy ?? DeploymentStrategy(type: .immediate)
            let now = clock.now()
            let current = state.withLock { $0.deployments[modelId] }.flatMap { $0.status == .deployed ? $0 : nil }
            var deployment = Deployment(
                modelId: modelId, status: .deployed, strategy: strategy, primaryVersion: target,
                variants: [.init(version: target, weight: 100, name: "primary")], shadowVersion: nil, canary: nil,
                updatedAt: now, history: current?.history ?? self.deployment(modelId: modelId)?.history ?? [])
            var detail = "immediate"
            switch strategy.type {
            case .immediate:
                break
            case .canary:
                guard let current else {
                    throw NeuroplexError(
                        .conflict, code: "no_deployment",
                        "a canary shares traffic with the deployed version, and model '\(model.name)' has none; deploy a version first")
                }
                let percent = strategy.percent ?? 10
                guard percent > 0, percent < 100 else {
                    throw NeuroplexError.invalid("strategy.percent", "a canary's percent is between 0 and 100, exclusive", kind: .badRequest)
                }
                if let steps = strategy.steps, !(1...100).contains(steps) {
                    throw NeuroplexError.invalid("strategy.steps", "steps is 1–100", kind: .badRequest)
                }
                if let interval = strategy.intervalSeconds, !(interval >= 1 && interval <= 86_400) {
                    throw NeuroplexError.invalid("strategy.intervalSeconds", "intervalSeconds is 1–86400", kind: .badRequest)
                }
                let primary = current.primaryVersion
                guard primary != target else {
                    throw NeuroplexError(
                        .conflict, code: "already_deployed", "version \(target) is the deployed version; a canary needs another")
                }
                deployment.primaryVersion = primary
                deployment.variants = [
                    .init(version: primary, weight: 100 - percent, name: "primary"),
                    .init(version: target, weight: percent, name: "canary"),
                ]
                let stats = monitor.stats(.init(modelId: modelId, version: target))
                deployment.canary = Deployment.Canary(
                    version: target, percent: percent, initialPercent: percent, step: 0, startedAt: now,
                    nextStepAt: strategy.steps != nil ? now.addingTimeInterval(strategy.intervalSeconds ?? 60) : nil,
                    baselineRequests: stats?.requests ?? 0, baselineErrors: stats?.errors ?? 0,
                    baselineFeedback: stats?.feedback.count ?? 0)
                detail = "canary at \(Self.percent(percent)) % beside version \(primary)"
            case .ab:
                guard let variants = strategy.variants, variants.count >= 2 else {
                    throw NeuroplexError.invalid("strategy.variants", "an A/B deploy names at least two variants: [{version, weight}]", kind: .badRequest)
                }
                guard Set(variants.map(\.version)).count == variants.count else {
                    throw NeuroplexError.invalid("strategy.variants", "each version appears once", kind: .badRequest)
                }
                guard variants.allSatisfy({ $0.weight >= 0 && $0.weight.isFinite }), variants.contains(where: { $0.weight > 0 }) else {
                    throw NeuroplexError.invalid("strategy.variants", "weights are non-negative and at least one is positive", kind: .badRequest)
                }
                for variant in variants { _ = try await registry.version(modelId: modelId, version: variant.version) }
                let total = variants.reduce(0) { $0 + $1.weight }
                let names = "abcdefghijklmnopqrstuvwxyz".map(String.init)
                deployment.variants = variants.enumerated().map { index, variant in
                    .init(version: variant.version, weight: variant.weight * 100 / total, name: index < names.count ? names[index] : "v\(variant.version)")
                }
                deployment.primaryVersion = variants.max { $0.weight < $1.weight }!.version
                detail = "A/B test of versions \(variants.map { String($0.version) }.joined(separator: ", "))"
            case .shadow:
                guard let current else {
                    throw NeuroplexError(
                        .conflict, code: "no_deployment",
                        "a shadow sees a copy of the deployed version's traffic, and model '\(model.name)' has none; deploy a version first")
                }
                let shadow = strategy.version ?? target
                _ = try await registry.version(modelId: modelId, version: shadow)
                deployment.primaryVersion = current.primaryVersion
                deployment.variants = [.init(version: current.primaryVersion, weight: 100, name: "primary")]
                deployment.shadowVersion = shadow
                detail = "version \(shadow) shadows version \(current.primaryVersion)"
            }
            let models = try await load(model: model, versions: deployment.versions)
            deployment.note("deployed", version: target, detail: detail, at: now)
            try await store(deployment)
            install(deployment, name: model.name, models: models)
            events.publish(.deployment(modelId: modelId, version: target, change: "deployed", detail: detail))
            logger.info("model deployed", metadata: ["model.id": "\(modelId)", "model.version": "\(target)", "strategy": "\(strategy.type.rawValue)"])
            return deployment
        }
    }

    /// Stops serving a model: predictions answer 409 until it is deployed again.
    /// - Throws: `not_found`, `not_deployed` (409) when it was never deployed.
    public func retire(modelId: String) async throws -> Deployment {
        try await changes.run {
            let model = try await registry.get(id: modelId)
            guard var deployment = state.withLock({ $0.deployments[modelId] }) else {
                throw NeuroplexError(.conflict, code: "not_deployed", "model '\(model.name)' is not deployed")
            }
            guard deployment.status == .deployed else { return deployment }
            deployment.status = .retired
            deployment.canary = nil
            deployment.note("retired", version: deployment.primaryVersion, detail: nil, at: clock.now())
            try await store(deployment)
            let retired = deployment
            state.withLock { state in
                state.routings[modelId] = nil
                state.ids = state.ids.filter { $0.value != modelId }
                state.deployments[modelId] = retired
            }
            cache.invalidate(modelId: modelId)
            events.publish(.deployment(modelId: modelId, version: nil, change: "retired", detail: nil))
            return deployment
        }
    }

    private func resolve(modelId: String, _ request: DeployRequest) async throws -> Int {
        if let reference = request.version ?? request.alias {
            return try await registry.version(modelId: modelId, reference: reference).version
        }
        guard let latest = try await registry.latestVersion(modelId: modelId) else {
            throw NeuroplexError(.conflict, code: "no_version", "the model has no trained version to deploy yet")
        }
        return latest.version
    }

    /// Loads (compiles and warms) the versions, reusing those already served.
    private func load(model: MLModel, versions: Set<Int>) async throws -> [Int: ServedModel] {
        let serving: [Int: ServedModel] = state.withLock { state in
            state.routings[model.id].map { routing -> [Int: ServedModel] in
                var models: [Int: ServedModel] = [:]
                for route in routing.routes { models[route.model.version.version] = route.model }
                if let shadow = routing.shadow { models[shadow.version.version] = shadow }
                return models
            } ?? [:]
        }
        var models: [Int: ServedModel] = [:]
        for version in versions.sorted() {
            if let loaded = serving[version] {
                models[version] = loaded
                continue
            }
            let stored = try await registry.versionWithReference(modelId: model.id, version: version)
            let artifact = Array(try registry.artifact(of: stored))
            let name = model.name
            // Compiling and warming a model takes tens of milliseconds of CPU: on a thread of lower priority, so
            // that requests served meanwhile keep their latency.
            models[version] = try await DedicatedThread.run("model-load", background: true) { _ in
                try ServedModel(modelName: name, version: stored, artifact: artifact)
            }
        }
        return models
    }

    private func install(_ deployment: Deployment, name: String, models: [Int: ServedModel]) {
        let routing = Routing(deployment: deployment, name: name, models: models)
        state.withLock { state in
            state.routings[deployment.modelId] = routing
            state.ids = state.ids.filter { $0.value != deployment.modelId }
            state.ids[name] = deployment.modelId
            state.deployments[deployment.modelId] = deployment
        }
        cache.invalidate(modelId: deployment.modelId)
    }

    private func store(_ deployment: Deployment) async throws {
        let document = try ModelRegistry.json(deployment)
        let now = Timestamp.string(deployment.updatedAt)
        try await database.transaction { sql in
            try await sql.delete(from: "ml_deployments").where("model_id", .equal, deployment.modelId).run()
            try await sql.insert(into: "ml_deployments").columns("model_id", "document", "updated_at")
                .values(SQLBind(deployment.modelId), SQLBind(document), SQLBind(now)).run()
        }
    }

    static func percent(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }

    // MARK: Canary

    /// Checks the canaries once: rolls back those that break their rules and moves the others a step on.
    public func checkCanaries() async {
        let canaries = state.withLock { $0.deployments.values.filter { $0.status == .deployed && $0.canary != nil } }
        for deployment in canaries {
            do {
                try await checkCanary(modelId: deployment.modelId)
            } catch {
                logger.warning("canary check failed", metadata: ["model.id": "\(deployment.modelId)", "error": "\(error)"])
            }
        }
    }

    private func checkCanary(modelId: String) async throws {
        try await changes.run {
            guard var deployment = state.withLock({ $0.deployments[modelId] }), deployment.status == .deployed,
                let canary = deployment.canary
            else { return }
            let now = clock.now()
            let key = ServingMonitor.VersionKey(modelId: modelId, version: canary.version)
            let stats = monitor.stats(key)
            var broken: String?
            if let rules = deployment.strategy.rollback, let stats {
                let requests = stats.requests - canary.baselineRequests
                let errors = stats.errors - canary.baselineErrors
                if requests >= 20 {
                    let rate = Double(errors) / Double(requests)
                    if let max = rules.maxErrorRate, rate > max {
                        broken = "error rate \(String(format: "%.3f", rate)) > \(max)"
                    }
                    let sorted = stats.latencies.items.sorted()
                    if broken == nil, let max = rules.maxP99Ms, let p99 = ServingMonitor.percentile(sorted, 0.99), p99 > max {
                        broken = "p99 latency \(String(format: "%.2f", p99)) ms > \(max) ms"
                    }
                }
                let labelled = Array(stats.feedback.ordered.suffix(max(0, stats.feedback.count - canary.baselineFeedback)))
                if broken == nil, let min = rules.minAccuracy, labelled.count >= 20 {
                    let accuracy = Double(labelled.filter { $0.predicted == $0.actual }.count) / Double(labelled.count)
                    if accuracy < min { broken = "accuracy \(String(format: "%.3f", accuracy)) < \(min)" }
                }
            }
            let model = try await registry.get(id: modelId)
            if let broken {
                deployment.variants = [.init(version: deployment.primaryVersion, weight: 100, name: "primary")]
                deployment.canary = nil
                deployment.note("rolled_back", version: canary.version, detail: broken, at: now)
                let models = try await load(model: model, versions: deployment.versions)
                try await store(deployment)
                install(deployment, name: model.name, models: models)
                events.publish(.deployment(modelId: modelId, version: canary.version, change: "rolled_back", detail: broken))
                logger.warning("canary rolled back", metadata: ["model.id": "\(modelId)", "model.version": "\(canary.version)", "reason": "\(broken)"])
                return
            }
            guard let steps = deployment.strategy.steps, let next = canary.nextStepAt, now >= next else { return }
            var moved = canary
            moved.step += 1
            moved.percent = min(100, canary.initialPercent + (100 - canary.initialPercent) * Double(moved.step) / Double(steps))
            if moved.step >= steps || moved.percent >= 100 {
                deployment.primaryVersion = canary.version
                deployment.variants = [.init(version: canary.version, weight: 100, name: "primary")]
                deployment.canary = nil
                deployment.note("promoted", version: canary.version, detail: "after \(steps) steps", at: now)
            } else {
                moved.nextStepAt = now.addingTimeInterval(deployment.strategy.intervalSeconds ?? 60)
                deployment.canary = moved
                deployment.variants = [
                    .init(version: deployment.primaryVersion, weight: 100 - moved.percent, name: "primary"),
                    .init(version: canary.version, weight: moved.percent, name: "canary"),
                ]
                deployment.note("canary_step", version: canary.version, detail: "\(Self.percent(moved.percent)) %", at: now)
            }
            let models = try await load(model: model, versions: deployment.versions)
            try await store(deployment)
            install(deployment, name: model.name, models: models)
            events.publish(
                .deployment(modelId: modelId, version: canary.version, change: deployment.history.last?.type ?? "canary_step",
                            detail: deployment.history.last?.detail))
        }
    }

    /// Checks the canaries every second, other nodes' deploys every 2 seconds, and drift, accuracy and retraining
    /// triggers every 10 seconds, until cancelled.
    public func runCanaryChecks() async {
        var ticks = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: .seconds(1)) } catch { return }
            ticks += 1
            if ticks % 2 == 0 { await refreshDeployments() }
            await checkCanaries()
            if ticks % 10 == 0 {
                await checkAlerts()
                await checkTriggers()
            }
        }
    }

    // MARK: Lookup

    /// The routing of a model named by id or name.
    func routing(_ reference: String) -> Routing? {
        state.withLock { state in state.routings[reference] ?? state.ids[reference].flatMap { state.routings[$0] } }
    }

    /// Why a model has no routing: 404 when it does not exist, else 409 (`not_deployed`, `model_retired`).
    public func notServing(_ reference: String) async -> NeuroplexError {
        var model = try? await registry.get(id: reference)
        if model == nil { model = try? await registry.find(name: reference) }
        guard let model else { return NeuroplexError.notFound("model", id: reference) }
        if let deployment = deployment(modelId: model.id), deployment.status == .retired {
            return NeuroplexError(
                .conflict, code: "model_retired", "model '\(model.name)' is retired; deploy a version to serve it again")
        }
        return NeuroplexError(
            .conflict, code: "not_deployed", "model '\(model.name)' is not deployed; POST /ml/models/\(model.id)/deploy first")
    }

    /// The served models, by model id: each routing's variants and shadow.
    public func served() -> [(modelId: String, name: String, deployment: Deployment, models: [ServedModel])] {
        state.withLock { state in
            state.routings.values.map { routing in
                var models = routing.routes.map(\.model)
                if let shadow = routing.shadow { models.append(shadow) }
                return (routing.deployment.modelId, routing.name, routing.deployment, models)
            }
        }.sorted { $0.name < $1.name }
    }
}
