public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit

/// The learners by algorithm name. The Swift learners join here when their branch lands.
public enum Learners {
    public static let registered: [String: any Learner.Type] = [
        XGBoostLearner.algorithm: XGBoostLearner.self,
        RandomForestLearner.algorithm: RandomForestLearner.self,
        LogisticRegressionLearner.algorithm: LogisticRegressionLearner.self,
        KMeansLearner.algorithm: KMeansLearner.self,
        IsolationForestLearner.algorithm: IsolationForestLearner.self,
    ]

    /// The algorithms the API names, registered or not yet.
    public static let known = ["xgboost", "random_forest", "logistic_regression", "kmeans", "isolation_forest"]

    /// The learner for `algorithm`.
    /// - Throws: `unsupported_algorithm` (400).
    public static func learner(_ algorithm: String) throws -> any Learner.Type {
        guard let learner = registered[algorithm] else {
            let available = registered.keys.sorted().joined(separator: ", ")
            let reason = known.contains(algorithm) ? "is not available in this build" : "is unknown"
            throw NeuroplexError(
                .badRequest, code: TrainingCodes.unsupportedAlgorithm,
                "algorithm '\(algorithm)' \(reason); available: \(available)", field: "algorithm")
        }
        return learner
    }
}

/// A registered model: what to learn and how. Versions are the results of training it.
public struct MLModel: Sendable, Codable, Equatable {
    public var id: String
    public var name: String
    public var task: LearningTask
    public var algorithm: String
    public var label: String?
    public var description: String?
    public var tags: [String]
    public var hyperparameters: [String: JSONValue]
    public var preprocessing: PreprocessingOptions?
    public var features: [String]?
    public var createdAt: Date
    public var updatedAt: Date
}

/// The fields of a new model, or of an update (`nil` leaves a field as it is).
public struct MLModelDraft: Sendable, Codable {
    public var name: String?
    public var task: LearningTask?
    public var algorithm: String?
    public var label: String?
    public var description: String?
    public var tags: [String]?
    public var hyperparameters: [String: JSONValue]?
    public var preprocessing: PreprocessingOptions?
    public var features: [String]?

    public init(
        name: String? = nil, task: LearningTask? = nil, algorithm: String? = nil, label: String? = nil,
        description: String? = nil, tags: [String]? = nil, hyperparameters: [String: JSONValue]? = nil,
        preprocessing: PreprocessingOptions? = nil, features: [String]? = nil
    ) {
        self.name = name
        self.task = task
        self.algorithm = algorithm
        self.label = label
        self.description = description
        self.tags = tags
        self.hyperparameters = hyperparameters
        self.preprocessing = preprocessing
        self.features = features
    }
}

/// One immutable result of training a model.
public struct MLModelVersion: Sendable, Codable, Equatable {
    public struct Artifact: Sendable, Codable, Equatable {
        public var sha256: String
        public var mediaType: String
        public var sizeBytes: Int
    }

    public var modelId: String
    public var version: Int
    public var algorithm: String
    public var task: LearningTask
    public var hyperparameters: [String: JSONValue]
    public var preprocessing: FittedPreprocessing
    public var label: LabelEncoding?
    /// The feature names in matrix order (the feature schema).
    public var features: [String]
    public var datasetId: String?
    public var datasetSha256: String?
    public var split: SplitOptions?
    public var rows: [String: Int]
    /// The last round's metrics on the validation split.
    public var metrics: [String: Double]
    public var validation: JSONValue?
    public var artifact: Artifact
    public var trainingSeconds: Double
    public var jobId: String?
    public var createdAt: Date
    /// The training distribution of the inputs and predictions, for drift checks (absent on imported versions and
    /// on versions trained before it was recorded). Stored beside the document, not in it: only
    /// ``ModelRegistry/versionWithReference(modelId:version:)`` reads it back.
    public var reference: ReferenceProfile? = nil
}

