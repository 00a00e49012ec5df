public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit
import Synchronization

/// The dataset catalogue: uploads streamed into the blob store, their metadata in the `ml_datasets` table.
///
/// ```swift
/// let datasets = Datasets(database: database, blobs: blobs, logger: logger)
/// let upload = try await datasets.upload(body, name: "traffic", label: "label", format: .csv)
/// let statistics = try await datasets.statistics(id: upload.dataset.id)
/// ```
///
/// An upload is read once: each chunk is appended to a temporary file in the blob store (hashed on the way),
/// parsed, and profiled, so memory does not grow with the file. Only when the whole file is read and valid is
/// it moved into place under its SHA-256 and its row written; any failure removes the temporary file, and nothing
/// remains. The same content with the same label is one dataset: uploading it again returns the existing one.
public struct Datasets: Sendable {
    /// Settings of the dataset catalogue.
    public struct Configuration: Sendable {
        /// The largest upload accepted, in bytes (default 64 GiB).
        public var maximumUploadBytes: Int64 = 64 * 1024 * 1024 * 1024

        public init() {}
    }

    /// The result of an upload: the dataset, and whether it was created by this upload (`false` when the same
    /// content with the same label was already there).
    public struct Upload: Sendable {
        public var dataset: Dataset
        public var created: Bool
    }

    private let database: Database
    private let blobs: BlobStore
    private let usage: any DatasetUsage
    private let clock: any WallClock
    private let configuration: Configuration
    private let logger: Logger
    private let readAhead = ReadAhead()

    public init(
        database: Database, blobs: BlobStore, usage: any DatasetUsage = NoDatasetUsage(),
        configuration: Configuration = .init(), clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.database = database
        self.blobs = blobs
        self.usage = usage
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    // MARK: Upload

    /// Reads a dataset from `body` and stores it.
    /// - Parameters:
    ///   - body: the file's bytes, in chunks of any size.
    ///   - name: a name for people (1–200 characters; names need not be unique).
    ///   - label: the column to predict, if any; it must be a column of the file.
    /// - Throws: `malformed_dataset` (400) naming the line and column of the first syntax error, a ragged row or
    ///   invalid UTF-8; `unknown_column` (422) for a label that is not a column; `validation_failed` for a bad
    ///   name or a file without rows; `payload_too_large` past ``Configuration/maximumUploadBytes``.
    public func upload<Body: AsyncSequence>(
        _ body: Body, name: String, label: String?, format: DatasetFormat
    ) async throws -> Upload where Body.Element == ArraySlice<UInt8> {
        let name = name.trimmingCharacters(in: .whitespaces)
        guard (1...200).contains(name.count) else {
            throw NeuroplexError.invalid("name", "name must be 1–200 characters")
        }
        let label = label?.isEmpty == true ? nil : label
        let writer = try blobs.makeWriter()
        do {
            let profiler = try await read(body, into: writer, label: label, format: format)
            guard profiler.header != nil else {
                throw NeuroplexError(.badRequest, code: .malformedDataset, "the file is empty: it has no header line")
            }
            guard profiler.rows > 0 else {
                throw NeuroplexError.invalid("file", "the dataset has a header but no rows")
            }
            return try await commit(writer, profiler: profiler, name: name, label: label, format: format)
        } catch {
            writer.discard()
            throw error
        }
    }

    /// Streams the body into the writer and the profiler.
    private func read<Body: AsyncSequence>(
        _ body: Body, into writer: BlobWriter, label: String?, format: DatasetFormat
    ) async throws -> DatasetProfiler where Body.Element == ArraySlice<UInt8> {
        switch format {
        case .csv: try await read(body, into: writer, parser: CSVParser(), label: label)
        case .ndjson: try await read(body, into: writer, parser: NDJSONParser(), label: label)
        }
    }

    private func read<Body: AsyncSequence, Parser: RecordParser>(
        _ body: Body, into writer: BlobWriter, parser: Parser, label: String?
    ) async throws -> DatasetProfiler where Body.Element == ArraySlice<UInt8> {
        var parser = parser
        var profiler = DatasetProfiler(label: label)
        do {
            var chunks = body.makeAsyncIterator()
            while let chunk = try await Self.next(&chunks) {
                guard writer.byteCount + Int64(chunk.count) <= configuration.maximumUploadBytes else {
                    throw NeuroplexError(
                        .payloadTooLarge, code: .payloadTooLarge,
                        "the dataset is larger than the limit of \(configuration.maximumUploadBytes) bytes")
                }
                // The chunk is hashed and written on another thread while this one parses it: both read the same
                // bytes, and neither waits for the other until the chunk is done.
                async let written: Void = writer.write(chunk)
                do {
                    try chunk.withUnsafeBufferPointer { buffer in
                        try parser.consume(buffer) { try profiler.add(&$0) }
                    }
                    // A full batch goes to a helper task; this one reads on, then takes what the helper has not started.
                    if profiler.batchIsFull { await profiler.profileBatch() }
                } catch {
                    try? await written
                    throw error
                }
                try await written
            }
            try parser.finish { try profiler.add(&$0) }
            await profiler.finish()
        } catch let error as DatasetFormatError {
            throw Self.problem(error, header: profiler.header)
        }
        return profiler
    }

    /// The next chunk of a request body. A body that fails before its end (the client went away or broke off
    /// mid-upload) is the client's doing: 400 `incomplete_upload`, not a server error.
    private static func next<Chunks: AsyncIteratorProtocol>(_ chunks: inout Chunks) async throws -> ArraySlice<UInt8>?
    where Chunks.Element == ArraySlice<UInt8> {
        do {
            return try await chunks.next()
        } catch let error as NeuroplexError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw NeuroplexError(
                .badRequest, code: "incomplete_upload", "the upload ended before its body was complete (\(error))")
        }
    }

