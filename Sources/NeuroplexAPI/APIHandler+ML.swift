import Foundation
import NeuroplexCore
import NeuroplexML
import OpenAPIRuntime

/// The ML operations: datasets.
extension APIHandler {
    func uploadDataset(_ input: Operations.UploadDataset.Input) async throws -> Operations.UploadDataset.Output {
        let query = input.query
        let requested = query.format.map { DatasetFormat(rawValue: $0.rawValue) ?? .csv }
        let upload: Datasets.Upload
        switch input.body {
        case .csv(let body):
            upload = try await datasets.upload(body, name: query.name, label: query.label, format: requested ?? .csv)
        case .applicationXNdjson(let body):
            upload = try await datasets.upload(
                body, name: query.name, label: query.label, format: requested ?? .ndjson)
        case .multipartForm(let parts):
            upload = try await uploadDataset(parts, query: query, format: requested)
        }
        let dataset = Self.schema(upload.dataset)
        return upload.created ? .created(.init(body: .json(dataset))) : .ok(.init(body: .json(dataset)))
    }

    /// Streams the form's `file` part (parts before it are skipped; parts after it are not read).
    private func uploadDataset(
        _ parts: MultipartBody<Operations.UploadDataset.Input.Body.MultipartFormPayload>,
        query: Operations.UploadDataset.Input.Query, format: DatasetFormat?
    ) async throws -> Datasets.Upload {
        do {
            for try await part in parts {
                switch part {
                case .file(let file):
                    let filename = file.filename?.lowercased() ?? ""
                    let implied: DatasetFormat =
                        filename.hasSuffix(".ndjson") || filename.hasSuffix(".jsonl") ? .ndjson : .csv
                    return try await datasets.upload(
                        file.payload.body, name: query.name, label: query.label, format: format ?? implied)
                case .undocumented(let other):
                    for try await _ in other.body {}
                }
            }
        } catch let error as NeuroplexError {
            throw error
        } catch {
            // The runtime's multipart reader failed: the form itself is malformed.
            throw NeuroplexError(.badRequest, code: .badRequest, "the multipart form could not be read: \(error)")
        }
        throw NeuroplexError.invalid("file", "the multipart form has no 'file' part", kind: .badRequest)
    }

    func listDatasets(_ input: Operations.ListDatasets.Input) async throws -> Operations.ListDatasets.Output {
        let page = try await datasets.list(PageRequest(limit: input.query.limit, cursor: input.query.cursor))
        return .ok(.init(body: .json(.init(data: page.items.map(Self.schema), nextCursor: page.nextCursor))))
    }

    func getDataset(_ input: Operations.GetDataset.Input) async throws -> Operations.GetDataset.Output {
        .ok(.init(body: .json(Self.schema(try await datasets.get(id: input.path.id)))))
    }

    func deleteDataset(_ input: Operations.DeleteDataset.Input) async throws -> Operations.DeleteDataset.Output {
        try await datasets.delete(id: input.path.id)
        return .noContent(.init())
    }

    func getDatasetStatistics(
        _ input: Operations.GetDatasetStatistics.Input
    ) async throws -> Operations.GetDatasetStatistics.Output {
        .ok(.init(body: .json(Self.schema(try await datasets.statistics(id: input.path.id)))))
    }

    // MARK: Translation

    static func schema(_ dataset: Dataset) -> Components.Schemas.Dataset {
        .init(
            id: dataset.id, name: dataset.name, label: dataset.label, rows: Int64(dataset.rows),
            columns: dataset.columns.map { .init(name: $0.name, _type: schema($0.type)) },
            sha256: dataset.sha256, format: dataset.format == .csv ? .csv : .ndjson, sizeBytes: dataset.sizeBytes,
            createdAt: dataset.createdAt)
    }

    static func schema(_ type: ColumnType) -> Components.Schemas.ColumnType {
        Components.Schemas.ColumnType(rawValue: type.rawValue) ?? .text
    }

    static func schema(_ statistics: DatasetStatistics) -> Components.Schemas.DatasetStatistics {
        .init(
            rows: Int64(statistics.rows),
            columns: statistics.columns.map(schema),
            labelDistribution: statistics.labelDistribution.map {
                .init(additionalProperties: $0.mapValues(Int64.init))
            })
    }

    static func schema(_ column: ColumnStatistics) -> Components.Schemas.ColumnStatistics {
        .init(
            name: column.name, _type: schema(column.type), missing: Int64(column.missing),
            distinct: Int64(column.distinct), distinctExact: column.distinctExact, min: column.min,
            max: column.max, mean: column.mean, std: column.std,
            quantiles: column.quantiles.map {
                .init(p1: $0.p1, p25: $0.p25, p50: $0.p50, p75: $0.p75, p99: $0.p99)
            },
            top: column.top.map { .init(value: $0.value, count: Int64($0.count)) },
            labelCorrelation: column.labelCorrelation,
            labelCorrelationMethod: column.labelCorrelationMethod.flatMap { .init(rawValue: $0.rawValue) })
    }
}
