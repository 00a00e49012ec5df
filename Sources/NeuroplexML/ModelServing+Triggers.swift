public import Foundation
public import NeuroplexCore
import Logging
import NeuroplexStorage
import SQLKit

extension ModelServing {
    /// The body of `POST /ml/models/{id}/triggers`.
    struct TriggerDraft: Decodable {
        var name: String?
        var when: RetrainingTrigger.Condition?
        var then: RetrainingTrigger.Pipeline?
        var enabled: Bool?
        var cooldownSeconds: Double?
    }

    /// Registers a retraining trigger on a model.
    /// - Throws: 404; 400 `validation_failed` for a condition that is not exactly one of drift, accuracy, schedule
    ///   and newRows, or an invalid schedule, threshold or strategy.
    public func createTrigger(modelId: String, body: [UInt8]) async throws -> RetrainingTrigger {
        let model = try await registry.get(id: modelId)
        let draft: TriggerDraft
        do {
            draft = try JSONDecoder().decode(TriggerDraft.self, from: Data(body.isEmpty ? Array("{}".utf8) : body))
        } catch {
            throw NeuroplexError.invalid(
                "", "a trigger is {when: {drift | accuracy | schedule | newRows}, then: {train?, validate?, deploy?}, cooldownSeconds?}",
                kind: .badRequest)
        }
        guard let when = draft.when else { throw NeuroplexError.invalid("when", "when is required", kind: .badRequest) }
        let set = [when.drift != nil, when.accuracy != nil, when.schedule != nil, when.newRows != nil].filter { $0 }.count
        guard set == 1 else {
            throw NeuroplexError.invalid("when", "when names exactly one of drift, accuracy, schedule, newRows", kind: .badRequest)
        }
        if let drift = when.drift, !(drift > 0) { throw NeuroplexError.invalid("when.drift", "drift is a PSI above 0", kind: .badRequest) }
        if let accuracy = when.accuracy, !(accuracy > 0 && accuracy <= 1) {
            throw NeuroplexError.invalid("when.accuracy", "accuracy is between 0 and 1", kind: .badRequest)
        }
        if let rows = when.newRows, rows < 1 { throw NeuroplexError.invalid("when.newRows", "newRows is at least 1", kind: .badRequest) }
        if let schedule = when.schedule { _ = try CronSchedule(schedule) }
        let cooldown = draft.cooldownSeconds ?? 3600
        guard cooldown >= 0, cooldown.isFinite else {
            throw NeuroplexError.invalid("cooldownSeconds", "cooldownSeconds is not negative", kind: .badRequest)
        }
        var pipeline = draft.then ?? RetrainingTrigger.Pipeline()
        if pipeline.train == nil { pipeline.train = .init(datasetId: "latest") }
        if let hyperparameters = pipeline.train?.hyperparameters {
            let merged = model.hyperparameters.merging(hyperparameters) { _, new in new }
            try ModelRegistry.check(try Learners.learner(model.algorithm), task: model.task, hyperparameters: merged)
        }
        if let id = pipeline.train?.datasetId, id != "latest" { _ = try await datasets.get(id: id) }
        let now = Timestamp.truncated(clock.now())
        let trigger = RetrainingTrigger(
            id: Identifier.make(prefix: "trg", at: now), modelId: model.id, name: draft.name, when: when, then: pipeline,
            enabled: draft.enabled ?? true, cooldownSeconds: cooldown, createdAt: now, firings: [])
        try await database.sql.insert(into: "ml_triggers").columns("id", "model_id", "document", "created_at")
            .values(SQLBind(trigger.id), SQLBind(model.id), SQLBind(try ModelRegistry.json(trigger)), SQLBind(Timestamp.string(now)))
            .run()
        return trigger
    }

    /// A model's triggers with their latest firings, oldest first.
    public func triggers(modelId: String) async throws -> [RetrainingTrigger] {
        _ = try await registry.get(id: modelId)
        return try await database.sql.select().column("document").from("ml_triggers").where("model_id", .equal, modelId)
            .orderBy("id").all().map { try ModelRegistry.decode(RetrainingTrigger.self, $0) }
    }

    public func deleteTrigger(modelId: String, id: String) async throws {
        _ = try await trigger(modelId: modelId, id: id)
        try await database.sql.delete(from: "ml_triggers").where("id", .equal, id).run()
    }

