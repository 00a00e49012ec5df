import Foundation
import Logging
import NeuroplexCore
import NeuroplexML
import NeuroplexStorage
import NeuroplexTestSupport
import SQLKit
import Testing

/// A dataset catalogue over a fresh database and blob folder.
struct Catalogue {
    let datasets: Datasets
    let database: Database
    let blobDirectory: String

    init(_ engine: Database.Engine, usage: any DatasetUsage = NoDatasetUsage()) async throws {
        let location = try await makeDatabaseLocation(engine)
        database = try await Database.open(location, logger: quietLogger)
        try await database.migrate(MLMigrations.all, logger: quietLogger)
        blobDirectory = location.dataDirectory + "/blobs"
        datasets = Datasets(
            database: database, blobs: try BlobStore(directory: blobDirectory), usage: usage, logger: quietLogger)
    }

    /// Every file under the blob folder, temporary ones included.
    var blobFiles: [String] {
        (FileManager.default.enumerator(atPath: blobDirectory)?.allObjects as? [String] ?? []).filter {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: blobDirectory + "/" + $0, isDirectory: &isDirectory)
            return !isDirectory.boolValue
        }
    }

    func upload(_ text: String, name: String = "d", label: String? = "label", format: DatasetFormat = .csv)
        async throws -> Datasets.Upload
    {
        try await datasets.upload(chunks(text), name: name, label: label, format: format)
    }
}

/// `text` as a stream of small chunks, as a request body arrives.
func chunks(_ text: String, size: Int = 7) -> AsyncStream<ArraySlice<UInt8>> {
    let bytes = Array(text.utf8)
    return AsyncStream { continuation in
        var start = 0
        while start < bytes.count {
            continuation.yield(bytes[start..<min(start + size, bytes.count)])
            start += size
        }
        continuation.finish()
    }
}

/// Says that one dataset is read by a running job.
struct BusyDataset: DatasetUsage {
    let id: String

    func activeJobs(usingDataset id: String, in sql: any SQLDatabase) async throws -> [String] {
        id == self.id ? ["job_1"] : []
    }
}

