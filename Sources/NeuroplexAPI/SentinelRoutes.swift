import Foundation
import HTTPTypes
import Hummingbird
import NeuroplexCore
import NeuroplexML
import NeuroplexSentinel

/// Sentinel's rules, events, alerts and incidents as hand-written routes (see ``RouterTransport``); their contract
/// (paths, scopes, errors) is declared in openapi.yaml like any other.
struct SentinelRoutes {
    let sentinel: Sentinel
    let captures: SentinelCaptures
    let datasets: Datasets
    let collectors: SentinelCollectors
    /// Where collectors listen unless a source names a host: the server's own address.
    let host: String
    /// The model that scores uploaded captures' flows unless the upload names one (`sentinel.model`).
    var defaultModel: String? = nil

    /// Encodes with the engine's own names; times stay Unix seconds, as in the flow records.
    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        try FastRoute.json(value, status: status)
    }

    var routes: [String: FastRoute] {
        [
            OpenAPIDocument.route("GET", "/sentinel/rules"): FastRoute { _, _, _ in
                try Self.json(MLTrainingRoutes.Listing(data: sentinel.rules(), nextCursor: nil))
            },
            OpenAPIDocument.route("GET", "/sentinel/rules/{id}"): FastRoute { _, context, _ in
                try Self.json(try sentinel.rule(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("PUT", "/sentinel/rules/{id}"): FastRoute { request, context, _ in
                let text = try await Self.text(request, context, accepting: ["application/json", "application/yaml", "application/x-yaml", "text/yaml"])
                let (entry, created) = try await sentinel.putRule(id: try context.parameters.require("id"), document: text)
                return try Self.json(entry, status: created ? .created : .ok)
            },
            OpenAPIDocument.route("DELETE", "/sentinel/rules/{id}"): FastRoute { _, context, _ in
                try await sentinel.deleteRule(id: try context.parameters.require("id"))
                return Response(status: .noContent, headers: [:])
            },
            OpenAPIDocument.route("POST", "/sentinel/events"): FastRoute { request, context, _ in
                let text = try await Self.text(request, context, accepting: nil)
                var format: EventLogs.Format?
                if let sent = request.uri.queryParameters["format"] {
                    guard let chosen = EventLogs.Format(rawValue: String(sent)) else {
                        throw NeuroplexError.invalid("format", "format is cowrie, syslog or cef")
                    }
                    format = chosen
                }
                let result = try await sentinel.ingest(events: text, format: format)
                guard result.accepted > 0 || result.rejected.isEmpty else {
                    let first = result.rejected[0]
                    throw NeuroplexError.invalid(
                        "body", "no line could be read; line \(first.line): \(first.reason)", kind: .badRequest)
                }
                return try Self.json(result)
            },
            OpenAPIDocument.route("POST", "/sentinel/sources"): FastRoute { request, context, _ in
                struct Body: Decodable {
                    var type: String?
                    var port: Int?
                    var host: String?
                    var interface: String?
                    var filter: String?
                }
                let body = try await MLTrainingRoutes.body(Body.self, request, context)
                guard let type = body.type else {
                    throw NeuroplexError.invalid("type", "type is required (netflow or pcap)", kind: .badRequest)
                }
                let source = try await collectors.start(
                    type: type, host: body.host ?? host, port: body.port ?? 2055, interface: body.interface, filter: body.filter)
                return try Self.json(source, status: .created)
            },
            OpenAPIDocument.route("GET", "/sentinel/sources"): FastRoute { _, _, _ in
                try Self.json(MLTrainingRoutes.Listing(data: collectors.list(), nextCursor: nil))
            },
            OpenAPIDocument.route("DELETE", "/sentinel/sources/{id}"): FastRoute { _, context, _ in
                try await collectors.stop(id: try context.parameters.require("id"))
                return Response(status: .noContent, headers: [:])
            },
            OpenAPIDocument.route("POST", "/sentinel/captures"): FastRoute { request, _, _ in
                let accepted = ["application/vnd.tcpdump.pcap", "application/octet-stream", "application/x-pcapng", "application/pcap"]
                if let type = request.headers[.contentType]?.lowercased(), !accepted.contains(where: { type.hasPrefix($0) }) {
                    throw NeuroplexError(
                        .unsupportedMediaType, code: .unsupportedMediaType, "send the capture as application/vnd.tcpdump.pcap")
                }
                let query = request.uri.queryParameters
                let model = query["model"].map(String.init) ?? defaultModel
                let capture = try await captures.upload(
                    request.body.map { ArraySlice($0.readableBytesView) }, name: query["name"].map(String.init),
                    model: model?.isEmpty == true ? nil : model)
                var response = try Self.json(capture, status: .accepted)
                response.headers[.location] = "/sentinel/captures/\(capture.id)"
                return response
            },
            OpenAPIDocument.route("GET", "/sentinel/captures"): FastRoute { request, _, _ in
                let page = try await captures.captures(page: try sentinel.alertsPage(request))
                return try Self.json(MLTrainingRoutes.Listing(data: page.items, nextCursor: page.nextCursor))
            },
            OpenAPIDocument.route("GET", "/sentinel/captures/{id}"): FastRoute { _, context, _ in
                try Self.json(try await captures.capture(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("GET", "/sentinel/captures/{id}/flows.csv"): FastRoute { _, context, _ in
                let url = try await captures.flowsFile(id: try context.parameters.require("id"))
                return Response(
                    status: .ok, headers: [.contentType: "text/csv; charset=utf-8"],
                    body: ResponseBody { writer in
                        let handle = try FileHandle(forReadingFrom: url)
                        defer { try? handle.close() }
                        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                            try await writer.write(ByteBuffer(bytes: chunk))
                        }
                        try await writer.finish(nil)
                    })
            },
            OpenAPIDocument.route("GET", "/sentinel/flows"): FastRoute { request, _, _ in
                guard let captureId = request.uri.queryParameters["captureId"].map(String.init), !captureId.isEmpty else {
                    throw NeuroplexError.invalid("captureId", "captureId is required: the capture whose flows to list", kind: .badRequest)
                }
                let page = try await captures.flows(captureId: captureId, page: try sentinel.alertsPage(request))
                return try Self.json(MLTrainingRoutes.Listing(data: page.items, nextCursor: page.nextCursor))
            },
            OpenAPIDocument.route("POST", "/sentinel/datasets"): FastRoute { request, context, _ in
                struct Body: Decodable {
                    var name: String?
                    var captureIds: [String]?
                    var manifest: [SentinelCaptures.LabelEntry]?
                    var defaultLabel: String?
                }
                struct Created: Encodable {
                    var datasetId: String
                    var name: String
                    var rows: Int
                    var label: String
                    var labels: [String: Int]
                    var created: Bool
                }
                let body = try await MLTrainingRoutes.body(Body.self, request, context)
                guard let captureIds = body.captureIds else {
                    throw NeuroplexError.invalid("captureIds", "captureIds is required: the analysed captures to take flows from", kind: .badRequest)
                }
                let (csv, counts) = try await captures.labelledFlows(
                    captureIds: captureIds, manifest: body.manifest ?? [], defaultLabel: body.defaultLabel ?? "benign")
                let chunks = AsyncStream<ArraySlice<UInt8>> { continuation in
                    var start = 0
                    while start < csv.count {
                        continuation.yield(csv[start..<min(csv.count, start + (1 << 20))])
                        start += 1 << 20
                    }
                    continuation.finish()
                }
                let upload = try await datasets.upload(
                    chunks, name: body.name ?? "sentinel flows of \(captureIds.joined(separator: ", "))", label: "Label", format: .csv)
                return try Self.json(
                    Created(
                        datasetId: upload.dataset.id, name: upload.dataset.name, rows: upload.dataset.rows, label: "Label",
                        labels: counts, created: upload.created),
                    status: upload.created ? .created : .ok)
            },
            OpenAPIDocument.route("GET", "/sentinel/alerts"): FastRoute { request, _, _ in
                let query = request.uri.queryParameters
                var severity: Severity?
                if let sent = query["severity"] {
                    guard let level = Severity(rawValue: String(sent)) else {
                        throw NeuroplexError.invalid("severity", "severity is low, medium, high or critical")
                    }
                    severity = level
                }
                var since: Double?
                if let sent = query["since"].map(String.init) {
                    guard let seconds = Double(sent) ?? Timestamp.parse(sent)?.timeIntervalSince1970 else {
                        throw NeuroplexError.invalid("since", "since is an RFC 3339 time or Unix seconds")
                    }
                    since = seconds
                }
                let page = try sentinel.alertsPage(request)
                let alerts = try await sentinel.alerts(severity: severity, since: since, page: page)
                return try Self.json(MLTrainingRoutes.Listing(data: alerts.items, nextCursor: alerts.nextCursor))
            },
            OpenAPIDocument.route("GET", "/sentinel/alerts/{id}"): FastRoute { _, context, _ in
                try Self.json(try await sentinel.alert(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("POST", "/sentinel/alerts/{id}/feedback"): FastRoute { request, context, _ in
                struct Body: Decodable {
                    var verdict: Sentinel.Feedback.Verdict?
                    var note: String?
                }
                let body = try await MLTrainingRoutes.body(Body.self, request, context)
                guard let verdict = body.verdict else {
                    throw NeuroplexError.invalid("verdict", "verdict is true_positive or false_positive", kind: .badRequest)
                }
                return try Self.json(
                    try await sentinel.feedback(alertId: try context.parameters.require("id"), verdict: verdict, note: body.note))
            },
            OpenAPIDocument.route("GET", "/sentinel/incidents"): FastRoute { request, _, _ in
                var status: Incident.Status?
                if let sent = request.uri.queryParameters["status"] {
                    guard let chosen = Incident.Status(rawValue: String(sent)) else {
                        throw NeuroplexError.invalid("status", "status is open, acknowledged or resolved")
                    }
                    status = chosen
                }
                let incidents = try await sentinel.incidents(status: status, page: try sentinel.alertsPage(request))
                return try Self.json(MLTrainingRoutes.Listing(data: incidents.items, nextCursor: incidents.nextCursor))
            },
            OpenAPIDocument.route("GET", "/sentinel/incidents/{id}"): FastRoute { _, context, _ in
                try Self.json(try await sentinel.incident(id: try context.parameters.require("id")))
            },
            OpenAPIDocument.route("PATCH", "/sentinel/incidents/{id}"): FastRoute { request, context, _ in
                struct Body: Decodable { var status: Incident.Status? }
                let body = try await MLTrainingRoutes.body(Body.self, request, context)
                guard let status = body.status else {
                    throw NeuroplexError.invalid("status", "status is open, acknowledged or resolved", kind: .badRequest)
                }
                return try Self.json(try await sentinel.setStatus(incidentId: try context.parameters.require("id"), status))
            },
            OpenAPIDocument.route("GET", "/sentinel/incidents/{id}/report"): FastRoute { request, context, _ in
                let report = try await sentinel.report(incidentId: try context.parameters.require("id"))
                switch request.uri.queryParameters["format"].map(String.init) ?? "json" {
                case "json": return try Self.json(report)
                case "markdown", "md":
                    return Response(
                        status: .ok, headers: [.contentType: "text/markdown; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: report.markdown)))
                default: throw NeuroplexError.invalid("format", "format is json or markdown")
                }
            },
        ]
    }

    /// The request body as UTF-8 text; 415 for a content type outside `accepting` (when given), 400 for bytes
    /// that are not UTF-8 or an empty body.
    static func text(_ request: Request, _ context: NeuroplexRequestContext, accepting: [String]?) async throws -> String {
        if let accepting, let type = request.headers[.contentType]?.lowercased(),
            !accepting.contains(where: { type.hasPrefix($0) })
        {
            throw NeuroplexError(
                .unsupportedMediaType, code: .unsupportedMediaType, "send the body as \(accepting.joined(separator: " or "))")
        }
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        guard let text = String(validating: buffer.readableBytesView, as: UTF8.self) else {
            throw NeuroplexError.invalid("body", "the body is not UTF-8 text", kind: .badRequest)
        }
        guard !text.allSatisfy(\.isWhitespace) else { throw NeuroplexError.invalid("body", "the body is empty", kind: .badRequest) }
        return text
    }
}

extension Sentinel {
    /// `limit` and `cursor` of a listing request.
    func alertsPage(_ request: Request) throws -> PageRequest {
        let query = request.uri.queryParameters
        var limit: Int?
        if let sent = query["limit"] {
            guard let value = Int(sent) else { throw NeuroplexError.invalid("limit", "limit must be an integer") }
            limit = value
        }
        return try PageRequest(limit: limit, cursor: query["cursor"].map(String.init))
    }
}
