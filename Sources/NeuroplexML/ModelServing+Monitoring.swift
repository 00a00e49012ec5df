public import Foundation
public import NeuroplexCore
import Synchronization

extension ModelServing {
    // MARK: Metrics

    /// Per model and version: requests, latency percentiles, error rate, cache use, predicted classes, confidence
    /// histogram, and accuracy from feedback (all of it, the latest 100 and 1,000, the last hour and day).
    /// - Parameter reference: a model id or name; all served or measured models when `nil`.
    /// - Throws: 404 for an unknown model.
    public func metrics(model reference: String?) async throws -> JSONValue {
        var models: [MLModel] = []
        if let reference {
            var model = try? await registry.get(id: reference)
            if model == nil { model = try await registry.find(name: reference) }
            guard let model else { throw NeuroplexError.notFound("model", id: reference) }
            models = [model]
        } else {
            var ids = Set(served().map(\.modelId))
            ids.formUnion(monitor.modelIds())
            for id in ids.sorted() { if let model = try? await registry.get(id: id) { models.append(model) } }
        }
        let now = clock.now()
        var documents: [JSONValue] = []
        for model in models {
            let deployment = deployment(modelId: model.id)
            var versions = Set(monitor.versions(of: model.id))
            if let deployment, deployment.status == .deployed { versions.formUnion(deployment.versions) }
            var entries: [JSONValue] = []
            var total = (requests: 0, predictions: 0, errors: 0, hits: 0, misses: 0)
            for version in versions.sorted() {
                let stats = monitor.stats(.init(modelId: model.id, version: version)) ?? ServingMonitor.VersionStats()
                total.requests += stats.requests
                total.predictions += stats.predictions
                total.errors += stats.errors
                total.hits += stats.cacheHits
                total.misses += stats.cacheMisses
                let classes = routing(model.id)?.routes.first { $0.model.version.version == version }?.model.classes
                var entry = Self.document(stats, classes: classes, now: now)
                entry["version"] = .int(Int64(version))
                if let deployment, deployment.status == .deployed {
                    let variant = deployment.variants.first { $0.version == version }
                    entry["variant"] = variant.map { .string($0.name) } ?? (deployment.shadowVersion == version ? .string("shadow") : .null)
                    entry["weight"] = variant.map { .double($0.weight) } ?? .double(0)
                }
                entries.append(.object(entry))
            }
            let lookups = total.hits + total.misses
            documents.append(.object([
                "model": .string(model.name), "modelId": .string(model.id),
                "status": .string(deployment?.status.rawValue ?? "not_deployed"),
                "deployedVersion": deployment?.status == .deployed ? .int(Int64(deployment!.primaryVersion)) : .null,
                "requests": .int(Int64(total.requests)), "predictions": .int(Int64(total.predictions)),
                "errors": .int(Int64(total.errors)),
                "errorRate": .double(total.requests > 0 ? Double(total.errors) / Double(total.requests) : 0),
                "cacheHits": .int(Int64(total.hits)), "cacheMisses": .int(Int64(total.misses)),
                "cacheHitRate": .double(lookups > 0 ? Double(total.hits) / Double(lookups) : 0),
                "versions": .array(entries),
            ]))
        }
        let usage = cache.usage
        return .object([
            "models": .array(documents),
            "cache": .object(["cacheEntries": .int(Int64(usage.entries)), "cacheBytes": .int(Int64(usage.bytes))]),
        ])
    }

