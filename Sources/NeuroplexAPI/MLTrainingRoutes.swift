import Foundation
import Hummingbird
import NeuroplexCore
import NeuroplexML

/// The model registry, training jobs and validation (`/ml/models...`, `/ml/jobs...`) as hand-written routes (see
/// ``RouterTransport``): their bodies are the engine's own `Codable` values, so a generated translation would only
/// copy them field by field. The contract (paths, scopes, errors) is declared in openapi.yaml like any other.
struct MLTrainingRoutes {
    let training: MLTraining
    let serving: ModelServing

    var registry: ModelRegistry { training.registry }
    var jobs: MLJobs { training.jobs }

    var routes: [String: FastRoute] {
        [
            // Models
            OpenAPIDocument.route("GET", "/ml/models"): FastRoute { request, _, _ in
                let page = try await registry.list(try Self.page(request))
                return try FastRoute.json(Listing(data: page.items, nextCursor: page.nextCursor))
            },
            OpenAPIDocument.route("POST", "/ml/models"): FastRoute { request, context, _ in
                let draft = try await Self.body(MLModelDraft.self, request, context)
                return try FastRoute.json(try await registry.create(draft), status: .created)
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}"): FastRoute { _, context, _ in
                try FastRoute.json(try await registry.get(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("PUT", "/ml/models/{id}"): FastRoute { request, context, _ in
                let draft = try await Self.body(MLModelDraft.self, request, context)
                return try FastRoute.json(try await registry.update(id: try context.parameters.require("id"), draft))
            },
            OpenAPIDocument.route("DELETE", "/ml/models/{id}"): FastRoute { _, context, _ in
                try await registry.delete(id: try context.parameters.require("id"))
                return Response(status: .noContent, headers: [:])
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/train"): FastRoute { request, context, _ in
                let body = try await Self.body(TrainRequest.self, request, context)
                guard let datasetId = body.datasetId else {
                    throw NeuroplexError.invalid("datasetId", "datasetId is required", kind: .badRequest)
                }
                let job = try await training.submit(
                    modelId: try context.parameters.require("id"), datasetId: datasetId,
                    hyperparameters: body.hyperparameters, split: body.split, priority: body.priority)
                return try FastRoute.json(JobAccepted(jobId: job.id, job: job), status: .accepted)
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/status"): FastRoute { _, context, _ in
                let id = try context.parameters.require("id")
                _ = try await registry.get(id: id)
                let latest = try await registry.latestVersion(modelId: id)
                let active = try await jobs.activeJob(modelId: id)
                let last = try await jobs.latestJob(modelId: id)
                let deployment = serving.deployment(modelId: id)
                let deployed = deployment?.status == .deployed ? deployment?.primaryVersion : nil
                let status: String =
                    active != nil ? "training"
                    : deployed != nil ? "deployed"
                    : deployment?.status == .retired ? "retired"
                    : latest != nil ? "trained"
                    : last?.status == .failed ? "failed" : "registered"
                return try FastRoute.json(
                    ModelStatus(
                        status: status, latestVersion: latest?.version, deployedVersion: deployed, activeJob: active?.id,
                        lastError: latest == nil ? last?.error : nil))
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/validate"): FastRoute { request, context, _ in
                let body = try await Self.body(ValidateRequest.self, request, context)
                let result = try await training.validate(
                    modelId: try context.parameters.require("id"), version: body.version?.reference,
                    datasetId: body.datasetId, minimum: body.minimum)
                return try FastRoute.json(result)
            },
            OpenAPIDocument.route("POST", "/ml/models/{id}/import"): FastRoute { request, context, _ in
                let query = request.uri.queryParameters
                let features = (query.get("features") ?? "").split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
                let classes = query.get("classes").map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
                var request = request
                let body = try await request.collectBody(upTo: context.maxUploadSize)
                let version = try await training.importModel(
                    modelId: try context.parameters.require("id"), artifact: Array(body.readableBytesView),
                    features: features, classes: classes)
                return try FastRoute.json(version, status: .created)
            },
            // Versions and aliases
            OpenAPIDocument.route("GET", "/ml/models/{id}/versions"): FastRoute { request, context, _ in
                let page = try await registry.versions(modelId: try context.parameters.require("id"), page: try Self.page(request))
                return try FastRoute.json(Listing(data: page.items, nextCursor: page.nextCursor))
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/versions/{version}"): FastRoute { _, context, _ in
                try FastRoute.json(
                    try await registry.version(
                        modelId: try context.parameters.require("id"), reference: try context.parameters.require("version")))
            },
            OpenAPIDocument.route("GET", "/ml/models/{id}/versions/{version}/artifact"): FastRoute { _, context, _ in
                let version = try await registry.version(
                    modelId: try context.parameters.require("id"), reference: try context.parameters.require("version"))
                let data = try registry.artifact(of: version)
                return Response(
                    status: .ok,
                    headers: [
                        .contentType: version.artifact.mediaType,
                        .contentDisposition: "attachment; filename=\"\(version.modelId)-v\(version.version).\(version.artifact.mediaType == "application/json" ? "json" : "ubj")\"",
                    ],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
            },
            OpenAPIDocument.route("PUT", "/ml/models/{id}/aliases/{alias}"): FastRoute { request, context, _ in
                let body = try await Self.body(AliasRequest.self, request, context)
                guard let version = body.version else {
                    throw NeuroplexError.invalid("version", "version is required", kind: .badRequest)
                }
                let id = try context.parameters.require("id")
                try await registry.setAlias(modelId: id, alias: try context.parameters.require("alias"), version: version)
                return try FastRoute.json(Aliases(aliases: try await registry.aliases(modelId: id)))
            },
            // Jobs
            OpenAPIDocument.route("GET", "/ml/jobs"): FastRoute { request, _, _ in
                let query = request.uri.queryParameters
                var status: MLJob.Status?
                if let raw = query.get("status") {
                    guard let parsed = MLJob.Status(rawValue: raw) else {
                        throw NeuroplexError.invalid(
                            "status", "status must be one of \(MLJob.Status.allCases.map(\.rawValue).joined(separator: ", "))",
                            kind: .badRequest)
                    }
                    status = parsed
                }
                let page = try await jobs.list(status: status, modelId: query.get("model"), page: try Self.page(request))
                return try FastRoute.json(Listing(data: page.items, nextCursor: page.nextCursor))
            },
            OpenAPIDocument.route("GET", "/ml/jobs/{id}"): FastRoute { _, context, _ in
                try FastRoute.json(try await jobs.get(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("PATCH", "/ml/jobs/{id}"): FastRoute { request, context, _ in
                let body = try await Self.body(PriorityRequest.self, request, context)
                guard let priority = body.priority, (0...100).contains(priority) else {
                    throw NeuroplexError.invalid("priority", "priority must be a whole number 0–100", kind: .badRequest)
                }
                return try FastRoute.json(try await jobs.setPriority(id: try context.parameters.require("id"), priority))
            },
            OpenAPIDocument.route("POST", "/ml/jobs/{id}/cancel"): FastRoute { _, context, _ in
                try FastRoute.json(try await jobs.cancel(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("GET", "/ml/jobs/{id}/logs"): FastRoute { request, context, _ in
                let id = try context.parameters.require("id")
                guard request.uri.queryParameters.get("follow") == "true" else {
                    let lines = try await jobs.logs(id: id)
                    let text = lines.map { $0.line + "\n" }.joined()
                    return Response(
                        status: .ok, headers: [.contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: text)))
                }
                let generation = jobs.changed.generation
                let first = try await jobs.statusAndLogs(id: id)
                return follow(id: id, first: first, generation: generation)
            },
        ]
    }

    /// The log as Server-Sent Events: the lines so far, then new ones as they are written (at once when this node
    /// writes them, else checked four times a second), and an `end` event with the job's status once it finished.
    /// Each wake-up reads the job's status and its new lines in one statement (``MLJobs/statusAndLogs(id:after:)``).
    private func follow(
        id: String, first: (status: MLJob.Status, lines: [(seq: Int64, line: String)]), generation: UInt64
    ) -> Response {
        let jobs = jobs
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: ResponseBody { writer in
                var last: Int64 = -1
                var (status, pending) = first
                var generation = generation
                while true {
                    if let newest = pending.last { last = newest.seq }
                    if status.isFinished {
                        try await writer.write(
                            ByteBuffer(string: Self.frames(pending) + "event: end\ndata: \(status.rawValue)\n\n"))
                        break
                    }
                    if pending.isEmpty {
                        await jobs.changed.wait(after: generation, timeout: .milliseconds(250))
                        try Task.checkCancellation()
                    } else {
                        try await writer.write(ByteBuffer(string: Self.frames(pending)))
                    }
                    generation = jobs.changed.generation
                    (status, pending) = try await jobs.statusAndLogs(id: id, after: last)
                }
                try await writer.finish(nil)
            })
    }

    /// Log lines as Server-Sent Events, each with its `seq` as the event id.
    private static func frames(_ lines: [(seq: Int64, line: String)]) -> String {
        lines.map { "id: \($0.seq)\ndata: \($0.line.replacingOccurrences(of: "\n", with: " "))\n\n" }.joined()
    }

    // MARK: Bodies

    struct Listing<Item: Encodable & Sendable>: Encodable, Sendable {
        var data: [Item]
        var nextCursor: String?
    }

    struct TrainRequest: Decodable {
        var datasetId: String?
        var hyperparameters: [String: JSONValue]?
        var split: JSONValue?
        var priority: Int?
    }

    struct JobAccepted: Encodable {
        var jobId: String
        var job: MLJob
    }

    struct ModelStatus: Encodable {
        var status: String
        var latestVersion: Int?
        var deployedVersion: Int?
        var activeJob: String?
        var lastError: String?
    }

    /// A version given as a number or as an alias.
    struct VersionReference: Decodable {
        var reference: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let number = try? container.decode(Int.self) {
                reference = String(number)
            } else {
                reference = try container.decode(String.self)
            }
        }
    }

    struct ValidateRequest: Decodable {
        var version: VersionReference?
        var datasetId: String?
        var minimum: [String: Double]?
    }

    struct AliasRequest: Decodable {
        var version: Int?
    }

    struct Aliases: Encodable {
        var aliases: [String: Int]
    }

    struct PriorityRequest: Decodable {
        var priority: Int?
    }

    /// The JSON body decoded as `T`; an absent body is `{}`. 415 for another media type, 400 for bad JSON.
    static func body<T: Decodable>(_ type: T.Type, _ request: Request, _ context: NeuroplexRequestContext) async throws -> T {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        var bytes = Array(buffer.readableBytesView)
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            bytes = Array("{}".utf8)
        } else if let type = request.headers[.contentType], !type.lowercased().hasPrefix("application/json") {
            throw NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, "send the body as application/json")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(bytes))
        } catch let error as NeuroplexError {
            throw error
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw NeuroplexError.invalid(field, "\(field) has the wrong type", kind: .badRequest)
        } catch DecodingError.dataCorrupted(let context) where !context.codingPath.isEmpty {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw NeuroplexError.invalid(field, "\(field): \(context.debugDescription)", kind: .badRequest)
        } catch {
            throw NeuroplexError(.badRequest, code: .invalidJSON, "the body is not valid JSON for this operation")
        }
    }

    static func page(_ request: Request) throws -> PageRequest {
        let query = request.uri.queryParameters
        return try PageRequest(limit: query.get("limit").flatMap { Int($0) }, cursor: query.get("cursor"))
    }
}