/// The model registry: models, their versions and aliases, in `ml_models`, `ml_model_versions` and
/// `ml_model_aliases`; artifacts in the blob store under their SHA-256.
public struct ModelRegistry: Sendable {
    let database: Database
    let blobs: BlobStore
    let clock: any WallClock
    let logger: Logger

    public init(database: Database, blobs: BlobStore, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.database = database
        self.blobs = blobs
        self.clock = clock
        self.logger = logger
    }

    // MARK: Models

    /// Registers a model.
    /// - Throws: `validation_failed`, `unsupported_algorithm`, `invalid_hyperparameter` (400), `name_taken` (409).
    public func create(_ draft: MLModelDraft) async throws -> MLModel {
        guard let name = draft.name?.trimmingCharacters(in: .whitespaces), (1...200).contains(name.count) else {
            throw NeuroplexError.invalid("name", "name must be 1–200 characters", kind: .badRequest)
        }
        guard let task = draft.task else {
            throw NeuroplexError.invalid("task", "task must be classification, regression or anomaly", kind: .badRequest)
        }
        guard let algorithm = draft.algorithm else {
            throw NeuroplexError.invalid("algorithm", "algorithm is required: one of \(Learners.known.joined(separator: ", "))", kind: .badRequest)
        }
        let learner = try Learners.learner(algorithm)
        try Self.check(learner, task: task, hyperparameters: draft.hyperparameters ?? [:])
        let now = Timestamp.truncated(clock.now())
        let model = MLModel(
            id: Identifier.make(prefix: "mdl", at: now), name: name, task: task, algorithm: algorithm, label: draft.label,
            description: draft.description, tags: draft.tags ?? [], hyperparameters: draft.hyperparameters ?? [:],
            preprocessing: draft.preprocessing, features: draft.features, createdAt: now, updatedAt: now)
        try await database.transaction { sql in
            if try await sql.select().column("id").from("ml_models").where("name", .equal, name).first() != nil {
                throw Self.nameTaken(name)
            }
            try await sql.insert(into: "ml_models").columns("id", "name", "document", "created_at")
                .values(SQLBind(model.id), SQLBind(name), SQLBind(try Self.json(model)), SQLBind(Timestamp.string(now)))
                .run()
        }
        logger.info("model registered", metadata: ["model.id": "\(model.id)", "model.algorithm": "\(algorithm)"])
        return model
    }

    static func check(_ learner: any Learner.Type, task: LearningTask, hyperparameters: [String: JSONValue]) throws {
        guard learner.tasks.contains(task) else {
            throw NeuroplexError(
                .badRequest, code: TrainingCodes.unsupportedTask,
                "\(learner.algorithm) learns \(learner.tasks.map(\.rawValue).sorted().joined(separator: ", ")), not \(task.rawValue)",
                field: "task")
        }
        try learner.validate(hyperparameters)
    }

    static func nameTaken(_ name: String) -> NeuroplexError {
        NeuroplexError(.conflict, code: "name_taken", "a model named '\(name)' already exists", field: "name")
    }

    /// Changes a model's metadata (name, description, tags, label, hyperparameters, preprocessing, features).
    public func update(id: String, _ draft: MLModelDraft) async throws -> MLModel {
        var model = try await get(id: id)
        if let name = draft.name?.trimmingCharacters(in: .whitespaces) {
            guard (1...200).contains(name.count) else { throw NeuroplexError.invalid("name", "name must be 1–200 characters", kind: .badRequest) }
            model.name = name
        }
        if let task = draft.task, task != model.task {
            throw NeuroplexError.invalid("task", "a model's task cannot change; register a new model", kind: .badRequest)
        }
        if let algorithm = draft.algorithm, algorithm != model.algorithm {
            throw NeuroplexError.invalid("algorithm", "a model's algorithm cannot change; register a new model", kind: .badRequest)
        }
        if let hyperparameters = draft.hyperparameters {
            try Self.check(try Learners.learner(model.algorithm), task: model.task, hyperparameters: hyperparameters)
            model.hyperparameters = hyperparameters
        }
        if let label = draft.label { model.label = label }
        if let description = draft.description { model.description = description }
        if let tags = draft.tags { model.tags = tags }
        if let preprocessing = draft.preprocessing { model.preprocessing = preprocessing }
        if let features = draft.features { model.features = features }
        model.updatedAt = Timestamp.truncated(clock.now())
        let updated = model
        try await database.transaction { sql in
            if try await sql.select().column("id").from("ml_models").where("name", .equal, updated.name)
                .where("id", .notEqual, id).first() != nil
            {
                throw Self.nameTaken(updated.name)
            }
            try await sql.update("ml_models").set("name", to: updated.name).set("document", to: try Self.json(updated))
                .where("id", .equal, id).run()
        }
        return updated
    }