    static func document(_ stats: ServingMonitor.VersionStats, classes: [String]?, now: Date) -> [String: JSONValue] {
        let sorted = stats.latencies.items.sorted()
        var latency: [String: JSONValue] = [:]
        for (name, p) in [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)] {
            latency[name] = ServingMonitor.percentile(sorted, p).map { .double(($0 * 1000).rounded() / 1000) } ?? .null
        }
        let lookups = stats.cacheHits + stats.cacheMisses
        let feedback = stats.feedback.ordered
        var quality = ServingMonitor.quality(feedback, classes: classes)
        quality["last100"] = .object(ServingMonitor.quality(Array(feedback.suffix(100)), classes: classes))
        quality["last1000"] = .object(ServingMonitor.quality(Array(feedback.suffix(1000)), classes: classes))
        quality["lastHour"] = .object(ServingMonitor.quality(feedback.filter { now.timeIntervalSince($0.at) <= 3600 }, classes: classes))
        quality["lastDay"] = .object(ServingMonitor.quality(feedback.filter { now.timeIntervalSince($0.at) <= 86_400 }, classes: classes))
        return [
            "requests": .int(Int64(stats.requests)), "predictions": .int(Int64(stats.predictions)),
            "errors": .int(Int64(stats.errors)), "rejected": .int(Int64(stats.rejected)),
            "errorRate": .double(stats.requests > 0 ? Double(stats.errors) / Double(stats.requests) : 0),
            "latencyMs": .object(latency),
            "cacheHits": .int(Int64(stats.cacheHits)), "cacheMisses": .int(Int64(stats.cacheMisses)),
            "cacheHitRate": .double(lookups > 0 ? Double(stats.cacheHits) / Double(lookups) : 0),
            "shadowPredictions": .int(Int64(stats.shadowPredictions)),
            "classes": .object(stats.classCounts.mapValues { .int(Int64($0)) }),
            "confidenceHistogram": .array(stats.confidence.map { .int(Int64($0)) }),
            "feedback": .object(quality),
        ]
    }

    /// The serving figures in Prometheus text format, for `GET /metrics`: per model and version, requests,
    /// predictions, errors, cache hits and misses, predicted classes, latency quantiles (of the latest 4,096
    /// requests), accuracy from feedback, and the memory of each loaded version.
    public func prometheus() -> String {
        var families: [String: (help: String, type: String, lines: [String])] = [:]
        func add(_ name: String, _ help: String, _ type: String, _ labels: [(String, String)], _ value: Double) {
            let text = labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",")
            families[name, default: (help, type, [])].lines.append("\(name){\(text)} \(value.isFinite ? String(value) : "NaN")")
        }
        for entry in served() {
            for model in entry.models {
                add("neuroplex_ml_loaded_model_bytes", "Estimated memory of a loaded model version.", "gauge",
                    [("model", entry.name), ("version", String(model.version.version))], Double(model.memoryBytes))
            }
        }
        for modelId in monitor.modelIds().sorted() {
            let name = routing(modelId)?.name ?? modelId
            for version in monitor.versions(of: modelId) {
                guard let stats = monitor.stats(.init(modelId: modelId, version: version)) else { continue }
                let labels = [("model", name), ("version", String(version))]
                add("neuroplex_ml_requests_total", "Predict requests served.", "counter", labels, Double(stats.requests))
                add("neuroplex_ml_predictions_total", "Predictions made.", "counter", labels, Double(stats.predictions))
                add("neuroplex_ml_errors_total", "Predict requests that failed on the server's side.", "counter", labels, Double(stats.errors))
                add("neuroplex_ml_rejected_total", "Predict requests refused for their input.", "counter", labels, Double(stats.rejected))
                add("neuroplex_ml_cache_hits_total", "Predictions answered from the result cache.", "counter", labels, Double(stats.cacheHits))
                add("neuroplex_ml_cache_misses_total", "Cacheable predictions computed.", "counter", labels, Double(stats.cacheMisses))
                for (label, count) in stats.classCounts.sorted(by: { $0.key < $1.key }) {
                    add("neuroplex_ml_class_predictions_total", "Predictions by predicted class.", "counter",
                        labels + [("class", label)], Double(count))
                }
                let sorted = stats.latencies.items.sorted()
                for q in [0.5, 0.95, 0.99] {
                    if let value = ServingMonitor.percentile(sorted, q) {
                        add("neuroplex_ml_request_latency_seconds", "Predict latency of the latest 4,096 requests.", "summary",
                            labels + [("quantile", String(q))], value / 1000)
                    }
                }
                let feedback = stats.feedback.ordered
                if !feedback.isEmpty {
                    let correct = feedback.filter { $0.predicted == $0.actual }.count
                    add("neuroplex_ml_feedback_total", "Labelled predictions (feedback).", "counter", labels, Double(feedback.count))
                    add("neuroplex_ml_feedback_accuracy", "Accuracy of the labelled predictions kept.", "gauge", labels,
                        Double(correct) / Double(feedback.count))
                }
            }
        }
        var text = ""
        for (name, family) in families.sorted(by: { $0.key < $1.key }) {
            text += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.type)\n"
            for line in family.lines { text += line + "\n" }
        }
        return text
    }

    static func escapeLabel(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }

    // MARK: Drift

    /// Per-feature PSI and Kolmogorov–Smirnov of the latest inputs of a version (default the deployed one) against
    /// its training distribution, and the drift of its predictions.
    /// - Throws: 404; 409 `not_deployed` with no version given and none deployed; 409 `no_reference` for a version
    ///   without a training profile (imported, or trained before profiles were kept).
    public func drift(modelId: String, version requested: Int?) async throws -> JSONValue {
        let model = try await registry.get(id: modelId)
        let number: Int
        if let requested {
            number = requested
        } else if let deployment = deployment(modelId: model.id), deployment.status == .deployed {
            number = deployment.primaryVersion
        } else {
            throw NeuroplexError(.conflict, code: "not_deployed", "model '\(model.name)' is not deployed; name a version")
        }
        let version = try await registry.versionWithReference(modelId: model.id, version: number)
        guard let reference = version.reference else {
            throw NeuroplexError(
                .conflict, code: "no_reference",
                "version \(number) has no training profile to compare with (it was imported or trained before profiles were kept); retrain it")
        }
        let window = monitor.window(.init(modelId: model.id, version: number))
        let rows = window?.rows ?? []
        let enough = rows.count >= 100
        var features: [JSONValue] = []
        for (index, distribution) in reference.features.enumerated() {
            let values = rows.compactMap { index < $0.count ? $0[index] : nil }
            let shares = DriftStatistics.shares(values, in: distribution)
            let psi = DriftStatistics.psi(expected: distribution.shares, actual: shares)
            var entry: [String: JSONValue] = [
                "feature": .string(distribution.name), "psi": .double(psi),
                "type": .string(distribution.categories == nil ? "numeric" : "categorical"),
            ]
            var drifted = psi >= configuration.psiThreshold
            if let sample = distribution.sample {
                let live = values.filter { !$0.isNaN }.sorted()
                let test = DriftStatistics.ks(sample, live)
                entry["ks"] = .double(test.statistic)
                entry["ksPValue"] = .double(test.pValue)
                drifted = drifted || test.statistic >= configuration.ksThreshold
            } else {
                entry["ks"] = .null
            }
            entry["drifted"] = .bool(enough && drifted)
            features.append(.object(entry))
        }
        var prediction: JSONValue = .null
        if let distribution = reference.prediction {
            let values = window?.predictions.ordered ?? []
            let psi = DriftStatistics.psi(expected: distribution.shares, actual: DriftStatistics.shares(values, in: distribution))
            prediction = .object(["psi": .double(psi), "drifted": .bool(enough && psi >= configuration.psiThreshold)])
        }
        return .object([
            "modelId": .string(model.id), "model": .string(model.name), "version": .int(Int64(number)),
            "window": .object([
                "size": .int(Int64(rows.count)), "capacity": .int(Int64(monitor.windowSize)),
                "enough": .bool(enough), "minimum": .int(100),
            ]),
            "reference": .object(["rows": .int(Int64(reference.rows))]),
            "thresholds": .object(["psi": .double(configuration.psiThreshold), "ks": .double(configuration.ksThreshold)]),
            "features": .array(features),
            "prediction": prediction,
        ])
    }

    // MARK: Importance

    /// Global importance of a deployed version's input columns (default the deployed one): XGBoost's splits, gain
    /// and cover, and the mean |SHAP| over the latest inputs it served (up to the drift window).
    /// - Throws: 404; 409 `not_deployed` (importance is computed on a loaded version).
    public func importance(modelId: String, version requested: Int?) async throws -> JSONValue {
        let model = try await registry.get(id: modelId)
        guard let entry = served().first(where: { $0.modelId == model.id }) else { throw await notServing(model.id) }
        let number = requested ?? entry.deployment.primaryVersion
        guard let served = entry.models.first(where: { $0.version.version == number }) else {
            throw NeuroplexError(.conflict, code: "version_not_deployed", "version \(number) of '\(model.name)' is not deployed")
        }
        let rows = (monitor.window(.init(modelId: model.id, version: number))?.rows ?? []).map(served.instance(fromRaw:))
        let importance = try served.importance(over: rows)
        let totalGain = importance.compactMap(\.totalGain).reduce(0, +)
        let features: [JSONValue] = importance.map { item in
            var fields: [String: JSONValue] = ["feature": .string(item.feature)]
            if let splits = item.splits { fields["splits"] = .double(splits) }
            if let gain = item.totalGain {
                fields["totalGain"] = .double(gain)
                fields["gain"] = .double((item.splits ?? 0) > 0 ? gain / item.splits! : 0)
                fields["gainShare"] = .double(totalGain > 0 ? gain / totalGain : 0)
            }
            if let cover = item.totalCover {
                fields["totalCover"] = .double(cover)
                fields["cover"] = .double((item.splits ?? 0) > 0 ? cover / item.splits! : 0)
            }
            fields["meanAbsShap"] = item.meanAbsoluteContribution.map { .double($0) } ?? .null
            return .object(fields)
        }.sorted { ($0["meanAbsShap"]?.numberValue ?? $0["totalGain"]?.numberValue ?? 0) > ($1["meanAbsShap"]?.numberValue ?? $1["totalGain"]?.numberValue ?? 0) }
        return .object([
            "modelId": .string(model.id), "model": .string(model.name), "version": .int(Int64(number)),
            "shapRows": .int(Int64(rows.count)), "shapSource": .string("the latest inputs served"),
            "features": .array(features),
        ])
    }

    // MARK: Alerts

    /// Publishes a `drift` alert when a deployed version's inputs or predictions newly drift, and an `accuracy`
    /// alert when its accuracy over the latest 100 labelled predictions (at least 50) falls more than 5 points
    /// below its validated (or training) accuracy. Each alert is published once until the condition clears.
    public func checkAlerts() async {
        for entry in served() {
            let version = entry.deployment.primaryVersion
            var drifted: Set<String> = []
            var driftDetail: [String] = []
            if let report = try? await drift(modelId: entry.modelId, version: version),
                case .array(let features)? = report["features"]
            {
                for feature in features where feature["drifted"] == .bool(true) {
                    guard case .string(let name)? = feature["feature"] else { continue }
                    drifted.insert(name)
                    driftDetail.append("\(name) (psi \(String(format: "%.2f", feature["psi"]?.numberValue ?? 0)))")
                }
                if report["prediction"]?["drifted"] == .bool(true) {
                    drifted.insert("prediction")
                    driftDetail.append("predictions")
                }
            }
            var accuracyLow = false
            var accuracyDetail = ""
            let model = entry.models.first { $0.version.version == version }
            if let stats = monitor.stats(.init(modelId: entry.modelId, version: version)), stats.feedback.count >= 50,
                let model,
                let expected = model.version.validation?["accuracy"]?.numberValue ?? model.version.metrics["accuracy"]
            {
                let recent = stats.feedback.ordered.suffix(100)
                let accuracy = Double(recent.filter { $0.predicted == $0.actual }.count) / Double(recent.count)
                accuracyLow = accuracy < expected - 0.05
                accuracyDetail = String(format: "live accuracy %.3f over the latest %d labelled predictions, against %.3f at validation", accuracy, recent.count, expected)
            }
            let previous: (drift: Set<String>, accuracyLow: Bool) =
                alerted.withLock { $0[entry.modelId] } ?? (drift: [], accuracyLow: false)
            if !drifted.subtracting(previous.drift).isEmpty {
                events.publish(.alert(
                    modelId: entry.modelId, version: version, kind: "drift",
                    detail: "drift in " + driftDetail.joined(separator: ", ")))
            }
            if accuracyLow, !previous.accuracyLow {
                events.publish(.alert(modelId: entry.modelId, version: version, kind: "accuracy", detail: accuracyDetail))
            }
            alerted.withLock { $0[entry.modelId] = (drifted, accuracyLow) }
        }
    }

    // MARK: Experiments

    /// The variants of the model's deployment with their figures and accuracy from feedback, and a two-proportion
    /// z-test of each variant's accuracy against the first (the primary, or variant `a`).
    public func experiments(modelId: String) async throws -> JSONValue {
        let model = try await registry.get(id: modelId)
        guard let deployment = deployment(modelId: model.id) else {
            throw NeuroplexError(.conflict, code: "not_deployed", "model '\(model.name)' has never been deployed")
        }
        let now = clock.now()
        let classes = routing(model.id)?.routes.first?.model.classes
        var variants: [JSONValue] = []
        var tallies: [(name: String, successes: Int, trials: Int)] = []
        for variant in deployment.variants {
            let stats = monitor.stats(.init(modelId: model.id, version: variant.version)) ?? ServingMonitor.VersionStats()
            let feedback = stats.feedback.ordered
            let correct = feedback.filter { $0.predicted == $0.actual }.count
            tallies.append((variant.name, correct, feedback.count))
            var entry = Self.document(stats, classes: classes, now: now)
            entry["variant"] = .string(variant.name)
            entry["version"] = .int(Int64(variant.version))
            entry["weight"] = .double(variant.weight)
            variants.append(.object(entry))
        }
        var comparisons: [JSONValue] = []
        if let first = tallies.first {
            for other in tallies.dropFirst() {
                let test = ProportionTest(a: first, b: other)
                comparisons.append(.object([
                    "a": .string(first.name), "b": .string(other.name),
                    "accuracyA": .double(first.trials > 0 ? Double(first.successes) / Double(first.trials) : 0),
                    "accuracyB": .double(other.trials > 0 ? Double(other.successes) / Double(other.trials) : 0),
                    "difference": .double(test.difference),
                    "confidenceInterval": .array(test.confidenceInterval.map { .double($0) }),
                    "z": .double(test.z), "pValue": .double(test.pValue), "significant": .bool(test.significant),
                    "verdict": .string(test.verdict),
                ]))
            }
        }
        return .object([
            "modelId": .string(model.id), "model": .string(model.name), "status": .string(deployment.status.rawValue),
            "strategy": .string(deployment.strategy.type.rawValue),
            "variants": .array(variants), "comparisons": .array(comparisons),
        ])
    }
}
