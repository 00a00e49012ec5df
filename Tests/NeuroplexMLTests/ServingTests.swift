import Foundation
import NeuroplexCore
@testable import NeuroplexML
import NeuroplexStorage
import NeuroplexTestSupport
import SQLKit
import Testing

/// A trained model with two versions and a serving engine over the same database.
struct ServingBench {
    let bench: TrainingBench
    let serving: ModelServing
    let clock: ManualWallClock
    let modelId: String

    init(_ engine: Database.Engine = .sqlite) async throws {
        let bench = try await TrainingBench(engine)
        self.bench = bench
        clock = ManualWallClock(Date())
        let dataset = try await bench.catalogue.upload(trafficCSV(rows: 1200)).dataset
        let model = try await bench.training.registry.create(
            MLModelDraft(name: "gbdt", task: .classification, algorithm: "xgboost", hyperparameters: ["max_depth": 3]))
        modelId = model.id
        let worker = Task { await bench.training.runWorker(pollInterval: .milliseconds(20)) }
        for rounds in [40, 10] {
            let job = try await bench.training.submit(
                modelId: model.id, datasetId: dataset.id, hyperparameters: ["n_estimators": .int(Int64(rounds))], split: nil,
                priority: nil)
            let finished = try await bench.wait(job.id)
            #expect(finished.status == .succeeded, "\(finished.error ?? "")")
        }
        worker.cancel()
        await worker.value
        serving = Self.serving(bench, clock)
    }

    static func serving(_ bench: TrainingBench, _ clock: ManualWallClock) -> ModelServing {
        ModelServing(training: bench.training, database: bench.catalogue.database, clock: clock, logger: quietLogger)
    }

    func deploy(_ version: Int, _ strategy: DeploymentStrategy = .init(type: .immediate)) async throws -> Deployment {
        try await serving.deploy(modelId: modelId, DeployRequest(version: String(version), strategy: strategy))
    }

    func predict(_ instances: [JSONValue], explain: Bool = false, cache: Bool = false, allowMissing: Bool = false) throws -> JSONValue {
        var request = PredictRequest(model: "gbdt", instances: instances)
        request.explain = explain
        request.cache = cache
        request.allowMissing = allowMissing
        return try JSONValue.parse(try serving.predict(request))
    }

    static func instance(f1: Double, f2: Double, proto: String = "tcp") -> JSONValue {
        .object(["f1": .double(f1), "f2": .double(f2), "proto": .string(proto)])
    }

    /// `count` instances like the training data, f1 moved by `shift`.
    static func instances(_ count: Int, seed: UInt64, shift: Double = 0) -> [JSONValue] {
        Synthetic.points(count, seed: seed).enumerated().map { index, point in
            instance(f1: point.0 + shift, f2: point.1, proto: ["tcp", "udp", "icmp"][index % 3])
        }
    }
}