    /// Deletes a model with its versions and aliases (artifacts stay in the blob store, which shares them).
    public func delete(id: String) async throws {
        _ = try await get(id: id)
        try await database.transaction { sql in
            let active = try await sql.select().column("id").from("ml_jobs").where("model_id", .equal, id)
                .where("status", .in, ["queued", "running"]).all()
            guard active.isEmpty else {
                throw NeuroplexError(.conflict, code: "model_in_use", "model '\(id)' has a queued or running job; cancel it first")
            }
            try await sql.delete(from: "ml_model_aliases").where("model_id", .equal, id).run()
            try await sql.delete(from: "ml_model_versions").where("model_id", .equal, id).run()
            try await sql.delete(from: "ml_models").where("id", .equal, id).run()
        }
    }

    public func get(id: String) async throws -> MLModel {
        guard let row = try await database.sql.select().column("document").from("ml_models").where("id", .equal, id).first()
        else { throw NeuroplexError.notFound("model", id: id) }
        return try Self.decode(MLModel.self, row)
    }

    /// The model named `name`, if any.
    public func find(name: String) async throws -> MLModel? {
        try await database.sql.select().column("document").from("ml_models").where("name", .equal, name).first()
            .map { try Self.decode(MLModel.self, $0) }
    }

    /// A page of models, oldest first.
    public func list(_ page: PageRequest) async throws -> Page<MLModel> {
        var query = database.sql.select().columns("id", "document").from("ml_models")
        if let after = page.after { query = query.where("id", .greaterThan, after) }
        let rows = try await query.orderBy("id").limit(page.limit + 1).all()
        let models = try rows.prefix(page.limit).map { try Self.decode(MLModel.self, $0) }
        let next = rows.count > page.limit ? models.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: models, nextCursor: next)
    }

    // MARK: Versions

    /// Stores a trained model as the model's next version.
    func addVersion(
        modelId: String, artifact: [UInt8], mediaType: String,
        make: @escaping @Sendable (Int, MLModelVersion.Artifact, Date) -> MLModelVersion
    ) async throws -> MLModelVersion {
        let pending = pendingVersion(modelId: modelId, artifact: artifact, mediaType: mediaType, make: make)
        return try await database.transaction { sql in try await pending.insert(into: sql) }
    }

    /// A model's next version, to be inserted in a transaction of the caller's (a training job inserts it in the
    /// commit that ends the job).
    func pendingVersion(
        modelId: String, artifact: [UInt8], mediaType: String,
        make: @escaping @Sendable (Int, MLModelVersion.Artifact, Date) -> MLModelVersion
    ) -> PendingVersion {
        pendingVersion(modelId: modelId, file: { (artifact, mediaType) }, make: make)
    }

    /// A model's next version whose file `file` makes (the model's serialisation) on another thread from now on:
    /// the transaction that inserts it can begin meanwhile; `make` may also wait for work still under way.
    func pendingVersion(
        modelId: String, file: @escaping @Sendable () async throws -> (bytes: [UInt8], mediaType: String),
        make: @escaping @Sendable (Int, MLModelVersion.Artifact, Date) async throws -> MLModelVersion
    ) -> PendingVersion {
        PendingVersion(
            modelId: modelId, blobs: blobs,
            file: Task {
                let (bytes, mediaType) = try await file()
                return (Data(bytes), .init(sha256: BlobStore.digest(bytes), mediaType: mediaType, sizeBytes: bytes.count))
            },
            createdAt: Timestamp.truncated(clock.now()), make: make)
    }

    /// A version not written yet: its file and its row are written by ``insert(into:)``, its number is the model's
    /// next one then.
    struct PendingVersion: Sendable {
        let modelId: String
        let blobs: BlobStore
        /// The file's bytes and what the row says of them, being made.
        let file: Task<(bytes: Data, artifact: MLModelVersion.Artifact), any Error>
        let createdAt: Date
        let make: @Sendable (Int, MLModelVersion.Artifact, Date) async throws -> MLModelVersion

        /// Stores the file and writes the version's row, numbered after the model's latest version. The number is
        /// read while the file may still be made; the file is then written and synced while the row's statement
        /// runs. It is in place before this returns, and so before the transaction commits.
        func insert(into sql: any SQLDatabase) async throws -> MLModelVersion {
            let latest = try await sql.select().column(SQLFunction("MAX", args: SQLIdentifier("version")), as: "latest")
                .from("ml_model_versions").where("model_id", .equal, modelId).first()
                .flatMap { try $0.decode(column: "latest", as: Int?.self) } ?? 0
            let (bytes, artifact) = try await file.value
            async let stored = BlobStore.diskThreads.run { [blobs] _ in try blobs.put(bytes, digest: artifact.sha256) }
            let version = try await make(latest + 1, artifact, createdAt)
            // The drift reference goes in a column of its own, in binary (see ReferenceProfile.encoded()).
            var document = version
            document.reference = nil
            try await sql.insert(into: "ml_model_versions")
                .columns("model_id", "version", "artifact_sha256", "document", "created_at", "reference")
                .values(SQLBind(modelId), SQLBind(version.version), SQLBind(artifact.sha256),
                        SQLBind(try ModelRegistry.json(document)), SQLBind(Timestamp.string(createdAt)),
                        SQLBind(version.reference.map { Data($0.encoded()) }))
                .run()
            _ = try await stored
            return version
        }
    }

    /// Replaces the stored validation result of a version.
    func setValidation(modelId: String, version: Int, _ validation: JSONValue) async throws {
        var stored = try await self.version(modelId: modelId, version: version)
        stored.validation = validation
        try await database.sql.update("ml_model_versions").set("document", to: try Self.json(stored))
            .where("model_id", .equal, modelId).where("version", .equal, version).run()
    }

    /// A page of the model's versions, oldest first.
    public func versions(modelId: String, page: PageRequest) async throws -> Page<MLModelVersion> {
        _ = try await get(id: modelId)
        var query = database.sql.select().columns("version", "document").from("ml_model_versions")
            .where("model_id", .equal, modelId)
        if let after = page.after.flatMap(Int.init) { query = query.where("version", .greaterThan, after) }
        let rows = try await query.orderBy("version").limit(page.limit + 1).all()
        let versions = try rows.prefix(page.limit).map { try Self.decode(MLModelVersion.self, $0) }
        let next = rows.count > page.limit ? versions.last.map { PageRequest.cursor(after: String($0.version)) } : nil
        return Page(items: versions, nextCursor: next)
    }

    /// One version, by number or by alias.
    public func version(modelId: String, reference: String) async throws -> MLModelVersion {
        if let number = Int(reference) { return try await version(modelId: modelId, version: number) }
        guard let row = try await database.sql.select().column("version").from("ml_model_aliases")
            .where("model_id", .equal, modelId).where("alias", .equal, reference).first()
        else {
            _ = try await get(id: modelId)
            throw NeuroplexError.notFound("version or alias", id: reference)
        }
        return try await version(modelId: modelId, version: try row.decode(column: "version", as: Int.self))
    }

    public func version(modelId: String, version: Int) async throws -> MLModelVersion {
        try Self.decode(MLModelVersion.self, try await versionRow(modelId: modelId, version: version, columns: ["document"]))
    }

    /// One version with its drift reference, which ``version(modelId:version:)`` leaves out: what serving and drift
    /// checks read.
    public func versionWithReference(modelId: String, version number: Int) async throws -> MLModelVersion {
        let row = try await versionRow(modelId: modelId, version: number, columns: ["document", "reference"])
        var version = try Self.decode(MLModelVersion.self, row)
        // Versions stored before the column existed keep their reference in the document.
        if let stored = try row.decode(column: "reference", as: Data?.self) {
            version.reference = try ReferenceProfile(encoded: Array(stored))
        }
        return version
    }

    /// The `columns` of a version's row.
    /// - Throws: 404 for an unknown model or version.
    private func versionRow(modelId: String, version: Int, columns: [String]) async throws -> any SQLRow {
        guard let row = try await database.sql.select().columns(columns).from("ml_model_versions")
            .where("model_id", .equal, modelId).where("version", .equal, version).first()
        else {
            _ = try await get(id: modelId)
            throw NeuroplexError.notFound("version", id: "\(modelId)/\(version)")
        }
        return row
    }

    public func latestVersion(modelId: String) async throws -> MLModelVersion? {
        try await database.sql.select().column("document").from("ml_model_versions").where("model_id", .equal, modelId)
            .orderBy("version", .descending).limit(1).first().map { try Self.decode(MLModelVersion.self, $0) }
    }

    /// The artifact's bytes.
    public func artifact(of version: MLModelVersion) throws -> Data {
        guard let data = try blobs.get(version.artifact.sha256) else {
            throw NeuroplexError(.internal, code: .internal, "the artifact of version \(version.version) is missing from the blob store")
        }
        return data
    }

    // MARK: Aliases

    /// Points `alias` (such as `champion`) at a version.
    public func setAlias(modelId: String, alias: String, version: Int) async throws {
        guard alias.range(of: "^[A-Za-z][A-Za-z0-9_.-]{0,63}$", options: .regularExpression) != nil else {
            throw NeuroplexError.invalid("alias", "an alias starts with a letter and has at most 64 letters, digits, '_', '.' or '-'", kind: .badRequest)
        }
        _ = try await self.version(modelId: modelId, version: version)
        try await database.transaction { sql in
            try await sql.delete(from: "ml_model_aliases").where("model_id", .equal, modelId).where("alias", .equal, alias).run()
            try await sql.insert(into: "ml_model_aliases").columns("model_id", "alias", "version")
                .values(SQLBind(modelId), SQLBind(alias), SQLBind(version)).run()
        }
    }

    /// The model's aliases and the versions they name.
    public func aliases(modelId: String) async throws -> [String: Int] {
        var aliases: [String: Int] = [:]
        for row in try await database.sql.select().columns("alias", "version").from("ml_model_aliases")
            .where("model_id", .equal, modelId).all()
        {
            aliases[try row.decode(column: "alias", as: String.self)] = try row.decode(column: "version", as: Int.self)
        }
        return aliases
    }

    // MARK: JSON

    /// A stored document's JSON, dates as RFC 3339 text. Written in one pass by ``CompactJSONEncoder``: a model
    /// version's document (preprocessing, drift reference, metrics; ~100 kB for digits) took Foundation's
    /// `JSONEncoder` 21 ms of every training job, against 3 ms.
    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try CompactJSONEncoder().encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ row: any SQLRow) throws -> T {
        try decode(type, text: try row.decode(column: "document", as: String.self))
    }

    static func decode<T: Decodable>(_ type: T.Type, text: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            return Timestamp.parse(text) ?? Date(timeIntervalSince1970: 0)
        }
        return try decoder.decode(T.self, from: Data(text.utf8))
    }
}