    /// A syntax error as the client sees it, with the column's name when the header is known.
    static func problem(_ error: DatasetFormatError, header: [String]?) -> NeuroplexError {
        var place = "line \(error.line)"
        if let column = error.column {
            place += ", column \(column)"
            if let header, error.line > 1, column <= header.count { place += " ('\(header[column - 1])')" }
        }
        return NeuroplexError(.badRequest, code: .malformedDataset, "\(place): \(error.reason)")
    }

    /// Moves the blob into place and writes the row — or finds the dataset that already has this content and
    /// label, and discards the new copy.
    private func commit(
        _ writer: BlobWriter, profiler: DatasetProfiler, name: String, label: String?, format: DatasetFormat
    ) async throws -> Upload {
        let digest = writer.digest()
        // As the database keeps it, so that what this upload answers equals what a later read answers.
        let now = Timestamp.truncated(clock.now())
        let dataset = Dataset(
            id: Identifier.make(prefix: "ds", at: now), name: name, label: label, format: format,
            rows: profiler.rows, columns: profiler.schema(), sha256: digest, sizeBytes: writer.byteCount,
            createdAt: now)
        // The statistics are computed and encoded on another thread while the transaction begins and looks for
        // a dataset of the same content; only the insert waits for them.
        let statistics = Task { try String(decoding: CompactJSONEncoder().encode(profiler.statistics()), as: UTF8.self) }
        // The file is synced meanwhile too (a wait on the disk, not work); it is moved into place in the transaction.
        let synced = Task { try await BlobStore.diskThreads.run { _ in try writer.sync() } }
        let columns = try String(decoding: CompactJSONEncoder().encode(dataset.columns), as: UTF8.self)
        let postgres = database.engine == .postgres
        let upload = try await database.transaction { sql in
            try await Self.lock(digest, in: sql, postgres: postgres)
            if let existing = try await sql.select().columns(Self.summaryColumns).from("ml_datasets")
                .where("sha256", .equal, digest).where("label_key", .equal, label ?? "").first()
            {
                return Upload(dataset: try Self.dataset(from: existing), created: false)
            }
            try await sql.insert(into: "ml_datasets")
                .columns(
                    "id", "name", "label", "label_key", "format", "sha256", "size_bytes", "row_count", "columns",
                    "statistics", "created_at"
                )
                .values(
                    SQLBind(dataset.id), SQLBind(dataset.name), SQLBind(dataset.label), SQLBind(label ?? ""),
                    SQLBind(format.rawValue), SQLBind(digest), SQLBind(dataset.sizeBytes), SQLBind(dataset.rows),
                    SQLBind(columns), SQLBind(try await statistics.value), SQLBind(Timestamp.string(now))
                )
                .run()
            // Last, so that a failure before it rolls the row back and leaves no blob. (Should COMMIT itself
            // fail, an unreferenced blob may remain; never a row without its blob.)
            try await synced.value
            try writer.commit()
            return Upload(dataset: dataset, created: true)
        }
        if !upload.created { writer.discard() }
        readAhead.start(upload.dataset, url: try blobs.url(for: digest))
        logger.info(
            "dataset stored",
            metadata: ["dataset.id": "\(upload.dataset.id)", "dataset.rows": "\(upload.dataset.rows)",
                       "dataset.created": "\(upload.created)"])
        return upload
    }

