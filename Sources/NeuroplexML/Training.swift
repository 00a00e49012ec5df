public import Foundation
public import Logging
public import NeuroplexCore
import NeuroplexStorage
import Synchronization

/// Training and validation: turns a queued job into a model version, and measures a version on held-out rows.
///
/// ```swift
/// let training = MLTraining(registry: registry, jobs: jobs, datasets: datasets, events: events, logger: logger)
/// let job = try await training.submit(modelId: model.id, datasetId: dataset.id)
/// // a worker (`runWorker()`) claims and runs it
/// ```
public struct MLTraining: Sendable {
    public let registry: ModelRegistry
    public let jobs: MLJobs
    public let datasets: Datasets
    public let events: MLEventBus
    /// How jobs of types other than `train` run (batch prediction registers `predict`).
    public let runners = JobRunners()
    let logger: Logger

    public init(registry: ModelRegistry, jobs: MLJobs, datasets: Datasets, events: MLEventBus, logger: Logger) {
        self.registry = registry
        self.jobs = jobs
        self.datasets = datasets
        self.events = events
        self.logger = logger
    }

    // MARK: Submitting

    /// Queues a training run of the model on the dataset.
    /// - Throws: `not_found` (model or dataset), `invalid_hyperparameter`, `validation_failed`.
    public func submit(
        modelId: String, datasetId: String, hyperparameters: [String: JSONValue]?, split: JSONValue?, priority: Int?
    ) async throws -> MLJob {
        // Both read at once: each read is a hop to the database's threads and back.
        async let modelRead = registry.get(id: modelId)
        async let datasetRead = datasets.get(id: datasetId)
        let (model, dataset) = try await (modelRead, datasetRead)
        let learner = try Learners.learner(model.algorithm)
        let merged = model.hyperparameters.merging(hyperparameters ?? [:]) { _, new in new }
        try ModelRegistry.check(learner, task: model.task, hyperparameters: merged)
        if let split { _ = try Self.decodeSplit(split) }
        let label = model.label ?? dataset.label
        if model.task != .anomaly {
            guard let label else {
                throw NeuroplexError.invalid("label", "the model and the dataset name no label column to learn")
            }
            guard dataset.columns.contains(where: { $0.name == label }) else {
                throw NeuroplexError(.invalidInput, code: "unknown_column", "dataset '\(datasetId)' has no column '\(label)'", field: "label")
            }
        }
        let priority = priority ?? 5
        guard (0...100).contains(priority) else { throw NeuroplexError.invalid("priority", "priority must be 0–100") }
        var parameters: [String: JSONValue] = ["hyperparameters": .object(merged)]
        if let split { parameters["split"] = split }
        let job = try await jobs.enqueue(
            type: "train", modelId: modelId, datasetId: datasetId, priority: priority, parameters: .object(parameters),
            payload: TrainingInputs(model: model, dataset: dataset))
        return job
    }

    static func decodeSplit(_ value: JSONValue) throws -> SplitOptions {
        do {
            return try JSONDecoder().decode(SplitOptions.self, from: Data(value.bytes))
        } catch let error as NeuroplexError {
            throw error
        } catch {
            throw NeuroplexError.invalid("split", "split must be {validation?, test?, seed?, stratify?, orderBy?}", kind: .badRequest)
        }
    }

    // MARK: Workers

