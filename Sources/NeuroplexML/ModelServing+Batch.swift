public import Foundation
public import NeuroplexCore

extension ModelServing {
    /// Queues a batch prediction of every row of a dataset with a version (default the deployed one); its result
    /// is a new CSV dataset: the rows as given, then `prediction`, `confidence` and `probability_<class>` columns
    /// (`prediction` is the class, the value, or the anomaly score).
    /// - Throws: 404 (model, dataset, version); 409 `not_deployed` when no version is named and none is deployed.
    public func submitBatch(model reference: String, datasetId: String, version: Int?) async throws -> MLJob {
        var model = try? await registry.get(id: reference)
        if model == nil { model = try await registry.find(name: reference) }
        guard let model else { throw NeuroplexError.notFound("model", id: reference) }
        _ = try await datasets.get(id: datasetId)
        let number: Int
        if let version {
            number = try await registry.version(modelId: model.id, version: version).version
        } else if let deployment = deployment(modelId: model.id), deployment.status == .deployed {
            number = deployment.primaryVersion
        } else {
            throw NeuroplexError(
                .conflict, code: "not_deployed", "model '\(model.name)' is not deployed; name the version to predict with")
        }
        return try await jobs.enqueue(
            type: "predict", modelId: model.id, datasetId: datasetId, priority: 5,
            parameters: .object(["version": .int(Int64(number))]))
    }

    /// Runs a queued batch prediction (the `predict` job runner).
    func runBatch(_ job: MLJob, _ reporter: JobReporter) async throws -> (result: JSONValue, summary: String) {
        guard let number = job.parameters["version"]?.numberValue.map({ Int($0) }), let datasetId = job.datasetId else {
            throw NeuroplexError.invalid("parameters", "a batch prediction names a version and a dataset")
        }
        let model = try await registry.get(id: job.modelId)
        let served: ServedModel
        if let loaded = self.served().first(where: { $0.modelId == model.id })?.models.first(where: { $0.version.version == number }) {
            served = loaded
        } else {
            let version = try await registry.versionWithReference(modelId: model.id, version: number)
            served = try ServedModel(modelName: model.name, version: version, artifact: Array(try registry.artifact(of: version)))
        }
        let dataset = try await datasets.get(id: datasetId)
        reporter.log("reading dataset \(datasetId) (\(dataset.rows) rows)")
        let table = try await datasets.table(of: dataset)
        let total = table.rows.count
        reporter.progress(0, of: total, unit: "rows")
        reporter.log("predicting \(total) rows with version \(number) of '\(model.name)'")

        let output = FileManager.default.temporaryDirectory.appendingPathComponent("neuroplex-batch-\(job.id).csv")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        var header = table.header + ["prediction"]
        let classes = served.classes ?? []
        if served.version.task == .classification { header += ["confidence"] + classes.map { "probability_\($0)" } }
        var text = header.map(Self.csvCell).joined(separator: ",") + "\n"
        let chunk = 10_000
        var start = 0
        while start < total {
            try Task.checkCancellation()
            let rows = Array(start..<min(total, start + chunk))
            let features = try served.version.preprocessing.transform(table, rows: rows)
            let results = try served.outputs(rows: features.values, count: rows.count)
            for (row, result) in zip(rows, results) {
                var cells = table.rows[row].map { $0 ?? "" }
                while cells.count < table.header.count { cells.append("") }
                cells.append(result.label ?? result.value.map { String($0) } ?? result.anomalyScore.map { String($0) } ?? "")
                if served.version.task == .classification {
                    cells.append(result.confidence.map { String($0) } ?? "")
                    cells += (result.probabilities ?? []).map { String($0) }
                }
                text += cells.map(Self.csvCell).joined(separator: ",") + "\n"
            }
            try handle.write(contentsOf: Data(text.utf8))
            text = ""
            start += rows.count
            reporter.progress(start, of: total, unit: "rows")
        }
        try handle.close()
        let name = "\(dataset.name) predictions (\(model.name) v\(number))"
        let upload = try await datasets.upload(Self.chunks(of: output), name: String(name.prefix(200)), label: nil, format: .csv)
        let result: JSONValue = .object([
            "datasetId": .string(upload.dataset.id), "rows": .int(Int64(total)), "modelId": .string(model.id),
            "version": .int(Int64(number)),
        ])
        return (result, "wrote \(total) predictions to dataset \(upload.dataset.id)")
    }

    /// A CSV cell, quoted when it holds a comma, a quote, a line break or surrounding spaces.
    static func csvCell(_ text: String) -> String {
        let special = text.contains { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }
            || text.first == " " || text.last == " "
        return special ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
    }

    /// The file's bytes in 1 MiB chunks.
    static func chunks(of url: URL) -> AsyncThrowingStream<ArraySlice<UInt8>, any Error> {
        AsyncThrowingStream { continuation in
            do {
                let handle = try FileHandle(forReadingFrom: url)
                defer { try? handle.close() }
                while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { continuation.yield(ArraySlice(data)) }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
    }
}
