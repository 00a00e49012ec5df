import Foundation
import HTTPTypes
import Hummingbird
import NeuroplexCore
import NeuroplexGateway
import NeuroplexML

/// Model serving (`/ml/predict`, deploy, retire, feedback, metrics, drift, experiments), the Open Inference
/// Protocol (`/v2/...`) and seed 004's model paths (`/api/v2/...`) as hand-written routes (see ``RouterTransport``).
/// Their contract (paths, scopes, errors) is declared in openapi.yaml like any other.
struct MLServingRoutes {
    let serving: ModelServing
    let training: MLTraining
    let keys: KeyStore

    var registry: ModelRegistry { training.registry }

    var routes: [String: FastRoute] {
        [
            OpenAPIDocument.route("POST", "/ml/models/{id}/deploy"): FastRoute { request, context, _ in
                let body = try await MLTrainingRoutes.body(DeployRequest.self, request, context)
                return try Self.json(try await serving.deploy(modelId: try context.parameters.require("id"), body))
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/retire"): FastRoute { _, context, _ in
                try Self.json(try await serving.retire(modelId: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/deployment"): FastRoute { _, context, _ in
                let id = try context.parameters.require("id")
                _ = try await registry.get(id: id)
                guard let deployment = serving.deployment(modelId: id) else {
                    throw NeuroplexError.notFound("deployment", id: id)
                }
                return try Self.json(deployment)
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/drift"): FastRoute { request, context, _ in
                Self.json(try await serving.drift(modelId: try context.parameters.require("id"), version: try Self.version(request)))
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/importance"): FastRoute { request, context, _ in
                Self.json(
                    try await serving.importance(modelId: try context.parameters.require("id"), version: try Self.version(request)))
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/triggers"): FastRoute { request, context, _ in
                var request = request
                let buffer = try await request.collectBody(upTo: context.maxUploadSize)
                try Self.checkJSON(request)
                let trigger = try await serving.createTrigger(
                    modelId: try context.parameters.require("id"), body: Array(buffer.readableBytesView))
                return try FastRoute.json(trigger, status: .created)
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/triggers"): FastRoute { _, context, _ in
                let triggers = try await serving.triggers(modelId: try context.parameters.require("id"))
                return try FastRoute.json(MLTrainingRoutes.Listing(data: triggers, nextCursor: nil))
            },
            OpenAPIDocument.route("DELETE", "/ml/models/{id}/triggers/{triggerId}"): FastRoute { _, context, _ in
                try await serving.deleteTrigger(
                    modelId: try context.parameters.require("id"), id: try context.parameters.require("triggerId"))
                return Response(status: .noContent, headers: [:])
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/triggers/{triggerId}/fire"): FastRoute { _, context, _ in
                let trigger = try await serving.fire(
                    modelId: try context.parameters.require("id"), id: try context.parameters.require("triggerId"))
                return try FastRoute.json(trigger, status: .accepted)
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/experiments"): FastRoute { _, context, _ in
                Self.json(try await serving.experiments(modelId: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("POST", "/ml/predict"): FastRoute { request, context, _ in
                var predict = try await Self.predictRequest(request, context)
                if predict.version == nil, let alias = predict.alias {
                    predict.version = try await serving.resolveAlias(model: predict.model, alias: alias)
                }
                do {
                    return Self.json(bytes: try serving.predict(predict))
                } catch let missing as ModelNotServing {
                    throw await serving.notServing(missing.reference)
                }
            },
            OpenAPIDocument.route("POST", "/ml/predict/batch"): FastRoute { request, context, _ in
                let body = try await Self.document(request, context)
                guard case .string(let model)? = body["model"] else {
                    throw NeuroplexError.invalid("model", "model (id or name) is required", kind: .badRequest)
                }
                guard case .string(let datasetId)? = body["datasetId"] else {
                    throw NeuroplexError.invalid("datasetId", "datasetId (the rows to predict) is required", kind: .badRequest)
                }
                var version: Int?
                switch body["version"] {
                case nil, .null?: break
                case .int(let number)?: version = Int(number)
                default: throw NeuroplexError.invalid("version", "version is a number", kind: .badRequest)
                }
                let job = try await serving.submitBatch(model: model, datasetId: datasetId, version: version)
                return try FastRoute.json(MLTrainingRoutes.JobAccepted(jobId: job.id, job: job), status: .accepted)
            },
            OpenAPIDocument.route("GET", "/ml/datasets/{id}/download"): FastRoute { _, context, _ in
                let id = try context.parameters.require("id")
                let dataset = try await training.datasets.get(id: id)
                let url = try await training.datasets.fileURL(id: id)
                let extensionName = dataset.format == .csv ? "csv" : "ndjson"
                let safeName = String(dataset.name.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" ? $0 : "_" })
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: dataset.format == .csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
                        .contentDisposition: "attachment; filename=\"\(safeName).\(extensionName)\"",
                    ],
                    body: ResponseBody { writer in
                        let handle = try FileHandle(forReadingFrom: url)
                        defer { try? handle.close() }
                        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty {
                            try await writer.write(ByteBuffer(bytes: data))
                        }
                        try await writer.finish(nil)
                    })
            },
            OpenAPIDocument.route("POST", "/ml/feedback"): FastRoute { request, context, _ in
                let body = try await Self.document(request, context)
                guard case .string(let id)? = body["predictionId"] ?? body["id"] else {
                    throw NeuroplexError.invalid("predictionId", "predictionId (from /ml/predict) is required", kind: .badRequest)
                }
                guard let actual = body["actual"], actual != .null else {
                    throw NeuroplexError.invalid("actual", "actual (the true class or value) is required", kind: .badRequest)
                }
                return Self.json(try await serving.feedback(predictionId: id, actual: actual))
            },
            OpenAPIDocument.route("GET", "/ml/events"): MLEventStream(
                events: training.events, registry: registry, keys: keys
            ).route,
            OpenAPIDocument.route("GET", "/ml/metrics"): FastRoute { request, _, _ in
                Self.json(try await serving.metrics(model: request.uri.queryParameters.get("model")))
            },
            // Open Inference Protocol
            OpenAPIDocument.route("GET", "/v2/health/live"): FastRoute { _, _, _ in
                Self.json(.object(["live": .bool(true)]))
            },
            OpenAPIDocument.route("GET", "/v2/health/ready"): FastRoute { _, _, _ in
                let ready = (try? await registry.list(try PageRequest(limit: 1, cursor: nil))) != nil
                return Self.json(.object(["ready": .bool(ready)]), status: ready ? .ok : .serviceUnavailable)
            },
            OpenAPIDocument.route("GET", "/v2"): FastRoute { _, _, _ in
                Self.json(.object([
                    "name": .string("neuroplex"), "version": .string(NeuroplexVersion.current),
                    "extensions": .array([.string("model_repository")]),
                ]))
            },
            OpenAPIDocument.route("GET", "/v2/models/{name}"): FastRoute { _, context, _ in
                try await Self.oip { try await metadata(try context.parameters.require("name"), version: nil) }
            },
            OpenAPIDocument.route("GET", "/v2/models/{name}/versions/{version}"): FastRoute { _, context, _ in
                try await Self.oip {
                    try await metadata(try context.parameters.require("name"), version: try context.parameters.require("version"))
                }
            },
            OpenAPIDocument.route("GET", "/v2/models/{name}/ready"): FastRoute { _, context, _ in
                try await Self.oip { try await ready(try context.parameters.require("name"), version: nil) }
            },
            OpenAPIDocument.route("GET", "/v2/models/{name}/versions/{version}/ready"): FastRoute { _, context, _ in
                try await Self.oip {
                    try await ready(try context.parameters.require("name"), version: try context.parameters.require("version"))
                }
            },
            OpenAPIDocument.route("POST", "/v2/models/{name}/infer"): FastRoute { request, context, _ in
                try await Self.oip { try await infer(request, context, name: try context.parameters.require("name"), version: nil) }
            },
            OpenAPIDocument.route("POST", "/v2/models/{name}/versions/{version}/infer"): FastRoute { request, context, _ in
                try await Self.oip {
                    try await infer(
                        request, context, name: try context.parameters.require("name"),
                        version: try context.parameters.require("version"))
                }
            },
            OpenAPIDocument.route("POST", "/v2/repository/index"): FastRoute { _, _, _ in
                try await Self.oip {
                    var entries: [JSONValue] = []
                    var cursor: String?
                    repeat {
                        let page = try await registry.list(try PageRequest(limit: 500, cursor: cursor))
                        for model in page.items {
                            let deployment = serving.deployment(modelId: model.id)
                            let live = deployment?.status == .deployed
                            var entry: [String: JSONValue] = ["name": .string(model.name), "state": .string(live ? "READY" : "UNAVAILABLE")]
                            if let deployment, live { entry["version"] = .string(String(deployment.primaryVersion)) }
                            if !live { entry["reason"] = .string(deployment == nil ? "not deployed" : "retired") }
                            entries.append(.object(entry))
                        }
                        cursor = page.nextCursor
                    } while cursor != nil
                    return .array(entries)
                }
            },
            OpenAPIDocument.route("POST", "/v2/repository/models/{name}/load"): FastRoute { _, context, _ in
                try await Self.oip {
                    let model = try await model(try context.parameters.require("name"))
                    if serving.deployment(modelId: model.id)?.status != .deployed {
                        _ = try await serving.deploy(modelId: model.id, DeployRequest())
                    }
                    return .object([:])
                }
            },
            OpenAPIDocument.route("POST", "/v2/repository/models/{name}/unload"): FastRoute { _, context, _ in
                try await Self.oip {
                    let model = try await model(try context.parameters.require("name"))
                    if serving.deployment(modelId: model.id)?.status == .deployed {
                        _ = try await serving.retire(modelId: model.id)
                    }
                    return .object([:])
                }
            },
            // Seed 004's model management
            OpenAPIDocument.route("GET", "/api/v2/model-health"): FastRoute { _, _, _ in
                Self.json(try await modelHealth())
            },
            OpenAPIDocument.route("GET", "/api/v2/model-info"): FastRoute { _, _, _ in
                Self.json(try await modelInfo())
            },
            OpenAPIDocument.route("POST", "/api/v2/update-models"): FastRoute { request, context, _ in
                Self.json(try await updateModels(try await Self.document(request, context)))
            },
        ]
    }

    // MARK: Open Inference Protocol

    /// A model by id or name.
    private func model(_ reference: String) async throws -> MLModel {
        if let model = try? await registry.get(id: reference) { return model }
        if let model = try await registry.find(name: reference) { return model }
        throw NeuroplexError.notFound("model", id: reference)
    }

    /// The served version `version` (default: the deployed one) of a model.
    private func served(_ name: String, version: String?) async throws -> ServedModel {
        let model = try await model(name)
        guard let entry = serving.served().first(where: { $0.modelId == model.id }) else {
            throw await serving.notServing(model.id)
        }
        let number = try version.map { text -> Int in
            guard let number = Int(text) else { throw NeuroplexError.invalid("version", "version is a number", kind: .badRequest) }
            return number
        } ?? entry.deployment.primaryVersion
        guard let served = entry.models.first(where: { $0.version.version == number }) else {
            throw NeuroplexError(.conflict, code: "version_not_deployed", "version \(number) of '\(model.name)' is not deployed")
        }
        return served
    }

    private func metadata(_ name: String, version: String?) async throws -> JSONValue {
        let served = try await served(name, version: version)
        let entry = serving.served().first { $0.modelId == served.modelId }
        let versions = Set(entry?.models.map { $0.version.version } ?? [served.version.version]).sorted()
        let inputs: [JSONValue] = served.inputs.map { column in
            .object([
                "name": .string(column.name), "datatype": .string(column.kind == .numeric ? "FP64" : "BYTES"),
                "shape": .array([.int(-1)]),
            ])
        }
        var outputs: [JSONValue] = []
        switch served.version.task {
        case .classification:
            outputs = [
                .object(["name": "label", "datatype": "BYTES", "shape": .array([.int(-1)])]),
                .object([
                    "name": "probabilities", "datatype": "FP64",
                    "shape": .array([.int(-1), .int(Int64(served.classes?.count ?? 2))]),
                ]),
            ]
        case .regression:
            outputs = [.object(["name": "value", "datatype": "FP64", "shape": .array([.int(-1)])])]
        case .anomaly:
            outputs = [.object(["name": "anomalyScore", "datatype": "FP64", "shape": .array([.int(-1)])])]
        }
        var parameters: [String: JSONValue] = ["task": .string(served.version.task.rawValue)]
        if let classes = served.classes { parameters["classes"] = .array(classes.map { .string($0) }) }
        return .object([
            "name": .string(served.modelName), "versions": .array(versions.map { .string(String($0)) }),
            "platform": .string("neuroplex_\(served.version.algorithm)"), "inputs": .array(inputs),
            "outputs": .array(outputs), "parameters": .object(parameters),
        ])
    }

    private func ready(_ name: String, version: String?) async throws -> JSONValue {
        let served = try await served(name, version: version)
        return .object(["name": .string(served.modelName), "ready": .bool(true)])
    }

    private func infer(_ request: Request, _ context: NeuroplexRequestContext, name: String, version: String?) async throws -> JSONValue {
        let served = try await served(name, version: version)
        let body = try await Self.inferenceBody(request, context)
        guard case .array(let tensors)? = body["inputs"], !tensors.isEmpty else {
            throw NeuroplexError.invalid("inputs", "inputs is a non-empty array of tensors {name, shape, datatype, data}", kind: .badRequest)
        }
        let names = Set(served.inputs.map(\.name))
        var instances: [JSONValue] = []
        if tensors.count == 1, case .string(let tensorName)? = tensors[0]["name"], !names.contains(tensorName) || names.count == 1,
            let shape = Self.shape(tensors[0]), shape.count == 2
        {
            // One tensor of shape [rows, features]: each row's values in the version's column order.
            let data = Self.flatten(tensors[0]["data"] ?? .null)
            guard shape[1] == served.inputs.count, data.count == shape[0] * shape[1] else {
                throw NeuroplexError.invalid(
                    "inputs", "a single input tensor has shape [rows, \(served.inputs.count)] and rows × \(served.inputs.count) values",
                    kind: .badRequest)
            }
            for row in 0..<shape[0] { instances.append(.array(Array(data[row * shape[1]..<(row + 1) * shape[1]]))) }
        } else {
            var columns: [(String, [JSONValue])] = []
            var rows: Int?
            for tensor in tensors {
                guard case .string(let tensorName)? = tensor["name"] else {
                    throw NeuroplexError.invalid("inputs", "each input tensor has a name", kind: .badRequest)
                }
                let data = Self.flatten(tensor["data"] ?? .null)
                if let shape = Self.shape(tensor), shape.reduce(1, *) != data.count {
                    throw NeuroplexError.invalid(
                        "inputs", "input '\(tensorName)' has shape \(shape) but \(data.count) values", kind: .badRequest)
                }
                if let rows, rows != data.count {
                    throw NeuroplexError.invalid("inputs", "every input has the same number of values, one per row", kind: .badRequest)
                }
                rows = data.count
                columns.append((tensorName, data))
            }
            for row in 0..<(rows ?? 0) {
                var fields: [String: JSONValue] = [:]
                for (tensorName, data) in columns { fields[tensorName] = data[row] }
                instances.append(.object(fields))
            }
        }
        var predict = PredictRequest(model: served.modelId, instances: instances)
        predict.version = served.version.version
        if case .object(let parameters)? = body["parameters"], parameters["allowMissing"] == .bool(true) {
            predict.allowMissing = true
        }
        let answer: JSONValue
        do {
            answer = try JSONValue.parse(try serving.predict(predict))
        } catch let missing as ModelNotServing {
            throw await serving.notServing(missing.reference)
        }
        guard case .array(let predictions)? = answer["predictions"] else { return .object([:]) }
        var outputs: [JSONValue] = []
        let count = Int64(predictions.count)
        switch served.version.task {
        case .classification:
            let classes = served.classes ?? []
            outputs.append(.object([
                "name": "label", "datatype": "BYTES", "shape": .array([.int(count)]),
                "data": .array(predictions.map { $0["label"] ?? .null }),
            ]))
            var probabilities: [JSONValue] = []
            for prediction in predictions {
                for name in classes { probabilities.append(prediction["probabilities"]?[name] ?? .double(0)) }
            }
            outputs.append(.object([
                "name": "probabilities", "datatype": "FP64", "shape": .array([.int(count), .int(Int64(classes.count))]),
                "data": .array(probabilities),
            ]))
        case .regression:
            outputs.append(.object([
                "name": "value", "datatype": "FP64", "shape": .array([.int(count)]),
                "data": .array(predictions.map { $0["value"] ?? .null }),
            ]))
        case .anomaly:
            outputs.append(.object([
                "name": "anomalyScore", "datatype": "FP64", "shape": .array([.int(count)]),
                "data": .array(predictions.map { $0["anomalyScore"] ?? .null }),
            ]))
        }
        if case .array(let wanted)? = body["outputs"] {
            let names = Set(wanted.compactMap { output -> String? in
                if case .string(let name)? = output["name"] { return name }
                return nil
            })
            if !names.isEmpty { outputs = outputs.filter { output in names.contains { output["name"] == .string($0) } } }
        }
        var response: [String: JSONValue] = [
            "model_name": .string(served.modelName), "model_version": .string(String(served.version.version)),
            "outputs": .array(outputs),
            "parameters": .object(["predictionIds": .array(predictions.map { $0["id"] ?? .null })]),
        ]
        if let id = body["id"] { response["id"] = id }
        return .object(response)
    }

    /// The JSON of an inference request. With the binary tensor extension (`Inference-Header-Content-Length`),
    /// the JSON header comes first and each input's `binary_data_size` bytes follow in order; they are read into
    /// the input's `data` (FP64, FP32, INT32, INT64, BOOL little-endian; BYTES as 4-byte lengths and bytes).
    static func inferenceBody(_ request: Request, _ context: NeuroplexRequestContext) async throws -> JSONValue {
        guard let header = request.headers[HTTPField.Name("Inference-Header-Content-Length")!] else {
            return try await document(request, context)
        }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        guard let length = Int(header), length >= 0, length <= bytes.count else {
            throw NeuroplexError.invalid("Inference-Header-Content-Length", "the JSON header's length is not within the body", kind: .badRequest)
        }
        guard case .object(var fields)? = try? JSONValue.parse(bytes[0..<length]),
            case .array(var inputs)? = fields["inputs"]
        else {
            throw NeuroplexError(.badRequest, code: .invalidJSON, "the inference header is not a JSON object with inputs")
        }
        var offset = length
        for (index, input) in inputs.enumerated() {
            guard case .object(var tensor) = input, let size = tensor["parameters"]?["binary_data_size"]?.numberValue else {
                continue
            }
            let count = Int(size)
            guard count >= 0, offset + count <= bytes.count else {
                throw NeuroplexError.invalid("inputs", "binary data runs past the end of the body", kind: .badRequest)
            }
            let data = bytes[offset..<offset + count]
            offset += count
            guard case .string(let type)? = tensor["datatype"] else {
                throw NeuroplexError.invalid("inputs", "each input names its datatype", kind: .badRequest)
            }
            tensor["data"] = .array(try decodeTensor(data, type: type))
            inputs[index] = .object(tensor)
        }
        fields["inputs"] = .array(inputs)
        return .object(fields)
    }

    static func decodeTensor(_ data: ArraySlice<UInt8>, type: String) throws -> [JSONValue] {
        func numbers<T>(_ width: Int, _ make: (UInt64) -> T, _ value: (T) -> JSONValue) throws -> [JSONValue] {
            guard data.count % width == 0 else {
                throw NeuroplexError.invalid("inputs", "\(type) data is a whole number of \(width)-byte values", kind: .badRequest)
            }
            return stride(from: data.startIndex, to: data.endIndex, by: width).map { start in
                var bits: UInt64 = 0
                for k in 0..<width { bits |= UInt64(data[start + k]) << (8 * k) }
                return value(make(bits))
            }
        }
        switch type {
        case "FP64": return try numbers(8, { Double(bitPattern: $0) }) { .double($0) }
        case "FP32": return try numbers(4, { Float(bitPattern: UInt32($0)) }) { .double(Double($0)) }
        case "INT64": return try numbers(8, { Int64(bitPattern: $0) }) { .int($0) }
        case "INT32": return try numbers(4, { Int32(bitPattern: UInt32($0)) }) { .int(Int64($0)) }
        case "BOOL": return try numbers(1, { $0 != 0 }) { .bool($0) }
        case "BYTES":
            var values: [JSONValue] = []
            var index = data.startIndex
            while index < data.endIndex {
                guard index + 4 <= data.endIndex else {
                    throw NeuroplexError.invalid("inputs", "BYTES data is cut short", kind: .badRequest)
                }
                let length = (0..<4).reduce(0) { $0 | Int(data[index + $1]) << (8 * $1) }
                index += 4
                guard index + length <= data.endIndex else {
                    throw NeuroplexError.invalid("inputs", "BYTES data is cut short", kind: .badRequest)
                }
                values.append(.string(String(decoding: data[index..<index + length], as: UTF8.self)))
                index += length
            }
            return values
        default:
            throw NeuroplexError.invalid("inputs", "datatype \(type) is not supported; use FP64, FP32, INT64, INT32, BOOL or BYTES", kind: .badRequest)
        }
    }

    static func shape(_ tensor: JSONValue) -> [Int]? {
        guard case .array(let values)? = tensor["shape"] else { return nil }
        let numbers = values.compactMap { $0.numberValue.map { Int($0) } }
        return numbers.count == values.count ? numbers : nil
    }

    static func flatten(_ data: JSONValue) -> [JSONValue] {
        guard case .array(let values) = data else { return data == .null ? [] : [data] }
        return values.flatMap { value -> [JSONValue] in
            if case .array = value { return flatten(value) }
            return [value]
        }
    }

    /// Runs an Open Inference Protocol handler: errors are `{"error": message}` (with the problem's code) and its
    /// 4xx status, as the protocol's clients expect.
    static func oip(_ body: () async throws -> JSONValue) async throws -> Response {
        do {
            return json(try await body())
        } catch let error as NeuroplexError where error.kind != .internal {
            let document: JSONValue = .object(["error": .string(error.message), "code": .string(error.code.rawValue)])
            return json(document, status: Problem.status(of: error.kind))
        }
    }

    // MARK: Seed 004

    private func modelHealth() async throws -> JSONValue {
        let now = Timestamp.string(Date())
        let metrics = try await serving.metrics(model: nil)
        var entries: [JSONValue] = []
        for entry in serving.served() {
            let figures: [JSONValue] = {
                guard case .array(let models)? = metrics["models"] else { return [] }
                return models.filter { $0["modelId"] == .string(entry.modelId) }
            }()
            for model in entry.models {
                let version = figures.first.flatMap { figure -> JSONValue? in
                    guard case .array(let versions)? = figure["versions"] else { return nil }
                    return versions.first { $0["version"] == .int(Int64(model.version.version)) }
                }
                let variant = entry.deployment.variants.first { $0.version == model.version.version }?.name ?? "shadow"
                entries.append(.object([
                    "name": .string(entry.name), "modelId": .string(entry.modelId),
                    "version": .int(Int64(model.version.version)), "variant": .string(variant),
                    "loaded": .bool(true), "warm": .bool(true), "evaluator": .string(model.evaluatorName), "healthy": .bool((version?["errorRate"]?.numberValue ?? 0) < 0.05),
                    "requests": version?["requests"] ?? .int(0), "errorRate": version?["errorRate"] ?? .double(0),
                    "latencyMs": version?["latencyMs"] ?? .null, "memoryBytes": .int(Int64(model.memoryBytes)),
                    "lastCheck": .string(now),
                ]))
            }
        }
        let healthy = entries.allSatisfy { $0["healthy"] == .bool(true) }
        return .object(["status": .string(healthy ? "healthy" : "degraded"), "models": .array(entries)])
    }

    private func modelInfo() async throws -> JSONValue {
        var entries: [JSONValue] = []
        var cursor: String?
        repeat {
            let page = try await registry.list(try PageRequest(limit: 200, cursor: cursor))
            for model in page.items {
                let deployment = serving.deployment(modelId: model.id)
                var versions: [JSONValue] = []
                var versionCursor: String?
                repeat {
                    let versionPage = try await registry.versions(modelId: model.id, page: try PageRequest(limit: 500, cursor: versionCursor))
                    for version in versionPage.items {
                        versions.append(.object([
                            "version": .int(Int64(version.version)), "createdAt": .string(Timestamp.string(version.createdAt)),
                            "metrics": .object(version.metrics.mapValues { .double($0) }),
                            "validation": version.validation ?? .null,
                        ]))
                    }
                    versionCursor = versionPage.nextCursor
                } while versionCursor != nil
                let live = deployment?.status == .deployed
                entries.append(.object([
                    "name": .string(model.name), "modelId": .string(model.id), "algorithm": .string(model.algorithm),
                    "task": .string(model.task.rawValue),
                    "status": .string(deployment?.status.rawValue ?? "not_deployed"),
                    "deployedVersion": live ? .int(Int64(deployment!.primaryVersion)) : .null,
                    "versions": .array(versions),
                ]))
            }
            cursor = page.nextCursor
        } while cursor != nil
        return .object(["models": .array(entries)])
    }

    private func updateModels(_ body: JSONValue) async throws -> JSONValue {
        guard case .string(let reference)? = body["model"] else {
            throw NeuroplexError.invalid("model", "model (id or name) is required", kind: .badRequest)
        }
        let model = try await model(reference)
        var version: String?
        switch body["version"] {
        case nil, .null?: break
        case .int(let number)?: version = String(number)
        case .string(let text)?: version = text
        default: throw NeuroplexError.invalid("version", "version is a number or an alias", kind: .badRequest)
        }
        let target: MLModelVersion?
        if let version {
            target = try await registry.version(modelId: model.id, reference: version)
        } else {
            target = try await registry.latestVersion(modelId: model.id)
        }
        guard let target else {
            throw NeuroplexError(.conflict, code: "no_version", "model '\(model.name)' has no trained version")
        }
        var validation: JSONValue?
        if case .object(let minimum)? = body["minimum"], !minimum.isEmpty {
            var gates: [String: Double] = [:]
            for (name, value) in minimum {
                guard let number = value.numberValue else {
                    throw NeuroplexError.invalid("minimum.\(name)", "each minimum is a number", kind: .badRequest)
                }
                gates[name] = number
            }
            var datasetId: String?
            if case .string(let id)? = body["datasetId"] { datasetId = id }
            let result = try await training.validate(
                modelId: model.id, version: String(target.version), datasetId: datasetId, minimum: gates)
            if result["passed"] == .bool(false) {
                let failures = (result["failures"].map { "\($0)" }) ?? ""
                throw NeuroplexError(
                    .invalidInput, code: "validation_gate_failed",
                    "version \(target.version) failed its validation gates (\(failures)); the deployed version keeps serving")
            }
            validation = result
        }
        let previous = serving.deployment(modelId: model.id).flatMap { $0.status == .deployed ? $0.primaryVersion : nil }
        _ = try await serving.deploy(modelId: model.id, DeployRequest(version: String(target.version)))
        return .object([
            "model": .string(model.name), "modelId": .string(model.id),
            "previousVersion": previous.map { .int(Int64($0)) } ?? .null, "version": .int(Int64(target.version)),
            "validation": validation ?? .null,
        ])
    }

    // MARK: Bodies

    /// `?version=`, a number, if given.
    static func version(_ request: Request) throws -> Int? {
        guard let text = request.uri.queryParameters.get("version") else { return nil }
        guard let number = Int(text) else { throw NeuroplexError.invalid("version", "version is a number", kind: .badRequest) }
        return number
    }

    static func predictRequest(_ request: Request, _ context: NeuroplexRequestContext) async throws -> PredictRequest {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        try checkJSON(request)
        return try PredictRequest(parsing: buffer.readableBytesView)
    }

    /// The JSON object of the body; an empty body is `{}`.
    static func document(_ request: Request, _ context: NeuroplexRequestContext) async throws -> JSONValue {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let bytes = buffer.readableBytesView
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return .object([:]) }
        try checkJSON(request)
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw NeuroplexError(.badRequest, code: .invalidJSON, "the body is not valid JSON: \(error)")
        }
        guard case .object = value else {
            throw NeuroplexError.invalid("", "the body is a JSON object", kind: .badRequest)
        }
        return value
    }

    static func checkJSON(_ request: Request) throws {
        if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, "send the body as application/json")
        }
    }

    static func json(_ value: some Encodable) throws -> Response { try FastRoute.json(value) }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        json(bytes: value.bytes, status: status)
    }

    static func json(bytes: [UInt8], status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