    /// Claims and runs jobs until cancelled. A job running at cancellation (shutdown) goes back to the queue.
    public func runWorker(pollInterval: Duration = .milliseconds(200)) async {
        var rung = false
        while !Task.isCancelled {
            do {
                if let handed = jobs.takeHanded() {
                    await execute(handed.job, handed: handed)
                    continue
                }
                let generation = jobs.queued.generation
                if let job = try await jobs.claim(expected: rung) {
                    rung = false
                    await execute(job)
                } else {
                    // Woken at once by a job queued (or handed) here; other nodes' jobs are found at the next poll.
                    jobs.setIdle(true)
                    await jobs.queued.wait(after: generation, timeout: pollInterval)
                    jobs.setIdle(false)
                    rung = jobs.queued.generation != generation
                    try Task.checkCancellation()
                }
            } catch is CancellationError {
                break
            } catch {
                logger.error("the job worker failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        // Jobs handed to this process and not started go back to the queue (in a task of its own: this one is
        // cancelled).
        await Task {
            while let handed = jobs.takeHanded() {
                do {
                    try await jobs.log(handed.job.id, [(handed.job.createdAt, MLJobs.queuedLine(handed.job))])
                    try await jobs.requeue(handed.job.id, reason: "the server is shutting down")
                } catch {
                    logger.error("could not re-queue a job", metadata: ["job.id": "\(handed.job.id)", "error": "\(error)"])
                }
            }
        }.value
    }

    /// Runs one claimed job: the training in a child task, beside a heartbeat that writes its progress and stops
    /// it when the job's row says it was cancelled.
    /// A job handed here by ``MLJobs/enqueue(type:modelId:datasetId:priority:parameters:payload:)`` has its
    /// "queued" line written with the others, and may come with what its submitter read.
    func execute(_ job: MLJob, handed: MLJobs.HandedJob? = nil) async {
        let state = JobState(clock: jobs.clock)
        if handed != nil { state.append(MLJobs.queuedLine(job), at: job.createdAt) }
        state.append("started")
        let work = Task { () async throws -> JobOutcome in
            if job.type == "train" {
                let trained = try await train(job, state: state, read: handed?.payload as? TrainingInputs)
                return .version(trained.pending, leftovers: trained.leftovers)
            }
            guard let runner = runners.runner(job.type) else {
                throw NeuroplexError(.internal, code: .internal, "no worker here runs jobs of type '\(job.type)'")
            }
            let done = try await runner(job, JobReporter(state: state))
            return .result(done.result, summary: done.summary)
        }
        jobs.registerRunning(job.id) {
            state.cancelledByUser.store(true, ordering: .relaxed)
            work.cancel()
        }
        defer { jobs.unregisterRunning(job.id) }
        let heartbeat = Task {
            while !Task.isCancelled {
                do { try await Task.sleep(for: .milliseconds(250)) } catch { return }
                // Not cancelled with the heartbeat: lines taken from the buffer are always written.
                await Task { await flush(job, state) }.value
                if let running = try? await jobs.report(job.id, progress: state.progress.withLock { $0 }, metrics: state.metrics.withLock { $0 }),
                    !running
                {
                    state.cancelledByUser.store(true, ordering: .relaxed)
                    work.cancel()
                    return
                }
            }
        }
        let result = await withTaskCancellationHandler {
            await work.result
        } onCancel: {
            work.cancel()
        }
        heartbeat.cancel()
        _ = await heartbeat.result
        // Recorded in a task of its own: at shutdown this worker's task is cancelled, and the database calls that
        // put the job back in the queue must still run.
        let cancelled = work.isCancelled
        await Task { await record(job, state, result, cancelled: cancelled) }.value
    }

    private func record(
        _ job: MLJob, _ state: JobState, _ result: Result<JobOutcome, any Error>, cancelled: Bool
    ) async {
        // The buffered log lines and the line that ends the log are written with the outcome, in one commit (a
        // client following the log stops once the job has finished and no line is left); the last round's
        // progress, which the heartbeat may not have written yet, goes with the outcome.
        let progress = state.progress.withLock { $0 }
        /// Ends the job as failed, with `earlier` lines (taken from the buffer before) ahead of the buffered ones.
        func fail(_ error: any Error, after earlier: [(at: Date, message: String)] = []) async throws {
            let message = (error as? NeuroplexError)?.message ?? "\(error)"
            try await jobs.finish(
                job.id, status: .failed, error: message, metrics: state.metrics.withLock { $0 }, progress: progress,
                lines: earlier + state.takeLog(then: "failed: \(message)"))
            events.publish(.jobFinished(jobId: job.id, modelId: job.modelId, status: .failed))
        }
        do {
            switch result {
            case .success(.version(let pending, _)):
                // The version's row, the last lines and the outcome are one commit. Should it fail (the database
                // refused the write), nothing of it is kept, and the job fails with the lines taken here.
                let lines = state.takeLog()
                let clock = state.clock
                let version: MLModelVersion
                do {
                    version = try await jobs.finish(
                        job.id, status: .succeeded, metrics: state.metrics.withLock { $0 }, progress: progress,
                        after: { try await pending.insert(into: $0) },
                        lines: {
                            lines + [(clock.now(), "succeeded: version \($0.version) (model file: \($0.artifact.sizeBytes) bytes of \($0.artifact.mediaType))")]
                        })
                } catch is MLJobs.JobNotRunning {
                    // Cancelled before its worker could be told: the version is not kept, the log says why.
                    try await jobs.log(
                        job.id, lines + state.takeLog(then: "stopped after cancellation; the model it made was not kept"))
                    return
                } catch {
                    return try await fail(error, after: lines)
                }
                logger.info("model version created", metadata: ["model.id": "\(job.modelId)", "model.version": "\(version.version)"])
                events.publish(.versionCreated(modelId: job.modelId, version: version.version))
                events.publish(.jobFinished(jobId: job.id, modelId: job.modelId, status: .succeeded))
            case .success(.result(let value, let summary)):
                try await jobs.finish(
                    job.id, status: .succeeded, metrics: state.metrics.withLock { $0 }, progress: progress, result: value,
                    lines: state.takeLog(then: "succeeded: \(summary)"))
                events.publish(.jobFinished(jobId: job.id, modelId: job.modelId, status: .succeeded))
            case .failure(let error) where error is CancellationError || cancelled:
                _ = try? await jobs.report(job.id, progress: progress, metrics: state.metrics.withLock { $0 })
                if state.cancelledByUser.load(ordering: .relaxed) {
                    await flush(job, state, then: "stopped after cancellation")
                } else {
                    await flush(job, state)
                    try await jobs.requeue(job.id, reason: "the server is shutting down")
                }
            case .failure(let error):
                try await fail(error)
            }
        } catch {
            logger.error("could not record the end of a job", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Writes the buffered log lines, and `last` after them, in one statement.
    private func flush(_ job: MLJob, _ state: JobState, then last: String? = nil) async {
        let lines = state.takeLog(then: last)
        do {
            try await jobs.log(job.id, lines)
        } catch {
            logger.warning("could not write a job's log", metadata: ["job.id": "\(job.id)", "error": "\(error)"])
        }
    }

    /// Progress and log lines of a running job, written by the learner's callback and read by the heartbeat.
    final class JobState: Sendable {
        let progress = Mutex(MLJob.Progress(current: 0, total: 0, unit: "rounds"))
        let metrics = Mutex<[String: Double]>([:])
        /// Lines not yet written, each with the time it was produced.
        let log = Mutex<[(at: Date, message: String)]>([])
        let cancelledByUser = Atomic<Bool>(false)
        let clock: any WallClock

        init(clock: any WallClock) { self.clock = clock }

        /// Buffers a log line, stamped now (or `at`).
        func append(_ message: String, at time: Date? = nil) {
            let now = time ?? clock.now()
            log.withLock { $0.append((now, message)) }
        }

        /// Takes the buffered lines, with `last` after them.
        func takeLog(then last: String? = nil) -> [(at: Date, message: String)] {
            var lines = log.withLock { lines in
                defer { lines.removeAll() }
                return lines
            }
            if let last { lines.append((clock.now(), last)) }
            return lines
        }
    }

    /// What a job made.
    enum JobOutcome: Sendable {
        /// A model version, whose row is written with the job's end, and what made it (the model, the table), let
        /// go once the job's end is written: freeing them took ~0.5 ms of a small job's path.
        case version(ModelRegistry.PendingVersion, leftovers: any Sendable)
        case result(JSONValue, summary: String)
    }

    // MARK: Training

    /// The rows of a dataset with its label and split, prepared as a version sees them.
    struct Prepared {
        var table: DataTable
        var label: LabelEncoding?
        var split: SplitOptions
        var parts: (train: [Int], validation: [Int], test: [Int])
    }

    /// Reads the dataset and splits it. Classes are the label's distinct values, in ``classOrder(_:)``.
    func prepare(dataset: Dataset, task: LearningTask, labelColumn: String?, split: SplitOptions, classes: [String]? = nil) async throws -> Prepared {
        let table = try await datasets.table(of: dataset)
        var label: LabelEncoding?
        var classIndices: [Int]?
        if let labelColumn {
            let index = try table.column(labelColumn)
            if task == .classification || task == .anomaly {
                let names = classes ?? Self.classOrder(table.rows.compactMap { $0[index] })
                label = LabelEncoding(column: labelColumn, classes: names)
                let lookup = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
                classIndices = table.rows.map { $0[index].flatMap { lookup[$0] } ?? -1 }
            } else {
                label = LabelEncoding(column: labelColumn, classes: nil)
            }
        }
        let parts = try split.split(table, classes: task == .classification ? classIndices : nil)
        return Prepared(table: table, label: label, split: split, parts: parts)
    }

    /// The classes of a label in index order: sorted, except that of two classes the rarer one comes second. The
    /// second class is the positive one of a binary model: its probability is XGBoost's output, precision and
    /// recall are of it, and explanations sum to its log-odds (attacks, fraud and failures are the rarer class).
    static func classOrder(_ labels: [String]) -> [String] {
        var counts: [String: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        var names = counts.keys.sorted()
        if names.count == 2, counts[names[1]]! > counts[names[0]]! { names.swapAt(0, 1) }
        return names
    }

    /// The model and dataset of a training run, as its submitter read them.
    struct TrainingInputs: Sendable {
        var model: MLModel
        var dataset: Dataset
    }

    /// Trains the job's model on its dataset, read again unless `read` has them.
    func train(_ job: MLJob, state: JobState, read: TrainingInputs? = nil) async throws
        -> (pending: ModelRegistry.PendingVersion, leftovers: any Sendable)
    {
        let started = ContinuousClock.now
        guard let datasetId = job.datasetId else { throw NeuroplexError.invalid("datasetId", "the job names no dataset") }
        let model: MLModel, dataset: Dataset
        if let read, read.model.id == job.modelId, read.dataset.id == datasetId {
            (model, dataset) = (read.model, read.dataset)
        } else {
            async let modelRead = registry.get(id: job.modelId)
            async let datasetRead = datasets.get(id: datasetId)
            (model, dataset) = try await (modelRead, datasetRead)
        }
        let learner = try Learners.learner(model.algorithm)
        let hyperparameters: [String: JSONValue] = {
            if case .object(let values)? = job.parameters["hyperparameters"] { return values }
            return model.hyperparameters
        }()
        let split = try job.parameters["split"].map(Self.decodeSplit) ?? SplitOptions()
        let labelColumn = model.label ?? dataset.label
        state.append("reading dataset \(datasetId) (\(dataset.rows) rows)")
        let prepared = try await prepare(dataset: dataset, task: model.task, labelColumn: labelColumn, split: split)
        try Task.checkCancellation()
        var exclude: Set<String> = []
        if let labelColumn { exclude.insert(labelColumn) }
        if let orderBy = split.orderBy { exclude.insert(orderBy) }
        var options = model.preprocessing ?? PreprocessingOptions()
        if options.features == nil, let features = model.features { options.features = features }
        let types = Dictionary(dataset.columns.map { ($0.name, $0.type) }, uniquingKeysWith: { first, _ in first })

        var trainRows = prepared.parts.train
        var trainLabels: [Double] = []
        var validationRows = prepared.parts.validation
        var validationLabels: [Double] = []
        if let label = prepared.label, model.task != .anomaly {
            (trainRows, trainLabels) = try label.encode(prepared.table, rows: trainRows)
            (validationRows, validationLabels) = try label.encode(prepared.table, rows: validationRows)
        } else {
            trainLabels = [Double](repeating: 0, count: trainRows.count)
            validationLabels = [Double](repeating: 0, count: validationRows.count)
        }
        let fitted = try FittedPreprocessing.fit(
            prepared.table, rows: trainRows, columnTypes: types, exclude: exclude, options: options)
        for dropped in fitted.dropped { state.append("column '\(dropped.name)' dropped: \(dropped.reason)") }
        let trainFeatures = try fitted.transform(prepared.table, rows: trainRows)
        let validationFeatures = try fitted.transform(prepared.table, rows: validationRows)
        let classCount = model.task == .classification ? (prepared.label?.classes?.count ?? 0) : 0
        state.append(
            "training \(model.algorithm) on \(trainRows.count) rows × \(fitted.featureNames.count) features; validating on \(validationRows.count), testing on \(prepared.parts.test.count)")
        let jobId = job.id, modelId = job.modelId, events = events
        let progress: LearnerProgress = { current, total, metrics in
            state.progress.withLock { $0 = .init(current: current, total: total, unit: "rounds") }
            state.metrics.withLock { $0 = metrics }
            // Every round's scores, up to 100 lines; without scores (no validation rows) a line every tenth.
            let every = max(1, total / (metrics.isEmpty ? 10 : 100))
            if current == 1 || current == total || current % every == 0 {
                let scores = metrics.sorted { $0.key < $1.key }.map { "\($0.key)=\(String(format: "%.5f", $0.value))" }
                state.append("round \(current)/\(total) \(scores.joined(separator: " "))")
            }
            events.publish(.jobProgress(jobId: jobId, modelId: modelId, current: current, total: total, metrics: metrics))
        }
        let trained = try await learner.train(
            features: trainFeatures, labels: trainLabels, classCount: classCount, task: model.task,
            hyperparameters: hyperparameters,
            validation: validationRows.isEmpty ? nil : (features: validationFeatures, labels: validationLabels),
            progress: progress)
        try Task.checkCancellation()
        // The model file is made (XGBoost's UBJSON: 7.5–12 ms for digits' 1,000 trees) and hashed, and the drift
        // reference made, each on a thread of the pool, while the job's last commit begins: the fit is over, and
        // its cores are free. Only the version's row waits for them.
        let file = Task { try trained.artifact() }
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        let metrics = state.metrics.withLock { $0 }
        let rowCounts = ["train": trainRows.count, "validation": validationRows.count, "test": prepared.parts.test.count]
        let label = prepared.label
        // The training distribution, from at most 20,000 evenly spaced training rows, for drift checks.
        let table = prepared.table
        let classes = model.task == .classification ? label?.classes : nil
        let reference = Task {
            let step = max(1, trainRows.count / 20_000)
            let profileRows = stride(from: 0, to: trainRows.count, by: step).map { trainRows[$0] }
            let kept = step == 1 ? trained.trainingPredictions : nil
            let predictions = try kept?.count == trainRows.count
                ? kept! : trained.predict(try fitted.transform(table, rows: profileRows))
            return try ReferenceProfile.make(
                table, rows: profileRows, preprocessing: fitted, predictions: predictions, classes: classes)
        }
        state.append("storing the model")
        let pending = registry.pendingVersion(modelId: model.id, file: { try await file.value }) {
            number, artifact, now in
            let reference = try await reference.value
            return MLModelVersion(
                modelId: model.id, version: number, algorithm: model.algorithm, task: model.task,
                hyperparameters: hyperparameters, preprocessing: fitted, label: label,
                features: fitted.featureNames, datasetId: datasetId, datasetSha256: dataset.sha256, split: split,
                rows: rowCounts,
                metrics: metrics, validation: nil, artifact: artifact, trainingSeconds: seconds, jobId: jobId,
                createdAt: now, reference: reference)
        }
        return (pending, (trained, prepared.table, trainFeatures, validationFeatures))
    }

    // MARK: Import

    /// Stores a model trained elsewhere (an XGBoost JSON or UBJSON file) as the model's next version. Its features
    /// are the named numeric columns, taken as they are (no scaling; a missing cell is XGBoost's missing value).
    /// - Parameters:
    ///   - classes: for classification, the class names in the model's index order (default `0`, `1`, ...).
    /// - Throws: `invalid_model` (422) when XGBoost cannot read the file or its objective does not fit the task.
    public func importModel(modelId: String, artifact: [UInt8], features: [String], classes: [String]?) async throws -> MLModelVersion {
        let model = try await registry.get(id: modelId)
        guard model.algorithm == XGBoostLearner.algorithm || model.algorithm == RandomForestLearner.algorithm else {
            throw NeuroplexError(
                .badRequest, code: TrainingCodes.unsupportedAlgorithm,
                "only XGBoost models (algorithm xgboost or random_forest) can be imported", field: "algorithm")
        }
        guard !features.isEmpty, Set(features).count == features.count else {
            throw NeuroplexError.invalid("features", "name each feature once, in the model's order", kind: .badRequest)
        }
        let loaded = try XGBoostModel(artifact: artifact)
        guard loaded.task == model.task else {
            throw NeuroplexError(
                .invalidInput, code: TrainingCodes.invalidModel,
                "the file's objective \(loaded.objective) is \(loaded.task.rawValue), but the model learns \(model.task.rawValue)")
        }
        var label: LabelEncoding?
        if model.task == .classification {
            let names = classes ?? (0..<loaded.classCount).map(String.init)
            guard names.count == loaded.classCount else {
                throw NeuroplexError.invalid(
                    "classes", "the model has \(loaded.classCount) classes but \(names.count) names were given", kind: .badRequest)
            }
            label = LabelEncoding(column: model.label ?? "label", classes: names)
        } else {
            label = LabelEncoding(column: model.label ?? "label", classes: nil)
        }
        var options = PreprocessingOptions()
        options.standardize = false
        let fitted = FittedPreprocessing(
            options: options,
            columns: features.map { .init(name: $0, kind: .numeric, fill: nil, center: 0, scale: 1) },
            dropped: [], featureNames: features)
        let mediaType = XGBoostCompatibility.isJSON(artifact) ? "application/json" : "application/ubjson"
        let encoding = label
        let version = try await registry.addVersion(modelId: modelId, artifact: artifact, mediaType: mediaType) { number, info, now in
            MLModelVersion(
                modelId: modelId, version: number, algorithm: model.algorithm, task: model.task, hyperparameters: [:],
                preprocessing: fitted, label: encoding, features: features, datasetId: nil, datasetSha256: nil, split: nil,
                rows: [:], metrics: [:], validation: nil, artifact: info, trainingSeconds: 0, jobId: nil, createdAt: now)
        }
        events.publish(.versionCreated(modelId: modelId, version: version.version))
        return version
    }

    // MARK: Validation

    /// Measures a version on its held-out test split, or on all rows of another dataset; stores the result on the
    /// version. With `minimum` (metric → lowest acceptable value) the result says whether the version passed.
    public func validate(
        modelId: String, version reference: String?, datasetId: String?, minimum: [String: Double]?
    ) async throws -> JSONValue {
        let version: MLModelVersion
        if let reference {
            version = try await registry.version(modelId: modelId, reference: reference)
        } else if let latest = try await registry.latestVersion(modelId: modelId) {
            version = latest
        } else {
            _ = try await registry.get(id: modelId)
            throw NeuroplexError(.conflict, code: "no_version", "model '\(modelId)' has no trained version yet")
        }
        let learner = try Learners.learner(version.algorithm)
        let model = try learner.load(Array(try registry.artifact(of: version)))
        let source = datasetId ?? version.datasetId
        guard let source else { throw NeuroplexError.invalid("datasetId", "name a dataset to validate on") }
        let split = version.split ?? SplitOptions()
        let prepared = try await prepare(
            dataset: try await datasets.get(id: source), task: version.task, labelColumn: version.label?.column,
            split: split, classes: version.label?.classes)
        var rows = datasetId == nil ? prepared.parts.test : Array(prepared.table.rows.indices)
        var labels: [Double] = []
        if let label = prepared.label {
            (rows, labels) = try label.encode(prepared.table, rows: rows)
        }
        guard !rows.isEmpty else { throw NeuroplexError.invalid("datasetId", "there are no labelled rows to validate on") }
        let features = try version.preprocessing.transform(prepared.table, rows: rows)
        let predictions = try model.predict(features)
        var result: [String: JSONValue]
        switch version.task {
        case .classification:
            result = ValidationMetrics.classification(
                probabilities: predictions, labels: labels.map { Int($0) }, classes: version.label?.classes ?? [])
        case .regression:
            result = ValidationMetrics.regression(predictions: predictions.map { $0.first ?? 0 }, targets: labels)
        case .anomaly:
            result = ValidationMetrics.anomaly(scores: predictions.map { $0.first ?? 0 }, labels: labels.map { Int($0) }, classes: version.label?.classes ?? [])
        }
        result["rows"] = .int(Int64(rows.count))
        result["version"] = .int(Int64(version.version))
        result["datasetId"] = .string(source)
        result["split"] = .string(datasetId == nil ? "test" : "all")
        var passed: Bool?
        if let minimum, !minimum.isEmpty {
            var failures: [JSONValue] = []
            for (metric, threshold) in minimum.sorted(by: { $0.key < $1.key }) {
                let value = result[metric]?.numberValue
                if value == nil || value! < threshold {
                    failures.append(.string("\(metric) \(value.map { String(format: "%.4f", $0) } ?? "missing") < \(threshold)"))
                }
            }
            passed = failures.isEmpty
            result["passed"] = .bool(failures.isEmpty)
            result["failures"] = .array(failures)
        }
        let document = JSONValue.object(result)
        try await registry.setValidation(modelId: modelId, version: version.version, document)
        var summary: [String: Double] = [:]
        for (key, value) in result { if let number = value.numberValue, case .double = value { summary[key] = number } }
        events.publish(.validated(modelId: modelId, version: version.version, metrics: summary, passed: passed))
        return document
    }
}

/// Runs one job of a type other than `train`: reports through the reporter, checks `Task.checkCancellation()` at
/// least every 100 ms, and returns what it made with a one-line summary for the job's log.
public typealias JobRunner = @Sendable (MLJob, JobReporter) async throws -> (result: JSONValue, summary: String)

/// The runners of job types, by type.
public final class JobRunners: Sendable {
    private let runners = Mutex<[String: JobRunner]>([:])

    public init() {}

    public func register(_ type: String, _ runner: @escaping JobRunner) { runners.withLock { $0[type] = runner } }

    func runner(_ type: String) -> JobRunner? { runners.withLock { $0[type] } }
}

/// A running job's progress and log, as its runner reports them (written by the worker's heartbeat).
public struct JobReporter: Sendable {
    let state: MLTraining.JobState

    /// `current` of `total` done, in `unit` (rows, rounds).
    public func progress(_ current: Int, of total: Int, unit: String) {
        state.progress.withLock { $0 = .init(current: current, total: total, unit: unit) }
    }

    /// A line for the job's log, stamped now.
    public func log(_ message: String) { state.append(message) }
}