    // MARK: Reading

    /// A page of datasets, oldest first.
    public func list(_ page: PageRequest) async throws -> Page<Dataset> {
        var query = database.sql.select().columns(Self.summaryColumns).from("ml_datasets")
        if let after = page.after { query = query.where("id", .greaterThan, after) }
        let rows = try await query.orderBy("id").limit(page.limit + 1).all()
        let datasets = try rows.prefix(page.limit).map(Self.dataset(from:))
        let next = rows.count > page.limit ? datasets.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: datasets, nextCursor: next)
    }

    /// The datasets uploaded under `name`, newest first.
    public func named(_ name: String) async throws -> [Dataset] {
        try await database.sql.select().columns(Self.summaryColumns).from("ml_datasets").where("name", .equal, name)
            .orderBy("id", .descending).all().map(Self.dataset(from:))
    }

    /// One dataset.
    /// - Throws: `not_found`.
    public func get(id: String) async throws -> Dataset {
        try Self.dataset(from: try await row(id: id, in: database.sql))
    }

    /// The statistics computed when the dataset was uploaded.
    /// - Throws: `not_found`.
    public func statistics(id: String) async throws -> DatasetStatistics {
        guard let row = try await database.sql.select().column("statistics").from("ml_datasets").where("id", .equal, id)
            .first()
        else {
            throw NeuroplexError.notFound("dataset", id: id)
        }
        let text = try row.decode(column: "statistics", as: String.self)
        return try JSONDecoder().decode(DatasetStatistics.self, from: Data(text.utf8))
    }

    /// Where the dataset's file is, for readers that stream it (training).
    /// - Throws: `not_found`.
    public func fileURL(id: String) async throws -> URL {
        try fileURL(of: try await get(id: id))
    }

    /// Where a dataset's file is.
    public func fileURL(of dataset: Dataset) throws -> URL {
        try blobs.url(for: dataset.sha256)
    }

    /// The dataset's rows in memory: read from its file, or taken from the read-ahead of a small dataset just
    /// uploaded.
    public func table(of dataset: Dataset) async throws -> DataTable {
        if let table = await readAhead.table(of: dataset) { return table }
        return try DataTable.read(try fileURL(of: dataset), format: dataset.format)
    }

    // MARK: Deleting

    /// Deletes the dataset, and its file when no other dataset has the same content.
    /// - Throws: `not_found`; `dataset_in_use` (409) while a queued or running job reads it.
    public func delete(id: String) async throws {
        let usage = usage
        let postgres = database.engine == .postgres
        let digest = try await database.transaction { sql in
            let digest = try await Self.row(id: id, in: sql).decode(column: "sha256", as: String.self)
            try await Self.lock(digest, in: sql, postgres: postgres)
            let jobs = try await usage.activeJobs(usingDataset: id, in: sql)
            guard jobs.isEmpty else {
                throw NeuroplexError(
                    .conflict, code: .datasetInUse,
                    "dataset '\(id)' is read by job\(jobs.count == 1 ? "" : "s") \(jobs.joined(separator: ", ")); cancel or wait for them first")
            }
            try await sql.delete(from: "ml_datasets").where("id", .equal, id).run()
            return digest
        }
        // Separately, under the same lock: an upload of the same content between the two transactions keeps it.
        try await database.transaction { [blobs, readAhead] sql in
            try await Self.lock(digest, in: sql, postgres: postgres)
            let others = try await sql.select().column("id").from("ml_datasets").where("sha256", .equal, digest)
                .limit(1).all()
            if others.isEmpty {
                readAhead.forget(digest)
                try blobs.remove(digest)
            }
        }
        logger.info("dataset deleted", metadata: ["dataset.id": "\(id)"])
    }

    // MARK: Rows

    private func row(id: String, in sql: any SQLDatabase) async throws -> any SQLRow {
        try await Self.row(id: id, in: sql)
    }

    /// The columns a ``Dataset`` is read from: not its statistics, a large document only `statistics(id:)` reads.
    private static let summaryColumns: [String] = [
        "id", "name", "label", "format", "row_count", "columns", "sha256", "size_bytes", "created_at",
    ]

    private static func row(id: String, in sql: any SQLDatabase) async throws -> any SQLRow {
        guard let row = try await sql.select().columns(summaryColumns).from("ml_datasets").where("id", .equal, id).first() else {
            throw NeuroplexError.notFound("dataset", id: id)
        }
        return row
    }

    /// Serialises uploads and deletes of the same content. SQLite's transactions already run one at a time
    /// (`BEGIN IMMEDIATE`); on PostgreSQL a transaction-scoped advisory lock keyed by the digest does it, across
    /// nodes too.
    private static func lock(_ digest: String, in sql: any SQLDatabase, postgres: Bool) async throws {
        guard postgres else { return }
        let key = Int32(truncatingIfNeeded: UInt32(digest.prefix(8), radix: 16) ?? 0)
        // 0x4D4C4453 is "MLDS": the datasets' lock space.
        try await sql.raw("SELECT pg_advisory_xact_lock(1296843859, \(literal: Int(key)))").run()
    }

    private static func dataset(from row: any SQLRow) throws -> Dataset {
        let columns = try row.decode(column: "columns", as: String.self)
        let created = try row.decode(column: "created_at", as: String.self)
        let format = try row.decode(column: "format", as: String.self)
        return Dataset(
            id: try row.decode(column: "id", as: String.self),
            name: try row.decode(column: "name", as: String.self),
            label: try row.decode(column: "label", as: String?.self),
            format: DatasetFormat(rawValue: format) ?? .csv,
            rows: try row.decode(column: "row_count", as: Int.self),
            columns: try JSONDecoder().decode([DatasetColumn].self, from: Data(columns.utf8)),
            sha256: try row.decode(column: "sha256", as: String.self),
            sizeBytes: try row.decode(column: "size_bytes", as: Int64.self),
            createdAt: Timestamp.truncated(Timestamp.parse(created) ?? Date(timeIntervalSince1970: 0)))
    }
}

