public import Foundation
public import NeuroplexCore
import NeuroplexStorage
import SQLKit

/// The body of `POST /ml/predict`.
public struct PredictRequest: Sendable {
    /// The model's id or name.
    public var model: String
    /// A version the deployment serves; by default the routing picks one.
    public var version: Int?
    /// An alias naming the version (resolved by the caller, see ``ModelServing/resolveAlias(model:alias:)``).
    public var alias: String?
    public var explain = false
    public var cache = false
    public var allowMissing = false

    /// The instances: parsed values, or (from ``init(parsing:)``) the body with each instance's byte range, read
    /// straight from the bytes by ``ServedModel``.
    enum Instances: Sendable {
        case values([JSONValue])
        case body([UInt8], [Range<Int>])
    }

    var source: Instances

    /// The number of instances.
    public var count: Int {
        switch source {
        case .values(let values): values.count
        case .body(_, let ranges): ranges.count
        }
    }

    /// The instance at `index`, parsed.
    public func instance(_ index: Int) throws -> JSONValue {
        switch source {
        case .values(let values): return values[index]
        case .body(let bytes, let ranges): return try JSONValue.parse(bytes[ranges[index]])
        }
    }

    /// Objects of feature → value, or arrays of values in the version's column order.
    public init(model: String, instances: [JSONValue]) {
        self.model = model
        source = .values(instances)
    }

    /// Parses a JSON body: `{model, version?, alias?, instances, explain?, cache?, allowMissing?}` (other members
    /// are ignored).
    /// - Throws: 400 `invalid_json` or `validation_failed` naming the field.
    public init(parsing body: some Collection<UInt8>) throws {
        let bytes = Array(body)
        var model: String?
        var version: Int?
        var alias: String?
        var flags: [String: Bool] = [:]
        var ranges: [Range<Int>]?
        try bytes.withUnsafeBufferPointer { buffer in
            var scanner = JSONScanner(buffer)
            scanner.skipWhitespace()
            guard scanner.peek == UInt8(ascii: "{") else {
                if scanner.peek == nil { throw JSONScanner.malformed(0, "the body is empty") }
                _ = try JSONValue.parse(buffer)  // the parser's own message for a malformed body
                throw NeuroplexError.invalid("", "the body is a JSON object {model, instances, ...}", kind: .badRequest)
            }
            try scanner.expect(UInt8(ascii: "{"))
            if !scanner.take(UInt8(ascii: "}")) {
                repeat {
                    let key = try scanner.string()
                    try scanner.expect(UInt8(ascii: ":"))
                    if key == "instances" {
                        scanner.skipWhitespace()
                        guard scanner.take(UInt8(ascii: "[")) else {
                            _ = try scanner.skipValue()
                            throw NeuroplexError.invalid(
                                "instances", "instances is a non-empty array of feature objects or value arrays", kind: .badRequest)
                        }
                        var found: [Range<Int>] = []
                        if !scanner.take(UInt8(ascii: "]")) {
                            repeat { found.append(try scanner.skipValue()) } while scanner.take(UInt8(ascii: ","))
                            try scanner.expect(UInt8(ascii: "]"))
                        }
                        ranges = found
                        continue
                    }
                    let value = try JSONValue.parse(UnsafeBufferPointer(rebasing: buffer[try scanner.skipValue()]))
                    switch (key, value) {
                    case ("model", .string(let name)): model = name
                    case ("model", _): throw NeuroplexError.invalid("model", "model (the model's id or name) is a string", kind: .badRequest)
                    case ("version", .null), ("alias", .null): break
                    case ("version", .int(let number)): version = Int(number)
                    case ("version", .string(let text)):
                        if let number = Int(text) { version = number } else { alias = text }
                    case ("version", _): throw NeuroplexError.invalid("version", "version is a number", kind: .badRequest)
                    case ("alias", .string(let text)): alias = text
                    case ("alias", _): throw NeuroplexError.invalid("alias", "alias is a string", kind: .badRequest)
                    case ("explain", .bool(let flag)), ("cache", .bool(let flag)), ("allowMissing", .bool(let flag)):
                        flags[key] = flag
                    case ("explain", .null), ("cache", .null), ("allowMissing", .null): break
                    case ("explain", _), ("cache", _), ("allowMissing", _):
                        throw NeuroplexError.invalid(key, "\(key) is true or false", kind: .badRequest)
                    default: break
                    }
                } while scanner.take(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "}"))
            }
            scanner.skipWhitespace()
            guard scanner.peek == nil else { throw JSONScanner.malformed(scanner.position, "more after the object") }
        }
        guard let model, !model.isEmpty else {
            throw NeuroplexError.invalid("model", "model (the model's id or name) is required", kind: .badRequest)
        }
        guard let ranges, !ranges.isEmpty else {
            throw NeuroplexError.invalid("instances", "instances is a non-empty array of feature objects or value arrays", kind: .badRequest)
        }
        self.model = model
        self.version = version
        self.alias = alias
        explain = flags["explain"] ?? false
        cache = flags["cache"] ?? false
        allowMissing = flags["allowMissing"] ?? false
        source = .body(bytes, ranges)
    }

    /// Reads instance `index` into the feature rows of `model`.
    func read(
        _ index: Int, into model: ServedModel, row: inout [Double], at base: Int, raw: inout [Double], rawAt rawBase: Int
    ) throws {
        switch source {
        case .values(let values):
            try model.features(values[index], allowMissing: allowMissing, row: &row, at: base, raw: &raw, rawAt: rawBase)
        case .body(let bytes, let ranges):
            try bytes.withUnsafeBufferPointer { buffer in
                try model.features(
                    json: buffer, range: ranges[index], allowMissing: allowMissing, row: &row, at: base, raw: &raw,
                    rawAt: rawBase)
            }
        }
    }
}