@Suite("Datasets", .timeLimit(.minutes(3)))
struct DatasetsTests {
    @Test("an upload is stored once by content; the same content again returns the same dataset", arguments: TestEngines.all)
    func contentAddressed(engine: Database.Engine) async throws {
        let catalogue = try await Catalogue(engine)
        let text = "a,b,label\n1,x,yes\n2,y,no\n"
        let first = try await catalogue.upload(text, name: "first")
        #expect(first.created && first.dataset.rows == 2 && first.dataset.label == "label")
        #expect(first.dataset.sha256 == "b0bbfbedf78df3d0b181ccbd0306a96b34139a75febde77f1cae486bc2de045a")  // sha256sum of the file
        let again = try await catalogue.upload(text, name: "again")
        #expect(!again.created && again.dataset.id == first.dataset.id && again.dataset.name == "first")
        #expect(catalogue.blobFiles.count == 1)
        // The same file with another label is another dataset over the same blob.
        let other = try await catalogue.upload(text, label: "a")
        #expect(other.created && other.dataset.id != first.dataset.id)
        #expect(catalogue.blobFiles.count == 1)
        #expect(try await catalogue.datasets.list(PageRequest(limit: 1, cursor: nil)).nextCursor != nil)
        // Deleting one keeps the blob the other still uses; deleting both removes it.
        try await catalogue.datasets.delete(id: first.dataset.id)
        #expect(catalogue.blobFiles.count == 1)
        try await catalogue.datasets.delete(id: other.dataset.id)
        #expect(catalogue.blobFiles.isEmpty)
        await #expect(throws: NeuroplexError.notFound("dataset", id: first.dataset.id)) {
            try await catalogue.datasets.get(id: first.dataset.id)
        }
        await catalogue.database.close()
    }

    @Test("concurrent uploads of the same file make one dataset and one blob", arguments: TestEngines.all)
    func concurrentUploads(engine: Database.Engine) async throws {
        let catalogue = try await Catalogue(engine)
        let text = "a,label\n" + (0..<500).map { "\($0),\($0 % 2)\n" }.joined()
        let results = await withTaskGroup(of: Result<Datasets.Upload, any Error>.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    do { return .success(try await catalogue.upload(text)) } catch { return .failure(error) }
                }
            }
            var results: [Result<Datasets.Upload, any Error>] = []
            for await result in group { results.append(result) }
            return results
        }
        var uploads: [Datasets.Upload] = []
        for result in results {
            switch result {
            case .success(let upload): uploads.append(upload)
            case .failure(let error): Issue.record(error)
            }
        }
        #expect(uploads.count == 4)
        #expect(uploads.filter(\.created).count == 1)
        #expect(Set(uploads.map(\.dataset.id)).count == 1)
        #expect(catalogue.blobFiles.count == 1)
        await catalogue.database.close()
    }

    @Test("a rejected upload leaves no blob, no temporary file and no row", arguments: TestEngines.all)
    func nothingStored(engine: Database.Engine) async throws {
        let catalogue = try await Catalogue(engine)
        let ragged = "a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,y\n8,9,x\n"
        do {
            _ = try await catalogue.upload(ragged)
            Issue.record("a ragged file was accepted")
        } catch let error as NeuroplexError {
            #expect(error.code == .malformedDataset && error.kind == .badRequest)
            #expect(error.message.hasPrefix("line 5, column 3 ('label'): "), "\(error.message)")
        }
        do {
            _ = try await catalogue.upload("a,b\n1,2\n", label: "missing_col")
            Issue.record("an unknown label was accepted")
        } catch let error as NeuroplexError {
            #expect(error.code == .unknownColumn && error.kind == .invalidInput && error.field == "label")
        }
        await #expect(throws: NeuroplexError.self) { try await catalogue.upload("a,\"b\n1,2\n") }
        await #expect(throws: NeuroplexError.self) { try await catalogue.upload("a,label\n") }
        await #expect(throws: NeuroplexError.self) { try await catalogue.upload("") }
        // A body that breaks off (the client went away) leaves nothing either, and is the client's doing (a 400,
        // not a server error in the log).
        struct Disconnected: Error {}
        let broken = AsyncThrowingStream<ArraySlice<UInt8>, any Error> { continuation in
            continuation.yield(ArraySlice("a,label\n1,x\n".utf8))
            continuation.finish(throwing: Disconnected())
        }
        do {
            _ = try await catalogue.datasets.upload(broken, name: "cut", label: "label", format: .csv)
            Issue.record("a broken-off body was accepted")
        } catch let error as NeuroplexError {
            #expect(error.code == "incomplete_upload" && error.kind == .badRequest, "\(error)")
        }
        #expect(catalogue.blobFiles.isEmpty)
        #expect(try await catalogue.datasets.list(PageRequest(limit: nil, cursor: nil)).items.isEmpty)
        await catalogue.database.close()
    }

    @Test("a small dataset just uploaded is read ahead, as a read of its file reads it; deleted, it is forgotten")
    func readAhead() async throws {
        let catalogue = try await Catalogue(.sqlite)
        let dataset = try await catalogue.upload(trafficCSV(rows: 200)).dataset
        let url = try catalogue.datasets.fileURL(of: dataset)
        let fromFile = try DataTable.read(url, format: .csv)
        let table = try await catalogue.datasets.table(of: dataset)
        #expect(table.header == fromFile.header && table.rows == fromFile.rows && table.rows.count == 200)
        // Read ahead: the rows are in memory, not read from the file again.
        let bytes = try Data(contentsOf: url)
        try FileManager.default.removeItem(at: url)
        #expect(try await catalogue.datasets.table(of: dataset).rows == fromFile.rows)
        try bytes.write(to: url)
        try await catalogue.datasets.delete(id: dataset.id)
        await #expect(throws: (any Error).self) { _ = try await catalogue.datasets.table(of: dataset) }
        await catalogue.database.close()
    }

    @Test("NDJSON uploads are profiled like CSV")
    func ndjson() async throws {
        let catalogue = try await Catalogue(.sqlite)
        let text = """
            {"f1": 0.5, "proto": "tcp", "label": "attack"}
            {"f1": 1.5, "proto": "udp", "label": "benign"}
            {"f1": null, "proto": "tcp", "label": "benign"}

            """
        let upload = try await catalogue.upload(text, format: .ndjson)
        #expect(upload.dataset.format == .ndjson && upload.dataset.rows == 3)
        #expect(upload.dataset.columns == [
            DatasetColumn(name: "f1", type: .numeric), DatasetColumn(name: "proto", type: .categorical),
            DatasetColumn(name: "label", type: .categorical),
        ])
        let statistics = try await catalogue.datasets.statistics(id: upload.dataset.id)
        #expect(statistics.columns[0].missing == 1 && statistics.labelDistribution == ["attack": 1, "benign": 2])
        await catalogue.database.close()
    }

    @Test("a dataset a job reads cannot be deleted")
    func inUse() async throws {
        let catalogue = try await Catalogue(.sqlite)
        let upload = try await catalogue.upload("a,label\n1,x\n")
        let busy = Datasets(
            database: catalogue.database, blobs: try BlobStore(directory: catalogue.blobDirectory),
            usage: BusyDataset(id: upload.dataset.id), logger: quietLogger)
        do {
            try await busy.delete(id: upload.dataset.id)
            Issue.record("a dataset in use was deleted")
        } catch let error as NeuroplexError {
            #expect(error.code == .datasetInUse && error.kind == .conflict && error.message.contains("job_1"))
        }
        #expect(try await catalogue.datasets.get(id: upload.dataset.id) == upload.dataset)
        #expect(catalogue.blobFiles.count == 1)
        await catalogue.database.close()
    }
}