func expectProblem(_ code: String, _ body: () throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("expected \(code)", sourceLocation: sourceLocation)
    } catch let error as NeuroplexError {
        #expect(error.code.rawValue == code, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite(.timeLimit(.minutes(3))) struct ServingTests {
    @Test func predictionsExplanationsAndInputErrors() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        #expect(throws: ModelNotServing.self) { try s.predict([ServingBench.instance(f1: 0, f2: 0)]) }
        let deployment = try await s.deploy(1)
        #expect(deployment.primaryVersion == 1 && deployment.status == .deployed)
        // Warmed on training-like rows, where the native evaluator agreed with XGBoost.
        #expect(s.serving.served().first?.models.first?.evaluatorName == "native")

        // Labels follow the rule the data was made with (score = f1 + 2·f2 + [icmp] > 0.5 → attack).
        let instances = ServingBench.instances(200, seed: 99)
        let answer = try s.predict(instances)
        guard case .array(let predictions)? = answer["predictions"] else { Issue.record("no predictions"); return }
        #expect(predictions.count == 200 && answer["version"] == 1)
        var correct = 0
        for (instance, prediction) in zip(instances, predictions) {
            let score = instance["f1"]!.numberValue! + 2 * instance["f2"]!.numberValue! + (instance["proto"] == "icmp" ? 1 : 0)
            if prediction["label"] == .string(score > 0.5 ? "attack" : "benign") { correct += 1 }
            let p = prediction["probabilities"]?["attack"]?.numberValue ?? -1
            let q = prediction["probabilities"]?["benign"]?.numberValue ?? -1
            #expect(abs(p + q - 1) < 1e-6 && prediction["confidence"]?.numberValue == max(p, q))
        }
        #expect(correct >= 180, "\(correct) of 200")
        #expect(Set(predictions.compactMap { $0["id"] }).count == 200)

        // TreeSHAP contributions sum to the positive class's log-odds (attack: the rarer class of the training data).
        let explained = try s.predict(Array(instances.prefix(5)), explain: true)
        guard case .array(let rows)? = explained["predictions"] else { Issue.record("no predictions"); return }
        for row in rows {
            let explanation = row["explanation"]!
            #expect(explanation["outcome"] == "attack")
            guard case .object(let contributions)? = explanation["contributions"] else { Issue.record("no contributions"); continue }
            #expect(Set(contributions.keys) == ["f1", "f2", "proto"])
            let sum = explanation["bias"]!.numberValue! + contributions.values.compactMap(\.numberValue).reduce(0, +)
            let p = row["probabilities"]!["attack"]!.numberValue!
            #expect(abs(sum - log(p / (1 - p))) < 1e-4, "\(sum) vs \(log(p / (1 - p)))")
        }

        // Input errors name the feature; nothing is counted as served.
        expectProblem("unknown_feature") {
            _ = try s.predict([.object(["f1": 1, "f2": 1, "proto": "tcp", "colour": "red"])])
        }
        expectProblem("missing_feature") { _ = try s.predict([.object(["f1": 1, "proto": "tcp"])]) }
        expectProblem("invalid_feature") { _ = try s.predict([.object(["f1": "high", "f2": 1, "proto": "tcp"])]) }
        expectProblem("invalid_instance") { _ = try s.predict([.array([1, 2])]) }
        // Filled as in training when allowed; an array in column order; ignored columns (the id, the label) pass.
        #expect(try s.predict([.object(["f1": 1, "proto": "tcp"])], allowMissing: true)["predictions"]?[0]?["label"] != nil)
        #expect(try s.predict([.array([1, 1, "udp"])])["predictions"]?[0]?["label"] != nil)
        #expect(try s.predict([.object(["id": "x", "f1": 1, "f2": 1, "proto": "tcp", "label": "attack"])])["version"] == 1)

        // Global importance: f2 weighs twice f1 in the rule, and both outweigh proto.
        let importance = try await s.serving.importance(modelId: s.modelId, version: nil)
        let ranked = importance["features"].flatMap { value -> [JSONValue]? in
            if case .array(let items) = value { return items }
            return nil
        } ?? []
        #expect(ranked.map { $0["feature"] } == ["f2", "f1", "proto"], "\(importance)")
        #expect(ranked.allSatisfy { ($0["totalGain"]?.numberValue ?? 0) > 0 && ($0["meanAbsShap"]?.numberValue ?? 0) > 0 })
        #expect((importance["shapRows"]?.numberValue ?? 0) >= 200)
    }

    @Test func swapsUnderConcurrentPredictionsFailNoneAndEmptyTheCache() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        _ = try await s.deploy(1)
        let one = [ServingBench.instance(f1: 0.3, f2: -0.2)]
        _ = try s.predict(one, cache: true)
        _ = try s.predict(one, cache: true)
        let metrics = try await s.serving.metrics(model: "gbdt")
        #expect(metrics["models"]?[0]?["cacheHits"] == 1 && metrics["models"]?[0]?["cacheMisses"] == 1)

        let outcome = try await withThrowingTaskGroup(of: (failures: Int, versions: Set<Int>).self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var failures = 0
                    var versions: Set<Int> = []
                    for index in 0..<400 {
                        do {
                            let answer = try s.predict(ServingBench.instances(1, seed: UInt64(index)))
                            if let version = answer["version"]?.numberValue { versions.insert(Int(version)) }
                        } catch {
                            failures += 1
                        }
                        if index % 50 == 0 { await Task.yield() }
                    }
                    return (failures, versions)
                }
            }
            for version in [2, 1, 2] { _ = try await s.deploy(version) }
            var total = (failures: 0, versions: Set<Int>())
            for try await part in group {
                total.failures += part.failures
                total.versions.formUnion(part.versions)
            }
            return total
        }
        #expect(outcome.failures == 0)
        #expect(!outcome.versions.isEmpty && outcome.versions.isSubset(of: [1, 2]))
        // The deploys emptied the model's cache entries: the same input is computed again.
        _ = try s.predict(one, cache: true)
        let after = try await s.serving.metrics(model: "gbdt")
        let v2 = after["models"]?[0]?["versions"]?[1]
        #expect(v2?["version"] == 2 && v2?["cacheMisses"] == 1 && v2?["cacheHits"] == 0)
        #expect(try s.predict(one)["version"] == 2)
    }

    @Test func canarySplitsTrafficRollsBackOnItsRulesAndPromotesInSteps() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        let events = s.bench.training.events.subscription()
        _ = try await s.deploy(1)
        var canary = DeploymentStrategy(type: .canary)
        canary.percent = 50
        canary.rollback = .init(minAccuracy: 0.99)
        _ = try await s.deploy(2, canary)
        var served: [Int: Int] = [:]
        var canaryIds: [(String, String)] = []
        for instance in ServingBench.instances(400, seed: 5) {
            let answer = try s.predict([instance])
            let version = Int(answer["version"]!.numberValue!)
            served[version, default: 0] += 1
            if version == 2, case .string(let id)? = answer["predictions"]?[0]?["id"], case .string(let label)? = answer["predictions"]?[0]?["label"] {
                canaryIds.append((id, label))
            }
        }
        #expect((120...280).contains(served[1] ?? 0) && (120...280).contains(served[2] ?? 0), "\(served)")

        // Feedback that says the canary is always wrong breaks minAccuracy: it is rolled back, and recorded.
        for (id, label) in canaryIds.prefix(25) {
            _ = try await s.serving.feedback(predictionId: id, actual: .string(label == "attack" ? "benign" : "attack"))
        }
        await s.serving.checkCanaries()
        let rolledBack = s.serving.deployment(modelId: s.modelId)
        #expect(rolledBack?.canary == nil && rolledBack?.variants.map(\.version) == [1])
        #expect(rolledBack?.history.last?.type == "rolled_back" && rolledBack?.history.last?.detail?.contains("accuracy") == true)
        #expect(try s.predict([ServingBench.instance(f1: 0, f2: 0)])["version"] == 1)
        // The deploys and the rollback were published, in order, for /ml/events and /ml/ws.
        events.end()
        var published: [String] = []
        for await event in events.events { published.append(event.type) }
        #expect(published == ["deployment.deployed", "deployment.deployed", "deployment.rolled_back"], "\(published)")

        // Two steps of 30 s: 50 % → 75 % → promoted.
        var stepped = DeploymentStrategy(type: .canary)
        stepped.percent = 50
        stepped.steps = 2
        stepped.intervalSeconds = 30
        _ = try await s.deploy(2, stepped)
        await s.serving.checkCanaries()
        #expect(s.serving.deployment(modelId: s.modelId)?.canary?.percent == 50)
        s.clock.advance(by: 31)
        await s.serving.checkCanaries()
        #expect(s.serving.deployment(modelId: s.modelId)?.canary?.percent == 75)
        s.clock.advance(by: 31)
        await s.serving.checkCanaries()
        let promoted = s.serving.deployment(modelId: s.modelId)
        #expect(promoted?.canary == nil && promoted?.primaryVersion == 2 && promoted?.history.last?.type == "promoted")

        // A/B weights; a canary needs a deployed version; a retired model answers why.
        var ab = DeploymentStrategy(type: .ab)
        ab.variants = [.init(version: 1, weight: 3), .init(version: 2, weight: 1)]
        let split = try await s.deploy(1, ab)
        #expect(split.variants.map(\.weight) == [75, 25] && split.variants.map(\.name) == ["a", "b"])
        _ = try await s.serving.retire(modelId: s.modelId)
        #expect(throws: ModelNotServing.self) { try s.predict([ServingBench.instance(f1: 0, f2: 0)]) }
        #expect(await s.serving.notServing("gbdt").code.rawValue == "model_retired")
        await #expect(throws: NeuroplexError.self) { _ = try await s.deploy(2, canary) }
    }

    @Test func driftFlagsAShiftedFeatureAndDeploymentsSurviveARestart() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        _ = try await s.deploy(1)
        _ = try s.predict(ServingBench.instances(600, seed: 31, shift: 5))
        let drift = try await s.serving.drift(modelId: s.modelId, version: nil)
        guard case .array(let features)? = drift["features"] else { Issue.record("no features"); return }
        let byName = Dictionary(uniqueKeysWithValues: features.compactMap { entry -> (String, JSONValue)? in
            guard case .string(let name)? = entry["feature"] else { return nil }
            return (name, entry)
        })
        #expect(byName["f1"]?["drifted"] == true && (byName["f1"]?["psi"]?.numberValue ?? 0) > 1)
        #expect(byName["f2"]?["drifted"] == false && (byName["f2"]?["ks"]?.numberValue ?? 1) < 0.1)
        #expect(drift["window"]?["size"] == 600)

        // A new engine over the same database serves the stored deployment.
        _ = try await s.deploy(2)
        let restarted = ServingBench.serving(s.bench, s.clock)
        try await restarted.restore()
        #expect(restarted.deployment(modelId: s.modelId)?.primaryVersion == 2)
        var request = PredictRequest(model: "gbdt", instances: [ServingBench.instance(f1: 0, f2: 0)])
        request.cache = true
        #expect(try JSONValue.parse(try restarted.predict(request))["version"] == 2)
        // Another node's deploy and retirement reach it through the database.
        s.clock.advance(by: 1)
        _ = try await s.deploy(1)
        await restarted.refreshDeployments()
        #expect(try JSONValue.parse(try restarted.predict(request))["version"] == 1)
        s.clock.advance(by: 1)
        _ = try await s.serving.retire(modelId: s.modelId)
        await restarted.refreshDeployments()
        #expect(throws: ModelNotServing.self) { try restarted.predict(request) }
    }

    @Test func batchPredictionWritesADatasetWithProgress() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        _ = try await s.deploy(1)
        let input = try await s.bench.catalogue.upload(trafficCSV(rows: 300, seed: 11), name: "fresh").dataset
        let job = try await s.serving.submitBatch(model: "gbdt", datasetId: input.id, version: nil)
        #expect(job.type == "predict" && job.parameters["version"] == 1)
        let worker = Task { await s.bench.training.runWorker(pollInterval: .milliseconds(20)) }
        let finished = try await s.bench.wait(job.id)
        worker.cancel()
        await worker.value
        #expect(finished.status == .succeeded, "\(finished.error ?? "")")
        #expect(finished.progress.current == 300 && finished.progress.total == 300 && finished.progress.unit == "rows")
        guard case .string(let outputId)? = finished.result?["datasetId"] else { Issue.record("no result dataset"); return }
        let output = try await s.bench.catalogue.datasets.get(id: outputId)
        #expect(output.rows == 300 && output.name.hasPrefix("fresh predictions"))
        let text = try String(contentsOf: try await s.bench.catalogue.datasets.fileURL(id: outputId), encoding: .utf8)
        let lines = text.split(separator: "\n")
        #expect(lines.first == "id,f1,f2,proto,label,prediction,confidence,probability_benign,probability_attack")
        // The same row through /ml/predict gives the same class.
        let cells = lines[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let answer = try s.predict([.object(["f1": .double(Double(cells[1])!), "f2": .double(Double(cells[2])!),
                                             "proto": cells[3].isEmpty ? .null : .string(cells[3])])], allowMissing: true)
        #expect(answer["predictions"]?[0]?["label"] == .string(cells[5]))
        // Without a deployment, a version must be named.
        _ = try await s.serving.retire(modelId: s.modelId)
        await #expect(throws: NeuroplexError.self) { _ = try await s.serving.submitBatch(model: "gbdt", datasetId: input.id, version: nil) }
    }

    @Test func triggersRetrainValidateAndDeployOrStopAtAGate() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        _ = try await s.deploy(1)
        let worker = Task { await s.bench.training.runWorker(pollInterval: .milliseconds(20)) }
        defer { worker.cancel() }
        let body = #"{"when":{"accuracy":0.9},"then":{"validate":{"minimum":{"accuracy":0.5}},"deploy":{"strategy":{"type":"immediate"}}}}"#
        let trigger = try await s.serving.createTrigger(modelId: s.modelId, body: Array(body.utf8))
        #expect(trigger.then.train?.datasetId == "latest" && trigger.enabled)
        // Without 30 labelled predictions the condition cannot hold.
        await s.serving.checkTriggers()
        #expect(try await s.serving.triggers(modelId: s.modelId).first?.firings.isEmpty == true)
        // Feedback that contradicts every prediction: accuracy 0 < 0.9 fires it.
        let answer = try s.predict(ServingBench.instances(40, seed: 3))
        guard case .array(let predictions)? = answer["predictions"] else { Issue.record("no predictions"); return }
        for prediction in predictions {
            guard case .string(let id)? = prediction["id"], case .string(let label)? = prediction["label"] else { continue }
            _ = try await s.serving.feedback(predictionId: id, actual: .string(label == "attack" ? "benign" : "attack"))
        }
        await s.serving.checkTriggers()
        let fired = try await waitForFiring(s, trigger.id)
        #expect(fired?.status == "succeeded" && fired?.version == 3 && fired?.reason.hasPrefix("accuracy 0.000") == true, "\(String(describing: fired))")
        #expect(s.serving.deployment(modelId: s.modelId)?.primaryVersion == 3)
        // Version 3 serves without feedback yet, and the trigger cools down: nothing fires again.
        await s.serving.checkTriggers()
        #expect(try await s.serving.triggers(modelId: s.modelId).first { $0.id == trigger.id }?.firings.count == 1)

        // A gate no version can pass stops the pipeline before the deploy.
        let strict = try await s.serving.createTrigger(
            modelId: s.modelId,
            body: Array(#"{"when":{"schedule":"0 0 1 1 *"},"then":{"validate":{"minimum":{"accuracy":1.01}},"deploy":{}}}"#.utf8))
        _ = try await s.serving.fire(modelId: s.modelId, id: strict.id)
        let stopped = try await waitForFiring(s, strict.id)
        #expect(stopped?.status == "stopped" && stopped?.detail?.contains("accuracy") == true, "\(String(describing: stopped))")
        #expect(s.serving.deployment(modelId: s.modelId)?.primaryVersion == 3)

        // Bodies that are not one condition are refused.
        for bad in [#"{"when":{"accuracy":0.9,"drift":0.2}}"#, #"{"when":{"schedule":"61 * * * *"}}"#, #"{"then":{}}"#, "[1]"] {
            await #expect(throws: NeuroplexError.self) { _ = try await s.serving.createTrigger(modelId: s.modelId, body: Array(bad.utf8)) }
        }
        // A firing a stopped server left running (as stored when it died) is ended at the next start, so that the
        // trigger can fire again.
        var left = try #require(try await s.serving.triggers(modelId: s.modelId).first { $0.id == strict.id })
        left.firings.append(.init(at: s.clock.now(), reason: "fired by hand", status: "running", jobId: "job_x"))
        try await s.bench.catalogue.database.sql.update("ml_triggers").set("document", to: try ModelRegistry.json(left))
            .where("id", .equal, strict.id).run()
        await #expect(throws: NeuroplexError.self) { _ = try await s.serving.fire(modelId: s.modelId, id: strict.id) }
        try await ServingBench.serving(s.bench, s.clock).restore()
        let ended = try await s.serving.triggers(modelId: s.modelId).first { $0.id == strict.id }?.firings.last
        #expect(ended?.status == "failed" && ended?.detail?.contains("stopped while this firing ran (training job job_x)") == true)
        try await s.serving.deleteTrigger(modelId: s.modelId, id: strict.id)
        #expect(try await s.serving.triggers(modelId: s.modelId).map(\.id) == [trigger.id])
    }

    /// The trigger's last firing once it is no longer running (or after 60 s).
    func waitForFiring(_ s: ServingBench, _ id: String) async throws -> RetrainingTrigger.Firing? {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let firing = try await s.serving.triggers(modelId: s.modelId).first { $0.id == id }?.firings.last
            if let firing, firing.status != "running" { return firing }
            let generation = s.bench.training.jobs.changed.generation
            await s.bench.training.jobs.changed.wait(after: generation, timeout: .milliseconds(50))
        }
        return try await s.serving.triggers(modelId: s.modelId).first { $0.id == id }?.firings.last
    }

    @Test func cronSchedules() throws {
        let weekdays = try CronSchedule("*/15 9-17 * * 1-5")
        let monday = Date(timeIntervalSince1970: 1_795_426_200)  // 2026-11-23 09:30 UTC, a Monday
        #expect(weekdays.matches(monday))
        #expect(!weekdays.matches(monday.addingTimeInterval(60)))
        #expect(!weekdays.matches(monday.addingTimeInterval(-86_400)))  // Sunday
        #expect(try CronSchedule("30 9 23 11 0,1").matches(monday))
        #expect(try CronSchedule("* * * * 7").matches(monday.addingTimeInterval(-86_400)))
        for bad in ["* * * *", "60 * * * *", "*/0 * * * *", "5-1 * * * *", "a * * * *"] {
            #expect(throws: NeuroplexError.self) { try CronSchedule(bad) }
        }
    }

    @Test func predictBodiesAreReadAsTheJSONParserWould() async throws {
        let s = try await ServingBench()
        defer { Task { await s.bench.close() } }
        _ = try await s.deploy(1)
        func answer(_ body: String) throws -> JSONValue {
            try JSONValue.parse(try s.serving.predict(try PredictRequest(parsing: Array(body.utf8))))
        }
        func code(_ body: String) -> String? {
            do {
                _ = try answer(body)
                return nil
            } catch let error as NeuroplexError {
                return error.code.rawValue
            } catch {
                return "\(error)"
            }
        }
        // The same instance, written in different ways, gives the same prediction as the parsed tree.
        let parsed = try JSONValue.parse(try s.serving.predict(
            PredictRequest(model: "gbdt", instances: [.object(["f1": 1000, "f2": -0.5, "proto": "udp"])])))
        let expected = parsed["predictions"]?[0]?["probabilities"]
        for body in [
            #"{"model":"gbdt","instances":[{"f1":1e3,"f2":-0.5,"proto":"udp"}]}"#,
            #" { "instances" : [ { "proto" : "u\u0064p" , "f2" : -5E-1 , "\u0066\u0031" : 1000.0 } ] , "model" : "gbdt" , "extra" : {"a":[1,{"b":"]"}]} } "#,
            #"{"model":"gbdt","instances":[[1000,-0.5,"udp"]],"explain":false,"cache":null}"#,
            #"{"model":"gbdt","instances":[{"f1":1000,"f2":-0.5,"proto":"udp","id":{"nested":["x"]},"label":null}]}"#,
        ] {
            #expect(try answer(body)["predictions"]?[0]?["probabilities"] == expected, "\(body)")
        }
        #expect(code(#"{"model":"gbdt","instances":[{"f1":1,"f2":2,"proto":"udp"}]"#) == "invalid_json")
        #expect(code(#"{"model":"gbdt","instances":[{"f1":1,"f2":2,"proto":"udp"}]} x"#) == "invalid_json")
        #expect(code(#"{"model":"gbdt","instances":[{"f1":01x,"f2":2,"proto":"udp"}]}"#) == "invalid_json")
        for number in [".5", "01", "1.", "1e", "-", "1e+", "--1", "+1", "0x10"] {
            #expect(code(#"{"model":"gbdt","instances":[{"f1":\#(number),"f2":2,"proto":"udp"}]}"#) == "invalid_json", "\(number)")
        }
        #expect(code(#"{"model":"gbdt","instances":{}}"#) == "validation_failed")
        #expect(code(#"{"model":"gbdt","instances":[]}"#) == "validation_failed")
        #expect(code(#"{"model":7,"instances":[{}]}"#) == "validation_failed")
        #expect(code(#"[1]"#) == "validation_failed")
        #expect(code("") == "invalid_json")
        #expect(code(#"{"model":"gbdt","instances":[{"f1":[1],"f2":2,"proto":"udp"}]}"#) == "invalid_feature")
        #expect(code(#"{"model":"gbdt","instances":[7]}"#) == "invalid_instance")
        #expect(code(#"{"model":"gbdt","instances":[{"f1":1,"f2":2,"proto":"udp"}],"explain":"yes"}"#) == "validation_failed")
    }

    /// Sentinel's path: rows of numbers in the caller's column order go through the version's preprocessing as JSON
    /// instances do (all-numeric inputs take a faster loop; columns the model never saw are ignored, absent ones
    /// take the fill value).
    @Test func numericRowsPredictAsJSONInstancesDo() async throws {
        let bench = try await TrainingBench(.sqlite)
        defer { Task { await bench.close() } }
        var csv = "f1,f2,label\n"
        for (row, (f1, f2)) in Synthetic.points(600, seed: 3).enumerated() {
            // Some gaps, so that the version learns a fill value for f2.
            csv += "\(f1),\(row % 13 == 0 ? "" : String(f2)),\(f1 + 2 * f2 > 0.5 ? "attack" : "benign")\n"
        }
        let dataset = try await bench.catalogue.upload(csv).dataset
        let model = try await bench.training.registry.create(
            MLModelDraft(name: "numeric", task: .classification, algorithm: "xgboost", hyperparameters: ["n_estimators": 20]))
        let worker = Task { await bench.training.runWorker(pollInterval: .milliseconds(20)) }
        let job = try await bench.training.submit(modelId: model.id, datasetId: dataset.id, hyperparameters: nil, split: nil, priority: nil)
        #expect(try await bench.wait(job.id).status == .succeeded)
        worker.cancel()
        await worker.value
        let serving = ModelServing(
            training: bench.training, database: bench.catalogue.database, clock: ManualWallClock(Date()), logger: quietLogger)
        _ = try await serving.deploy(modelId: model.id, DeployRequest(version: "1", strategy: .init(type: .immediate)))
        let served = try #require(serving.served().first?.models.first)

        let probes = Synthetic.points(64, seed: 8)
        func viaJSON(_ instances: [JSONValue]) throws -> [JSONValue] {
            var request = PredictRequest(model: "numeric", instances: instances)
            request.allowMissing = true
            guard case .array(let predictions)? = try JSONValue.parse(try serving.predict(request))["predictions"] else { return [] }
            return predictions
        }
        func expectSame(_ outputs: [PredictionOutput], _ predictions: [JSONValue]) {
            #expect(outputs.count == probes.count && predictions.count == probes.count)
            for (output, prediction) in zip(outputs, predictions) {
                #expect(prediction["label"] == output.label.map(JSONValue.string))
                #expect(abs((prediction["confidence"]?.numberValue ?? -1) - (output.confidence ?? -2)) < 1e-9)
            }
        }
        let reordered = served.layout(for: ["f2", "unseen", "f1"])
        let numeric = try served.predict(numeric: probes.flatMap { [$0.1, 7, $0.0] }, count: probes.count, layout: reordered)
        expectSame(numeric.outputs, try viaJSON(probes.map { .object(["f1": .double($0.0), "f2": .double($0.1)]) }))
        #expect(Set(numeric.outputs.compactMap(\.label)) == ["attack", "benign"])

        let withoutF2 = served.layout(for: ["f1"])
        #expect(withoutF2.missing == ["f2"])
        let filled = try served.predict(numeric: probes.map(\.0), count: probes.count, layout: withoutF2)
        expectSame(filled.outputs, try viaJSON(probes.map { .object(["f1": .double($0.0)]) }))
    }

    @Test func statistics() {
        // Two-proportion z-test, worked by hand: 80/100 against 90/100 → z = 0.1 / √(0.85·0.15·0.02) = 1.9803.
        let test = ProportionTest(a: ("a", 80, 100), b: ("b", 90, 100))
        #expect(abs(test.z - 1.9803) < 1e-3 && abs(test.pValue - 0.0477) < 1e-3 && test.significant)
        #expect(test.verdict.hasPrefix("b is more accurate"))
        #expect(!ProportionTest(a: ("a", 8, 10), b: ("b", 9, 10)).significant)
        // KS: identical samples 0, disjoint ones 1; PSI of equal shares 0 and growing with the shift.
        let sample = (0..<100).map(Double.init)
        #expect(DriftStatistics.ks(sample, sample).statistic == 0)
        #expect(DriftStatistics.ks(sample, sample.map { $0 + 1000 }).statistic == 1)
        #expect(DriftStatistics.ks(sample, sample.map { $0 + 1000 }).pValue < 1e-6)
        #expect(DriftStatistics.psi(expected: [0.5, 0.5], actual: [0.5, 0.5]) == 0)
        #expect(DriftStatistics.psi(expected: [0.5, 0.5], actual: [0.6, 0.4]) < DriftStatistics.psi(expected: [0.5, 0.5], actual: [0.9, 0.1]))
    }

    @Test func storedReference() throws {
        // A drift reference reads back from its binary record exactly (every bit of every number, NaN and -0 too, and
        // names in any script); a cut or altered record is refused, never read as another profile.
        let values = (0..<600).map { Double($0) * 0.37 - 50 } + [-0.0, .infinity]
        let reference = ReferenceProfile(
            features: [
                .numeric("bytes", values), .categorical("proto", ["tcp", "udp", "icmp", "tcp"], categories: ["tcp", "udp"]),
                .init(name: "größe ✓", edges: [], categories: nil, shares: [1], sample: [.nan]),
            ],
            prediction: .categorical("prediction", ["a", "b"], categories: ["a", "b"]), rows: 604)
        let bytes = reference.encoded()
        let decoded = try ReferenceProfile(encoded: bytes)
        #expect(decoded.rows == 604 && decoded.features.map(\.name) == ["bytes", "proto", "größe ✓"])
        #expect(decoded.features[2].sample?.first?.isNaN == true)
        var comparable = decoded
        comparable.features[2].sample = reference.features[2].sample
        #expect(comparable.features[2].sample?.first?.isNaN == true)
        comparable.features[2] = reference.features[2]
        #expect(comparable == reference)
        #expect(decoded.features[0].sample?.map(\.bitPattern) == reference.features[0].sample?.map(\.bitPattern))
        #expect(try ReferenceProfile(encoded: ReferenceProfile(features: [], prediction: nil, rows: 0).encoded()).features.isEmpty)
        for cut in [0, 4, 5, bytes.count / 2, bytes.count - 1] {
            #expect(throws: NeuroplexError.self) { try ReferenceProfile(encoded: Array(bytes.prefix(cut))) }
        }
        #expect(throws: NeuroplexError.self) { try ReferenceProfile(encoded: bytes + [0]) }
        var wrongCount = bytes
        wrongCount[13...16] = [0xFF, 0xFF, 0xFF, 0x7F]
        #expect(throws: NeuroplexError.self) { try ReferenceProfile(encoded: wrongCount) }
    }
}

extension JSONValue {
    /// The element at `index` of an array, or `nil`.
    fileprivate subscript(_ index: Int) -> JSONValue? {
        guard case .array(let values) = self, values.indices.contains(index) else { return nil }
        return values[index]
    }
}