/// A predict request's model has no routing: the caller finds out why with ``ModelServing/notServing(_:)``.
public struct ModelNotServing: Error, Sendable {
    public var reference: String
}

extension ModelServing {
    /// The version an alias names, for a predict request.
    public func resolveAlias(model reference: String, alias: String) async throws -> Int {
        guard let routing = routing(reference) else { throw await notServing(reference) }
        return try await registry.version(modelId: routing.deployment.modelId, reference: alias).version
    }

    /// Predicts every instance with the version the routing picks (or the one asked for), and answers with the
    /// response body of `POST /ml/predict`.
    /// - Throws: ``ModelNotServing``; 409 `version_not_deployed`; 422 for instances that do not fit the version.
    public func predict(_ request: PredictRequest) throws -> [UInt8] {
        let started = ContinuousClock.now
        guard let routing = routing(request.model) else { throw ModelNotServing(reference: request.model) }
        let route: Routing.Route
        if let version = request.version {
            guard let chosen = routing.routes.first(where: { $0.model.version.version == version }) else {
                let served = routing.routes.map { String($0.model.version.version) }.joined(separator: ", ")
                throw NeuroplexError(
                    .conflict, code: "version_not_deployed",
                    "version \(version) of '\(routing.name)' is not deployed; it serves \(served)", field: "version")
            }
            route = chosen
        } else {
            route = routing.pick()
        }
        let model = route.model
        guard request.count <= configuration.maxInstances else {
            throw NeuroplexError(
                .invalidInput, code: "too_many_instances",
                "at most \(configuration.maxInstances) instances per request; use POST /ml/predict/batch for more",
                field: "instances")
        }
        do {
            let count = request.count
            let width = model.width, columns = model.inputs.count
            var rows = [Double](repeating: 0, count: count * width)
            var raw = [Double](repeating: .nan, count: count * columns)
            for index in 0..<count {
                try request.read(index, into: model, row: &rows, at: index * width, raw: &raw, rawAt: index * columns)
            }
            var outputs = [PredictionOutput?](repeating: nil, count: count)
            var keys: [PredictionCache.Key] = []
            var hits = 0
            let useCache = request.cache && !request.explain
            if useCache {
                for index in 0..<count {
                    let key = PredictionCache.Key(
                        modelId: model.modelId, version: model.version.version, input: try request.instance(index).bytes)
                    keys.append(key)
                    if let hit = cache.get(key) {
                        outputs[index] = hit
                        hits += 1
                    }
                }
            }
            if hits < count {
                let misses = outputs.indices.filter { outputs[$0] == nil }
                var matrix = rows
                if misses.count < count {
                    matrix = []
                    matrix.reserveCapacity(misses.count * width)
                    for index in misses { matrix += rows[index * width..<(index + 1) * width] }
                }
                for (index, output) in zip(misses, try model.outputs(rows: matrix, count: misses.count)) {
                    outputs[index] = output
                    if useCache { cache.put(keys[index], output) }
                }
            }
            let results = outputs.map { $0! }
            let explanations = request.explain ? try model.explain(rows: rows, count: count, outputs: results) : nil
            let (firstId, ids) = monitor.makeIds(count)
            let latency = (ContinuousClock.now - started) / .milliseconds(1)
            monitor.record(
                model, firstId: firstId, outputs: results, raw: raw, latency: latency, cacheHits: useCache ? hits : 0,
                cacheMisses: useCache ? count - hits : 0)
            if let shadow = routing.shadow { runShadow(shadow, request) }
            return Self.response(
                model: model, routing: routing, variant: route.name, ids: ids, outputs: results,
                explanations: explanations, latency: latency)
        } catch let error as NeuroplexError {
            monitor.recordFailure(
                modelId: model.modelId, version: model.version.version,
                rejected: error.kind == .invalidInput || error.kind == .badRequest)
            throw error
        } catch {
            monitor.recordFailure(modelId: model.modelId, version: model.version.version, rejected: false)
            throw error
        }
    }