    func trigger(modelId: String, id: String) async throws -> RetrainingTrigger {
        guard let row = try await database.sql.select().column("document").from("ml_triggers").where("id", .equal, id)
            .where("model_id", .equal, modelId).first()
        else { throw NeuroplexError.notFound("trigger", id: id) }
        return try ModelRegistry.decode(RetrainingTrigger.self, row)
    }

    private func save(_ trigger: RetrainingTrigger) async throws {
        try await database.sql.update("ml_triggers").set("document", to: try ModelRegistry.json(trigger))
            .where("id", .equal, trigger.id).run()
    }

    /// Fires a trigger now, whatever its condition (`POST .../triggers/{id}/fire`); the pipeline runs in the
    /// background and its progress is in the trigger's latest firing.
    /// - Throws: 409 `trigger_running` while an earlier firing runs.
    public func fire(modelId: String, id: String, reason: String = "fired by hand") async throws -> RetrainingTrigger {
        let trigger = try await trigger(modelId: modelId, id: id)
        return try await start(trigger, reason: reason)
    }

    private func start(_ trigger: RetrainingTrigger, reason: String) async throws -> RetrainingTrigger {
        var trigger = trigger
        guard trigger.firings.last?.status != "running" else {
            throw NeuroplexError(.conflict, code: "trigger_running", "the trigger's last firing is still running")
        }
        trigger.firings.append(.init(at: clock.now(), reason: reason, status: "running"))
        if trigger.firings.count > 20 { trigger.firings.removeFirst(trigger.firings.count - 20) }
        try await save(trigger)
        events.publish(.alert(
            modelId: trigger.modelId, version: deployment(modelId: trigger.modelId)?.primaryVersion ?? 0, kind: "trigger",
            detail: "trigger \(trigger.id) fired: \(reason)"))
        let started = trigger
        Task { await self.runPipeline(started) }
        return trigger
    }

    /// Ends the firings a stopped server left `running` (their pipeline ran in that server's memory): `failed`,
    /// saying so, so that the trigger can fire again. Called by ``restore()``.
    func endInterruptedFirings() async throws {
        for row in try await database.sql.select().column("document").from("ml_triggers").all() {
            var trigger = try ModelRegistry.decode(RetrainingTrigger.self, row)
            guard var firing = trigger.firings.last, firing.status == "running" else { continue }
            firing.status = "failed"
            firing.detail = "the server stopped while this firing ran" + (firing.jobId.map { " (training job \($0))" } ?? "")
            trigger.firings[trigger.firings.count - 1] = firing
            try await save(trigger)
        }
    }

    /// Checks every enabled trigger's condition once (every 10 seconds from ``runCanaryChecks()``).
    public func checkTriggers() async {
        guard let rows = try? await database.sql.select().column("document").from("ml_triggers").all() else { return }
        let now = clock.now()
        for row in rows {
            guard let trigger = try? ModelRegistry.decode(RetrainingTrigger.self, row), trigger.enabled,
                trigger.firings.last?.status != "running"
            else { continue }
            if let last = trigger.firings.last, trigger.when.schedule == nil,
                now.timeIntervalSince(last.at) < trigger.cooldownSeconds
            {
                continue
            }
            guard let reason = await condition(of: trigger, now: now) else { continue }
            _ = try? await start(trigger, reason: reason)
        }
    }

    /// Why the trigger's condition holds now, or `nil`.
    private func condition(of trigger: RetrainingTrigger, now: Date) async -> String? {
        let deployed = deployment(modelId: trigger.modelId).flatMap { $0.status == .deployed ? $0 : nil }
        if let threshold = trigger.when.drift {
            guard let deployed, let report = try? await drift(modelId: trigger.modelId, version: deployed.primaryVersion),
                report["window"]?["enough"] == .bool(true), case .array(let features)? = report["features"]
            else { return nil }
            var worst: (String, Double)?
            for feature in features {
                guard case .string(let name)? = feature["feature"], let psi = feature["psi"]?.numberValue else { continue }
                if psi > threshold, psi > (worst?.1 ?? -1) { worst = (name, psi) }
            }
            if let psi = report["prediction"]?["psi"]?.numberValue, psi > threshold, psi > (worst?.1 ?? -1) {
                worst = ("the predictions", psi)
            }
            return worst.map { "drift: PSI of \($0.0) is \(String(format: "%.3f", $0.1)) > \(threshold)" }
        }
        if let threshold = trigger.when.accuracy {
            guard let deployed, let stats = monitor.stats(.init(modelId: trigger.modelId, version: deployed.primaryVersion)),
                stats.feedback.count >= 30
            else { return nil }
            let recent = stats.feedback.ordered.suffix(100)
            let accuracy = Double(recent.filter { $0.predicted == $0.actual }.count) / Double(recent.count)
            return accuracy < threshold
                ? "accuracy \(String(format: "%.3f", accuracy)) over the latest \(recent.count) labelled predictions < \(threshold)"
                : nil
        }
        if let text = trigger.when.schedule, let schedule = try? CronSchedule(text), schedule.matches(now) {
            let minute = floor(now.timeIntervalSince1970 / 60)
            if let last = trigger.firings.last, floor(last.at.timeIntervalSince1970 / 60) == minute { return nil }
            return "schedule \(text)"
        }
        if let threshold = trigger.when.newRows, let base = await trainingDataset(of: trigger.modelId),
            let newer = try? await datasets.named(base.name).filter({ $0.createdAt > base.createdAt && $0.id != base.id })
        {
            let rows = newer.reduce(0) { $0 + $1.rows }
            return rows >= threshold ? "\(rows) new rows in \(newer.count) dataset(s) named '\(base.name)' ≥ \(threshold)" : nil
        }
        return nil
    }