/// The last small datasets uploaded, read into memory in the background as soon as they are stored: a training
/// run usually follows an upload, and its reading the file again (parsing every cell into a table) came after the
/// client's next request, on the job's path. Files up to ``largest`` bytes, the ``kept`` most recent, by content.
final class ReadAhead: Sendable {
    static let largest: Int64 = 4 << 20
    static let kept = 2

    private let tables = Mutex<[(sha256: String, format: DatasetFormat, table: Task<DataTable, any Error>)]>([])

    /// Reads a dataset just stored, unless it is too large or already read.
    func start(_ dataset: Dataset, url: URL) {
        guard dataset.sizeBytes <= Self.largest else { return }
        tables.withLock { tables in
            guard !tables.contains(where: { $0.sha256 == dataset.sha256 && $0.format == dataset.format }) else { return }
            let format = dataset.format
            tables.append((dataset.sha256, format, Task { try DataTable.read(url, format: format) }))
            if tables.count > Self.kept { tables.removeFirst() }
        }
    }

    /// The dataset's table, if it was read ahead (and could be read).
    func table(of dataset: Dataset) async -> DataTable? {
        let task = tables.withLock { tables in
            tables.first { $0.sha256 == dataset.sha256 && $0.format == dataset.format }?.table
        }
        return try? await task?.value
    }

    /// Drops the tables of a file that is gone.
    func forget(_ sha256: String) {
        tables.withLock { $0.removeAll { $0.sha256 == sha256 } }
    }
}