    /// Predicts a copy of the request with the shadow version, off the request's path; at most 32 at a time
    /// (more are skipped: a shadow must never slow the served traffic).
    private func runShadow(_ shadow: ServedModel, _ request: PredictRequest) {
        guard shadowsInFlightAdd() else { return }
        let monitor = monitor
        Task.detached(priority: .low) { [self] in
            defer { shadowsInFlightDone() }
            let count = request.count
            var rows = [Double](repeating: 0, count: count * shadow.width)
            var raw = [Double](repeating: .nan, count: count * shadow.inputs.count)
            do {
                for index in 0..<count {
                    try request.read(index, into: shadow, row: &rows, at: index * shadow.width, raw: &raw, rawAt: index * shadow.inputs.count)
                }
                let outputs = try shadow.outputs(rows: rows, count: count)
                monitor.record(shadow, firstId: 0, outputs: outputs, raw: raw, latency: 0, cacheHits: 0, cacheMisses: 0, shadow: true)
            } catch {
                monitor.recordFailure(modelId: shadow.modelId, version: shadow.version.version, rejected: true)
            }
        }
    }

    /// The response body, written straight to bytes (keys in sorted order, as ``JSONValue`` writes them).
    static func response(
        model: ServedModel, routing: Routing, variant: String, ids: [String], outputs: [PredictionOutput],
        explanations: [Explanation]?, latency: Double
    ) -> [UInt8] {
        let classes = model.classes
        var out: [UInt8] = []
        out.reserveCapacity(160 + outputs.count * (96 + (classes?.count ?? 0) * 32))
        func key(_ name: StaticString) {
            name.withUTF8Buffer { out += $0 }
        }
        func number(_ value: Double) { JSONValue.double(value).write(into: &out) }
        key(#"{"latencyMs":"#)
        number((latency * 1000).rounded() / 1000)
        key(#","model":"#)
        JSONValue.writeString(routing.name, into: &out)
        key(#","modelId":"#)
        JSONValue.writeString(model.modelId, into: &out)
        key(#","predictions":["#)
        for (index, output) in outputs.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "{"))
            var first = true
            func field(_ name: StaticString) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                key(name)
            }
            if let score = output.anomalyScore {
                field(#""anomalyScore":"#)
                number(score)
            }
            if let confidence = output.confidence {
                field(#""confidence":"#)
                number(confidence)
            }
            if let explanation = explanations?[index] {
                field(#""explanation":{"bias":"#)
                number(explanation.bias)
                key(#","contributions":{"#)
                for (k, item) in explanation.contributions.sorted(by: { $0.name < $1.name }).enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    JSONValue.writeString(item.name, into: &out)
                    out.append(UInt8(ascii: ":"))
                    number(item.value)
                }
                out.append(UInt8(ascii: "}"))
                if let outcome = explanation.outcome {
                    key(#","outcome":"#)
                    JSONValue.writeString(outcome, into: &out)
                }
                out.append(UInt8(ascii: "}"))
            }
            field(#""id":"#)
            JSONValue.writeString(ids[index], into: &out)
            if let label = output.label {
                field(#""label":"#)
                JSONValue.writeString(label, into: &out)
            }
            if let probabilities = output.probabilities, let classes {
                field(#""probabilities":{"#)
                let named = zip(classes, probabilities).sorted { $0.0 < $1.0 }
                for (k, (name, p)) in named.enumerated() {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    JSONValue.writeString(name, into: &out)
                    out.append(UInt8(ascii: ":"))
                    number(p)
                }
                out.append(UInt8(ascii: "}"))
            }
            if let value = output.value {
                field(#""value":"#)
                number(value)
            }
            out.append(UInt8(ascii: "}"))
        }
        key(#"],"variant":"#)
        JSONValue.writeString(variant, into: &out)
        key(#","version":"#)
        JSONValue.int(Int64(model.version.version)).write(into: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    // MARK: Feedback

    /// Records the true outcome of a prediction.
    /// - Throws: 404 `unknown_prediction`; 422 `unknown_class` for a class the model does not know.
    public func feedback(predictionId: String, actual: JSONValue) async throws -> JSONValue {
        guard let record = monitor.prediction(predictionId) else {
            throw NeuroplexError(
                .notFound, code: "unknown_prediction",
                "prediction '\(predictionId)' is unknown: feedback names a prediction id answered by /ml/predict on this server since it started (the latest \(monitor.remembered) are remembered)",
                field: "predictionId")
        }
        let text: String
        switch actual {
        case .string(let value): text = value
        case .int(let value): text = String(value)
        case .double(let value): text = String(value)
        case .bool(let value): text = value ? "true" : "false"
        default:
            throw NeuroplexError.invalid("actual", "actual is the true class (a string) or value (a number)", kind: .badRequest)
        }
        let served = routing(record.modelId).flatMap { routing in
            routing.routes.first { $0.model.version.version == record.version }?.model
        }
        var actualText = text
        if let classes = served?.classes {
            guard classes.contains(text) else {
                throw NeuroplexError(
                    .invalidInput, code: "unknown_class",
                    "'\(text)' is not a class of the model; its classes are \(classes.joined(separator: ", "))",
                    field: "actual")
            }
        } else if case .string = actual, Double(text) == nil, served?.version.task == .regression {
            throw NeuroplexError.invalid("actual", "actual is the true value, a number", kind: .invalidInput)
        } else if let number = actual.numberValue {
            actualText = String(number)
        }
        let now = clock.now()
        let at = Timestamp.string(now)
        let stored = actualText
        try await database.transaction { sql in
            try await sql.delete(from: "ml_feedback").where("prediction_id", .equal, predictionId).run()
            try await sql.insert(into: "ml_feedback")
                .columns("prediction_id", "model_id", "version", "predicted", "actual", "created_at")
                .values(SQLBind(predictionId), SQLBind(record.modelId), SQLBind(record.version), SQLBind(record.predicted),
                        SQLBind(stored), SQLBind(at)).run()
        }
        monitor.recordFeedback(record, actual: actualText, at: now)
        return .object([
            "predictionId": .string(predictionId), "modelId": .string(record.modelId),
            "version": .int(Int64(record.version)), "predicted": .string(record.predicted), "actual": .string(actualText),
            "correct": .bool(record.predicted == actualText),
        ])
    }
}

extension ModelServing {
    /// Records the true outcome of a prediction made outside `/ml/predict` (Sentinel scoring a capture's flows): an
    /// analyst's verdict on an alert becomes feedback on the version that raised it, for live accuracy and the
    /// retraining triggers. `reference` is the alert's `id`, kept as the feedback's prediction id (a later verdict on
    /// it replaces the earlier one).
    /// - Throws: 404 when the model does not exist; 422 `unknown_class` for a class it does not know.
    public func recordOutcome(model: String, version: Int, predicted: String, actual: String, reference: String) async throws {
        var found = try? await registry.get(id: model)
        if found == nil { found = try? await registry.find(name: model) }
        guard let found else { throw NeuroplexError.notFound("model", id: model) }
        let record = ServingMonitor.PredictionRecord(modelId: found.id, version: version, predicted: predicted)
        let now = clock.now()
        let at = Timestamp.string(now)
        try await database.transaction { sql in
            try await sql.delete(from: "ml_feedback").where("prediction_id", .equal, reference).run()
            try await sql.insert(into: "ml_feedback")
                .columns("prediction_id", "model_id", "version", "predicted", "actual", "created_at")
                .values(SQLBind(reference), SQLBind(found.id), SQLBind(version), SQLBind(predicted), SQLBind(actual), SQLBind(at))
                .run()
        }
        monitor.recordFeedback(record, actual: actual, at: now)
    }

    /// The classes of the version of `model` that serves now, if it is deployed.
    public func classes(model: String) -> [String]? {
        served().first { $0.name == model || $0.modelId == model }?.models.first?.classes
    }
}
