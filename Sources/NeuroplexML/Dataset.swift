public import Foundation
public import SQLKit

/// An uploaded dataset: an immutable file in the blob store, its inferred schema and its statistics.
public struct Dataset: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The label column, if one was named at upload.
    public var label: String?
    public var format: DatasetFormat
    /// Data rows (the header is not counted).
    public var rows: Int
    public var columns: [DatasetColumn]
    /// The SHA-256 of the file as uploaded (lowercase hex): its address in the blob store.
    public var sha256: String
    public var sizeBytes: Int64
    public var createdAt: Date

    public init(
        id: String, name: String, label: String?, format: DatasetFormat, rows: Int, columns: [DatasetColumn],
        sha256: String, sizeBytes: Int64, createdAt: Date
    ) {
        self.id = id
        self.name = name
        self.label = label
        self.format = format
        self.rows = rows
        self.columns = columns
        self.sha256 = sha256
        self.sizeBytes = sizeBytes
        self.createdAt = createdAt
    }
}

/// The file formats a dataset can be uploaded in; the file is kept as uploaded.
public enum DatasetFormat: String, Sendable, Codable, CaseIterable {
    /// RFC 4180 CSV with a header line (see ``CSVParser``).
    case csv
    /// One JSON object per line (see ``NDJSONParser``).
    case ndjson

    func makeParser() -> any RecordParser {
        switch self {
        case .csv: CSVParser()
        case .ndjson: NDJSONParser()
        }
    }
}

/// Tells whether unfinished work reads a dataset, so that it is not deleted from under it. The training-job
/// queue implements it; until then ``NoDatasetUsage`` says nothing does.
public protocol DatasetUsage: Sendable {
    /// The ids of the queued or running jobs that read the dataset `id` (empty when none).
    /// - Parameter sql: the connection of the transaction that is about to delete the dataset, so that the check
    ///   and the delete see the same state.
    func activeJobs(usingDataset id: String, in sql: any SQLDatabase) async throws -> [String]
}

/// No jobs yet: nothing reads a dataset.
public struct NoDatasetUsage: DatasetUsage {
    public init() {}

    public func activeJobs(usingDataset id: String, in sql: any SQLDatabase) async throws -> [String] { [] }
}