    /// The dataset the deployed (else the latest) version was trained on.
    private func trainingDataset(of modelId: String) async -> Dataset? {
        var version: MLModelVersion?
        if let deployed = deployment(modelId: modelId), deployed.status == .deployed {
            version = try? await registry.version(modelId: modelId, version: deployed.primaryVersion)
        }
        if version == nil { version = try? await registry.latestVersion(modelId: modelId) }
        guard let id = version?.datasetId else { return nil }
        return try? await datasets.get(id: id)
    }

    /// Train, validate, deploy: the firing's outcome is written to the trigger at each step.
    private func runPipeline(_ trigger: RetrainingTrigger) async {
        var trigger = trigger
        func finish(_ status: String, _ detail: String, version: Int? = nil) async {
            guard var firing = trigger.firings.popLast() else { return }
            firing.status = status
            firing.detail = detail
            if let version { firing.version = version }
            trigger.firings.append(firing)
            do { try await save(trigger) } catch {
                logger.error("could not record a trigger's firing", metadata: ["trigger.id": "\(trigger.id)", "error": "\(error)"])
            }
        }
        do {
            var datasetId = trigger.then.train?.datasetId ?? "latest"
            if datasetId == "latest" {
                guard let base = await trainingDataset(of: trigger.modelId), let newest = try await datasets.named(base.name).first else {
                    await finish("failed", "no dataset to train on: the model's versions name none")
                    return
                }
                datasetId = newest.id
            }
            let job = try await training.submit(
                modelId: trigger.modelId, datasetId: datasetId, hyperparameters: trigger.then.train?.hyperparameters,
                split: nil, priority: nil)
            if var firing = trigger.firings.popLast() {
                firing.jobId = job.id
                trigger.firings.append(firing)
                try await save(trigger)
            }
            var finished = try await jobs.get(id: job.id)
            while !finished.status.isFinished {
                let generation = jobs.changed.generation
                finished = try await jobs.get(id: job.id)
                if finished.status.isFinished { break }
                await jobs.changed.wait(after: generation, timeout: .seconds(1))
            }
            guard finished.status == .succeeded else {
                await finish("failed", "training job \(job.id) \(finished.status.rawValue): \(finished.error ?? "")")
                return
            }
            let versions = try await registry.versions(modelId: trigger.modelId, page: try PageRequest(limit: 1000, cursor: nil))
            guard let version = versions.items.last(where: { $0.jobId == job.id }) else {
                await finish("failed", "training job \(job.id) made no version")
                return
            }
            if let gates = trigger.then.validate {
                let result = try await training.validate(
                    modelId: trigger.modelId, version: String(version.version), datasetId: gates.datasetId,
                    minimum: gates.minimum)
                if result["passed"] == .bool(false) {
                    await finish("stopped", "version \(version.version) failed its gates: \(result["failures"]?.description ?? "")", version: version.version)
                    return
                }
            }
            if let deploy = trigger.then.deploy {
                _ = try await self.deploy(
                    modelId: trigger.modelId, DeployRequest(version: String(version.version), strategy: deploy.strategy))
                await finish("succeeded", "version \(version.version) trained, validated and deployed", version: version.version)
            } else {
                await finish("succeeded", "version \(version.version) trained and validated", version: version.version)
            }
        } catch {
            await finish("failed", (error as? NeuroplexError)?.message ?? "\(error)")
        }
    }
}
