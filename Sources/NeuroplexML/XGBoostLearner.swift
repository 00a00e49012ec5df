import CXGBoost
import Foundation
import Synchronization
public import NeuroplexCore

/// Gradient-boosted trees through XGBoost's C API (algorithm `xgboost`).
///
/// Hyperparameters take the names of XGBoost's scikit-learn interface (`n_estimators`, `max_depth`,
/// `learning_rate`, `subsample`, `colsample_bytree`, `min_child_weight`, `reg_lambda`, `reg_alpha`, `gamma`,
/// `early_stopping_rounds`, ...). Training runs one boosting round at a time (`XGBoosterUpdateOneIter`), so progress
/// is reported and cancellation checked after every round; with a validation split each round is evaluated on it,
/// and `early_stopping_rounds` keeps the best round. The artifact is XGBoost's own JSON model.
public struct XGBoostLearner: Learner {
    public static let algorithm = "xgboost"
    public static let tasks: Set<LearningTask> = [.classification, .regression]

    public static func validate(_ hyperparameters: [String: JSONValue]) throws {
        _ = try XGBoostSettings(hyperparameters, forest: false)
    }

    public static func train(
        features: FeatureMatrix, labels: [Double], classCount: Int, task: LearningTask,
        hyperparameters: [String: JSONValue], validation: (features: FeatureMatrix, labels: [Double])?,
        progress: @escaping LearnerProgress
    ) async throws -> any TrainedModel {
        let settings = try XGBoostSettings(hyperparameters, forest: false)
        return try await XGBoostTraining.run(
            settings, features: features, labels: labels, classCount: classCount, task: task,
            validation: validation, progress: progress)
    }

    public static func load(_ artifact: [UInt8]) throws -> any TrainedModel { try XGBoostModel(artifact: artifact) }
}

/// XGBoost's random-forest mode (algorithm `random_forest`): one round of `n_estimators` parallel trees, each on a
/// row and column sample, with a learning rate of 1 — as XGBoost's `XGBRFClassifier`/`XGBRFRegressor`.
public struct RandomForestLearner: Learner {
    public static let algorithm = "random_forest"
    public static let tasks: Set<LearningTask> = [.classification, .regression]

    public static func validate(_ hyperparameters: [String: JSONValue]) throws {
        _ = try XGBoostSettings(hyperparameters, forest: true)
    }

    public static func train(
        features: FeatureMatrix, labels: [Double], classCount: Int, task: LearningTask,
        hyperparameters: [String: JSONValue], validation: (features: FeatureMatrix, labels: [Double])?,
        progress: @escaping LearnerProgress
    ) async throws -> any TrainedModel {
        let settings = try XGBoostSettings(hyperparameters, forest: true)
        return try await XGBoostTraining.run(
            settings, features: features, labels: labels, classCount: classCount, task: task,
            validation: validation, progress: progress)
    }

    public static func load(_ artifact: [UInt8]) throws -> any TrainedModel { try XGBoostModel(artifact: artifact) }
}

// MARK: Hyperparameters

/// One hyperparameter a learner accepts: its range, and what it is called in XGBoost's native parameters.
struct HyperparameterRule: Sendable {
    enum Kind: Sendable {
        /// A whole number in the range.
        case integer(ClosedRange<Double>)
        /// A number in the range; `openLower` excludes the lower bound.
        case real(ClosedRange<Double>, openLower: Bool)
        /// One of the strings.
        case choice([String])
    }

    var name: String
    var kind: Kind
    /// The native name (XGBoost's), when it differs; `nil` for settings the learner handles itself.
    var native: String?

    /// Checks `value`, returning it as XGBoost's parameter text.
    func check(_ value: JSONValue) throws -> String {
        switch kind {
        case .integer(let range):
            guard let number = value.numberValue, number.rounded() == number else {
                throw Self.invalid(name, "must be a whole number")
            }
            guard range.contains(number) else {
                throw Self.invalid(name, "must be between \(Self.text(range.lowerBound)) and \(Self.text(range.upperBound)) (got \(Self.text(number)))")
            }
            return String(Int64(number))
        case .real(let range, let openLower):
            guard let number = value.numberValue, number.isFinite else { throw Self.invalid(name, "must be a number") }
            guard range.contains(number), !(openLower && number == range.lowerBound) else {
                let lower = openLower ? "greater than \(Self.text(range.lowerBound))" : "at least \(Self.text(range.lowerBound))"
                let upper = range.upperBound.isFinite ? " and at most \(Self.text(range.upperBound))" : ""
                throw Self.invalid(name, "must be \(lower)\(upper) (got \(Self.text(number)))")
            }
            return String(number)
        case .choice(let options):
            guard case .string(let text) = value, options.contains(text) else {
                throw Self.invalid(name, "must be one of \(options.joined(separator: ", "))")
            }
            return text
        }
    }

    static func invalid(_ name: String, _ reason: String) -> NeuroplexError {
        NeuroplexError(
            .badRequest, code: TrainingCodes.invalidHyperparameter, "hyperparameter '\(name)' \(reason)",
            field: "hyperparameters.\(name)")
    }

    static func text(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }

    /// Checks every entry against `rules`: an unknown name is refused with the list of allowed names.
    static func check(
        _ hyperparameters: [String: JSONValue], against rules: [HyperparameterRule], algorithm: String
    ) throws -> [String: String] {
        var checked: [String: String] = [:]
        for name in hyperparameters.keys.sorted() {
            guard let rule = rules.first(where: { $0.name == name }) else {
                throw NeuroplexError(
                    .badRequest, code: TrainingCodes.invalidHyperparameter,
                    "unknown hyperparameter '\(name)' for \(algorithm); allowed: \(rules.map(\.name).sorted().joined(separator: ", "))",
                    field: "hyperparameters.\(name)")
            }
            checked[name] = try rule.check(hyperparameters[name]!)
        }
        return checked
    }
}

/// Stable error codes of training and the registry.
enum TrainingCodes {
    static let invalidHyperparameter: NeuroplexError.Code = "invalid_hyperparameter"
    static let unsupportedAlgorithm: NeuroplexError.Code = "unsupported_algorithm"
    static let unsupportedTask: NeuroplexError.Code = "unsupported_task"
    static let trainingFailed: NeuroplexError.Code = "training_failed"
    static let invalidModel: NeuroplexError.Code = "invalid_model"
}

/// The checked settings of one XGBoost training run.
struct XGBoostSettings: Sendable {
    static let boostingRules: [HyperparameterRule] = [
        .init(name: "n_estimators", kind: .integer(1...100_000)),
        .init(name: "max_depth", kind: .integer(0...64), native: "max_depth"),
        .init(name: "learning_rate", kind: .real(0...1, openLower: true), native: "eta"),
        .init(name: "subsample", kind: .real(0...1, openLower: true), native: "subsample"),
        .init(name: "colsample_bytree", kind: .real(0...1, openLower: true), native: "colsample_bytree"),
        .init(name: "colsample_bylevel", kind: .real(0...1, openLower: true), native: "colsample_bylevel"),
        .init(name: "colsample_bynode", kind: .real(0...1, openLower: true), native: "colsample_bynode"),
        .init(name: "min_child_weight", kind: .real(0...Double.infinity, openLower: false), native: "min_child_weight"),
        .init(name: "reg_lambda", kind: .real(0...Double.infinity, openLower: false), native: "lambda"),
        .init(name: "reg_alpha", kind: .real(0...Double.infinity, openLower: false), native: "alpha"),
        .init(name: "gamma", kind: .real(0...Double.infinity, openLower: false), native: "gamma"),
        .init(name: "max_delta_step", kind: .real(0...Double.infinity, openLower: false), native: "max_delta_step"),
        .init(name: "scale_pos_weight", kind: .real(0...Double.infinity, openLower: true), native: "scale_pos_weight"),
        .init(name: "max_bin", kind: .integer(2...65_536), native: "max_bin"),
        .init(name: "tree_method", kind: .choice(["auto", "exact", "approx", "hist"]), native: "tree_method"),
        .init(name: "grow_policy", kind: .choice(["depthwise", "lossguide"]), native: "grow_policy"),
        .init(name: "max_leaves", kind: .integer(0...1_000_000), native: "max_leaves"),
        .init(name: "random_state", kind: .integer(0...4_294_967_295), native: "seed"),
        .init(name: "n_jobs", kind: .integer(1...1024), native: "nthread"),
        .init(name: "early_stopping_rounds", kind: .integer(1...100_000)),
        .init(name: "eval_metric", kind: .choice(["logloss", "error", "auc", "aucpr", "mlogloss", "merror", "rmse", "mae"])),
    ]
    static let forestRules: [HyperparameterRule] = boostingRules.filter {
        !["learning_rate", "early_stopping_rounds", "eval_metric", "grow_policy", "max_leaves"].contains($0.name)
    }

    var forest: Bool
    /// Boosting rounds (boosting) or trees in the one round (forest).
    var estimators: Int
    var earlyStoppingRounds: Int?
    var evalMetric: String?
    /// XGBoost's native parameters, by native name.
    var native: [String: String]

    init(_ hyperparameters: [String: JSONValue], forest: Bool) throws {
        let rules = forest ? Self.forestRules : Self.boostingRules
        let checked = try HyperparameterRule.check(
            hyperparameters, against: rules, algorithm: forest ? "random_forest" : "xgboost")
        self.forest = forest
        estimators = checked["n_estimators"].flatMap { Int($0) } ?? 100
        earlyStoppingRounds = checked["early_stopping_rounds"].flatMap { Int($0) }
        evalMetric = checked["eval_metric"]
        var native: [String: String] = forest
            ? ["eta": "1", "subsample": "0.8", "colsample_bynode": "0.8", "lambda": "0.00001",
               "num_parallel_tree": String(estimators)]
            : [:]
        native["seed"] = "0"
        // Always named: left to XGBoost 1.7, a fit ran its rounds 1.3× slower than with the same count given.
        native["nthread"] = String(XGBoostThreads.perFit)
        // XGBoost 2.0 and later grow trees from histograms by default; Debian's 1.7 would pick the exact greedy
        // method for small data, ten times slower on digits for no better accuracy. Users may still choose.
        native["tree_method"] = "hist"
        for rule in rules {
            if let value = checked[rule.name], let name = rule.native { native[name] = value }
        }
        self.native = native
    }
}

/// How many OpenMP threads one fit uses when its `n_jobs` is not given: every core, shared by the job workers that
/// may train at once. Two workers each fitting on every core of a small machine put more OpenMP threads than cores
/// to work, and libgomp then sleeps between parallel regions instead of spinning: a fit can take several times as
/// long (digits: 0.17 s alone, 0.8 s beside another team).
public enum XGBoostThreads {
    private static let configured = Atomic<Int>(0)

    /// Shares the cores among `workers` concurrent fits (call once at start). One worker keeps XGBoost's default.
    public static func configure(workers: Int) {
        let cores = ProcessInfo.processInfo.activeProcessorCount
        configured.store(workers > 1 ? max(1, cores / workers) : 0, ordering: .relaxed)
    }

    /// The thread count for a fit: every core, or a worker's share of them.
    static var perFit: Int {
        let threads = configured.load(ordering: .relaxed)
        return threads > 0 ? threads : ProcessInfo.processInfo.activeProcessorCount
    }
}

// MARK: Training

enum XGBoostTraining {
    /// The threads fits run on: at most one a job worker. Each keeps its OpenMP team between fits instead of
    /// starting one for every fit on a new thread (digits: 168 ms against 190 ms; wine 13 ms against 20 ms). As
    /// many teams as workers, each of `XGBoostThreads.perFit` threads, never put more OpenMP threads to work
    /// than there are cores (see `OpenMP`).
    static let fitThreads = DedicatedThread.Pool(name: "xgboost-train")

    static func run(
        _ settings: XGBoostSettings, features: FeatureMatrix, labels: [Double], classCount: Int,
        task: LearningTask, validation: (features: FeatureMatrix, labels: [Double])?, progress: @escaping LearnerProgress
    ) async throws -> any TrainedModel {
        guard task == .classification || task == .regression else {
            throw NeuroplexError(
                .invalidInput, code: TrainingCodes.unsupportedTask,
                "\(settings.forest ? "random_forest" : "xgboost") learns classification and regression, not \(task.rawValue)")
        }
        guard features.rows > 0, features.columns > 0 else {
            throw NeuroplexError(.invalidInput, code: TrainingCodes.trainingFailed, "there are no rows or no features to train on")
        }
        if task == .classification && classCount < 2 {
            throw NeuroplexError(
                .invalidInput, code: TrainingCodes.trainingFailed, "classification needs at least two classes in the label")
        }
        // The whole fit runs on one thread outside Swift's pool, kept for the next fit (see `fitThreads`).
        return try await fitThreads.run { cancellation in
            try fit(settings, features: features, labels: labels, classCount: classCount, task: task,
                    validation: validation, progress: progress, cancellation: cancellation)
        }
    }

    private static func fit(
        _ settings: XGBoostSettings, features: FeatureMatrix, labels: [Double], classCount: Int,
        task: LearningTask, validation: (features: FeatureMatrix, labels: [Double])?, progress: @escaping LearnerProgress,
        cancellation: DedicatedThread.Cancellation
    ) throws -> XGBoostModel {
        let train = try DMatrix(features, labels: labels)
        var valid: DMatrix?
        if let validation, validation.features.rows > 0 {
            valid = try DMatrix(validation.features, labels: validation.labels)
        }
        let booster = try Booster(cache: [train] + (valid.map { [$0] } ?? []))
        var parameters = settings.native
        var metrics: [String]
        switch task {
        case .classification where classCount == 2:
            parameters["objective"] = "binary:logistic"
            metrics = ["error", "auc", "logloss"]
        case .classification:
            parameters["objective"] = "multi:softprob"
            parameters["num_class"] = String(classCount)
            metrics = ["merror", "mlogloss"]
        default:
            parameters["objective"] = "reg:squarederror"
            metrics = ["mae", "rmse"]
        }
        if let chosen = settings.evalMetric { metrics = [chosen] }
        for (name, value) in parameters.sorted(by: { $0.key < $1.key }) { try booster.set(name, value) }
        for metric in metrics { try booster.set("eval_metric", metric) }

        let rounds = settings.forest ? 1 : settings.estimators
        // The last metric decides early stopping, as in XGBoost; auc and aucpr grow, the others shrink.
        let stopMetric = metrics.last!
        let greaterIsBetter = stopMetric == "auc" || stopMetric == "aucpr"
        var best: (round: Int, value: Double)?
        for round in 0..<rounds {
            try cancellation.check()
            try booster.update(round: round, train)
            var scores: [String: Double] = [:]
            if let valid { scores = try booster.evaluate(round: round, valid) }
            progress(round + 1, rounds, scores)
            if let patience = settings.earlyStoppingRounds, let value = scores[stopMetric] {
                if let current = best, greaterIsBetter ? value <= current.value : value >= current.value {
                    if round - current.round >= patience { break }
                } else {
                    best = (round, value)
                }
            }
        }
        try cancellation.check()
        if let best, settings.earlyStoppingRounds != nil {
            let trained = try booster.rounds()
            if best.round + 1 < trained { return try XGBoostModel(booster: try booster.slice(rounds: best.round + 1)) }
        }
        // The training rows' predictions come from XGBoost's prediction cache, which the rounds kept up to date
        // (digits: 0.2 ms against 35 ms for predicting them again). Kept for training sets the drift reference
        // profiles whole; a larger one is sampled and predicted again.
        let keep = features.rows <= XGBoostModel.trainingPredictionsLimit
        return try XGBoostModel(booster: booster, training: keep ? (train, features.rows) : nil)
    }
}

// MARK: Handles

/// OpenMP's thread count for the calling thread. XGBoost calls made outside a training (loading a model, saving it,
/// predicting) run on Swift's pool threads, which never exit: an OpenMP team started on one of them stays, and once
/// OpenMP manages more threads than there are cores it stops spinning between parallel regions, which made every
/// later two-thread training several times slower. Loading a model runs a parallel loop before any `nthread`
/// setting applies, so these calls set the calling thread's own OpenMP default to one thread first.
enum OpenMP {
    private typealias SetNumThreads = @convention(c) (Int32) -> Void

    /// `omp_set_num_threads` from the libgomp XGBoost brought in (nil if the process has none).
    nonisolated(unsafe) private static let setNumThreads: SetNumThreads? = {
        guard let symbol = dlsym(nil, "omp_set_num_threads") else { return nil }
        return unsafeBitCast(symbol, to: SetNumThreads.self)
    }()

    /// Makes parallel regions started from this thread run on it alone.
    static func oneThreadHere() { setNumThreads?(1) }
}

/// Throws XGBoost's last error when a C call fails.
func xgboostCheck(_ status: Int32, _ what: String, kind: NeuroplexError.Kind = .internal) throws {
    guard status == 0 else {
        let message = XGBGetLastError().map { String(cString: $0) } ?? "unknown error"
        throw NeuroplexError(kind, code: kind == .internal ? TrainingCodes.trainingFailed : TrainingCodes.invalidModel,
                             "XGBoost could not \(what): \(message)")
    }
}

/// A dense XGBoost matrix (NaN marks a missing value), freed with the object.
final class DMatrix {
    let handle: DMatrixHandle

    init(_ features: FeatureMatrix, labels: [Double]?) throws {
        let floats = features.values.map { Float($0) }
        var out: DMatrixHandle?
        try floats.withUnsafeBufferPointer { buffer in
            try xgboostCheck(
                XGDMatrixCreateFromMat(
                    buffer.baseAddress, bst_ulong(features.rows), bst_ulong(features.columns), Float.nan, &out),
                "build a matrix")
        }
        guard let out else { throw NeuroplexError(.internal, code: .internal, "XGBoost returned no matrix") }
        handle = out
        if let labels {
            let values = labels.map { Float($0) }
            try values.withUnsafeBufferPointer { buffer in
                try xgboostCheck(
                    XGDMatrixSetFloatInfo(handle, "label", buffer.baseAddress, bst_ulong(values.count)),
                    "set the labels")
            }
        }
    }

    deinit { XGDMatrixFree(handle) }
}

/// An XGBoost booster, freed with the object. XGBoost's booster is not safe for concurrent use, so every call
/// takes the lock.
final class Booster: @unchecked Sendable {
    let handle: BoosterHandle
    private let lock = Mutex(())
    /// The matrices the booster caches; kept alive as long as it is.
    private let cache: [DMatrix]

    init(cache: [DMatrix]) throws {
        var handles: [DMatrixHandle?] = cache.map { $0.handle }
        var out: BoosterHandle?
        try xgboostCheck(XGBoosterCreate(&handles, bst_ulong(handles.count), &out), "create a booster")
        guard let out else { throw NeuroplexError(.internal, code: .internal, "XGBoost returned no booster") }
        handle = out
        self.cache = cache
    }

    init(handle: BoosterHandle) {
        self.handle = handle
        cache = []
    }

    /// A booster read from a saved model (JSON or UBJSON).
    convenience init(model bytes: [UInt8]) throws {
        var out: BoosterHandle?
        try xgboostCheck(XGBoosterCreate(nil, 0, &out), "create a booster")
        guard let out else { throw NeuroplexError(.internal, code: .internal, "XGBoost returned no booster") }
        self.init(handle: out)
        // The load reads the trees in a parallel loop: on the caller's thread alone (see `OpenMP`).
        OpenMP.oneThreadHere()
        try XGBoostCompatibility.forVersion17(bytes).withUnsafeBytes { buffer in
            try xgboostCheck(
                XGBoosterLoadModelFromBuffer(handle, buffer.baseAddress, bst_ulong(buffer.count)), "read the model",
                kind: .invalidInput)
        }
    }

    deinit { XGBoosterFree(handle) }

    func set(_ name: String, _ value: String) throws {
        try lock.withLock { _ in try xgboostCheck(XGBoosterSetParam(handle, name, value), "set \(name)", kind: .invalidInput) }
    }

    func update(round: Int, _ train: DMatrix) throws {
        try lock.withLock { _ in try xgboostCheck(XGBoosterUpdateOneIter(handle, Int32(round), train.handle), "train a round") }
    }

    /// The validation metrics after `round`, by metric name (`logloss`, `auc`, ...).
    func evaluate(round: Int, _ matrix: DMatrix) throws -> [String: Double] {
        let text: String = try lock.withLock { _ in
            var handles: [DMatrixHandle?] = [matrix.handle]
            let name = strdup("validation")
            defer { free(name) }
            var names: [UnsafePointer<CChar>?] = [UnsafePointer(name)]
            var out: UnsafePointer<CChar>?
            try xgboostCheck(XGBoosterEvalOneIter(handle, Int32(round), &handles, &names, 1, &out), "evaluate a round")
            return out.map { String(cString: $0) } ?? ""
        }
        // "[3]\tvalidation-logloss:0.21\tvalidation-auc:0.97"
        var metrics: [String: Double] = [:]
        for part in text.split(separator: "\t").dropFirst() {
            guard let colon = part.lastIndex(of: ":"), let value = Double(part[part.index(after: colon)...]) else {
                continue
            }
            let name = part[..<colon]
            metrics[String(name.hasPrefix("validation-") ? name.dropFirst("validation-".count) : name)] = value
        }
        return metrics
    }

    func rounds() throws -> Int {
        try lock.withLock { _ in
            var count: Int32 = 0
            try xgboostCheck(XGBoosterBoostedRounds(handle, &count), "count the rounds")
            return Int(count)
        }
    }

    /// A new booster with the first `rounds` rounds.
    func slice(rounds: Int) throws -> Booster {
        try lock.withLock { _ in
            var out: BoosterHandle?
            try xgboostCheck(XGBoosterSlice(handle, 0, Int32(rounds), 1, &out), "keep the best rounds")
            guard let out else { throw NeuroplexError(.internal, code: .internal, "XGBoost returned no booster") }
            return Booster(handle: out)
        }
    }

    /// The raw predictions: one value per row, or `classCount` per row for multi-class probabilities.
    func predict(_ matrix: DMatrix) throws -> [Float] { try output(matrix, type: 0, "predict").values }

    /// Exact TreeSHAP contributions: the values and their shape, rows × features + 1 (the bias last), or rows ×
    /// classes × features + 1 for a multi-class model.
    func contributions(_ matrix: DMatrix) throws -> (values: [Float], shape: [Int]) {
        try output(matrix, type: 2, "explain")
    }

    /// `XGBoosterPredictFromDMatrix` of one prediction type (0 values, 2 contributions): the values and their shape.
    private func output(_ matrix: DMatrix, type: Int, _ what: String) throws -> (values: [Float], shape: [Int]) {
        OpenMP.oneThreadHere()
        return try lock.withLock { _ in
            var shape: UnsafePointer<bst_ulong>?
            var dimension: bst_ulong = 0
            var result: UnsafePointer<Float>?
            let config = #"{"type": \#(type), "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#
            try xgboostCheck(XGBoosterPredictFromDMatrix(handle, matrix.handle, config, &shape, &dimension, &result), what)
            guard let shape, let result else { return ([], []) }
            let dimensions = (0..<Int(dimension)).map { Int(shape[$0]) }
            return (Array(UnsafeBufferPointer(start: result, count: dimensions.reduce(1, *))), dimensions)
        }
    }

    /// XGBoost's feature scores of one importance type (`weight`, `gain`, `cover`, `total_gain`, `total_cover`), by
    /// feature index; features never used in a split are absent.
    func featureScores(_ type: String) throws -> [Int: Double] {
        try lock.withLock { _ in
            var count: bst_ulong = 0
            var names: UnsafeMutablePointer<UnsafePointer<CChar>?>?
            var dimension: bst_ulong = 0
            var shape: UnsafePointer<bst_ulong>?
            var scores: UnsafePointer<Float>?
            try xgboostCheck(
                XGBoosterFeatureScore(
                    handle, "{\"importance_type\": \"\(type)\"}", &count, &names, &dimension, &shape, &scores),
                "read feature importance")
            var result: [Int: Double] = [:]
            guard let names, let scores else { return result }
            for index in 0..<Int(count) {
                guard let name = names[index].map({ String(cString: $0) }), let feature = Int(name.dropFirst()) else { continue }
                result[feature] = Double(scores[index])
            }
            return result
        }
    }

    /// The model as XGBoost's JSON (`json`) or UBJSON (`ubj`).
    func save(format: String = "json") throws -> [UInt8] {
        OpenMP.oneThreadHere()
        return try lock.withLock { _ in
            var length: bst_ulong = 0
            var bytes: UnsafePointer<CChar>?
            try xgboostCheck(
                XGBoosterSaveModelToBuffer(handle, "{\"format\": \"\(format)\"}", &length, &bytes), "save the model")
            guard let bytes else { return [] }
            return bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                Array(UnsafeBufferPointer(start: $0, count: Int(length)))
            }
        }
    }

    /// The booster's configuration (objective, number of classes, ...), as JSON.
    func configuration() throws -> JSONValue {
        let text: String = try lock.withLock { _ in
            var length: bst_ulong = 0
            var bytes: UnsafePointer<CChar>?
            try xgboostCheck(XGBoosterSaveJsonConfig(handle, &length, &bytes), "read the configuration")
            guard let bytes else { return "{}" }
            return bytes.withMemoryRebound(to: UInt8.self, capacity: Int(length)) {
                String(decoding: UnsafeBufferPointer(start: $0, count: Int(length)), as: UTF8.self)
            }
        }
        return try JSONValue.parse(text)
    }
}

// MARK: Model

/// A trained or imported XGBoost model.
public final class XGBoostModel: TrainedModel, @unchecked Sendable {
    let booster: Booster
    /// XGBoost's objective, such as `binary:logistic`, `multi:softprob` or `reg:squarederror`.
    public let objective: String
    /// The number of classes (2 for binary classification, 1 for regression).
    public let classCount: Int
    /// XGBoost's output for the rows it was trained on, when it was trained here on at most
    /// ``trainingPredictionsLimit`` rows (see ``TrainedModel/trainingPredictions``).
    private var trainingOutput: (raw: [Float], rows: Int)?
    static let trainingPredictionsLimit = 100_000

    public var trainingPredictions: [[Double]]? { trainingOutput.map { shaped($0.raw, rows: $0.rows) } }

    /// - Parameter training: the training matrix and its row count, still in the booster's prediction cache.
    init(booster: Booster, training: (matrix: DMatrix, rows: Int)? = nil) throws {
        self.booster = booster
        // Predictions run on one thread, the caller's. Any other count would give each calling thread (Swift's
        // pool threads never exit) an OpenMP team of its own; once OpenMP manages more threads than there are
        // cores it stops spinning between parallel regions and sleeps, and a later training on two threads
        // became five times slower (0.8 s against 0.15 s for 100 rounds on digits).
        try booster.set("nthread", "1")
        let configuration = try booster.configuration()
        let learner = configuration["learner"]
        guard case .string(let objective)? = learner?["objective"]?["name"] else {
            throw NeuroplexError(.invalidInput, code: TrainingCodes.invalidModel, "the XGBoost model names no objective")
        }
        self.objective = objective
        let declared: Int
        switch learner?["learner_model_param"]?["num_class"] {
        case .string(let text)?: declared = Int(text) ?? 0
        case let value?: declared = Int(value.numberValue ?? 0)
        default: declared = 0
        }
        if objective.hasPrefix("multi:") {
            classCount = max(declared, 2)
        } else if objective.hasPrefix("binary:") {
            classCount = 2
        } else {
            classCount = 1
        }
        if let training, training.rows > 0 {
            trainingOutput = (try booster.predict(training.matrix), training.rows)
        }
    }

    /// Reads a model saved as XGBoost JSON or UBJSON.
    /// - Throws: `invalid_model` (422) when XGBoost cannot read it.
    public convenience init(artifact: [UInt8]) throws {
        try self.init(booster: try Booster(model: artifact))
    }

    public var task: LearningTask {
        objective.hasPrefix("binary:") || objective.hasPrefix("multi:") ? .classification : .regression
    }

    public func predict(_ features: FeatureMatrix) throws -> [[Double]] {
        guard features.rows > 0 else { return [] }
        return shaped(try booster.predict(try DMatrix(features, labels: nil)), rows: features.rows)
    }

    /// XGBoost's raw output for `rows` rows as ``TrainedModel/predict(_:)`` answers.
    private func shaped(_ raw: [Float], rows: Int) -> [[Double]] {
        switch objective {
        case "multi:softprob":
            return (0..<rows).map { row in
                (0..<classCount).map { Double(raw[row * classCount + $0]) }
            }
        case "multi:softmax":
            return raw.map { index in (0..<classCount).map { Int(index) == $0 ? 1 : 0 } }
        case _ where objective.hasPrefix("binary:"):
            return raw.map { [1 - Double($0), Double($0)] }
        default:
            return raw.map { [Double($0)] }
        }
    }

    /// The model file stored with a version: XGBoost's UBJSON, its own default since 2.1 (digits' 1,000 trees:
    /// 7.5–12 ms to write against 12–19 ms for its JSON, and 11 % larger).
    public func artifact() throws -> (bytes: [UInt8], mediaType: String) {
        (try booster.save(format: "ubj"), "application/ubjson")
    }

    /// The model as XGBoost's JSON, which the native evaluator (``CompiledTreeEnsemble``) compiles.
    public func json() throws -> [UInt8] { try booster.save(format: "json") }

    /// Feature scores by feature index: `weight` (splits), `gain` and `cover` (means per split), `total_gain`,
    /// `total_cover`.
    public func importance(_ type: String) throws -> [Int: Double] { try booster.featureScores(type) }

    /// Per row and output (one for binary and regression models, one per class otherwise): the exact TreeSHAP
    /// contribution of each feature to the raw margin, then the bias. Each list sums to the margin.
    public func contributions(_ features: FeatureMatrix) throws -> [[[Double]]] {
        guard features.rows > 0 else { return [] }
        let (values, shape) = try booster.contributions(try DMatrix(features, labels: nil))
        let width = shape.last ?? (features.columns + 1)
        let groups = shape.count == 3 ? shape[1] : 1
        return (0..<features.rows).map { row in
            (0..<groups).map { group in
                let start = (row * groups + group) * width
                return values[start..<start + width].map(Double.init)
            }
        }
    }
}

/// Reading JSON models written by XGBoost 2 and 3 with Debian's XGBoost 1.7.
enum XGBoostCompatibility {
    /// Whether a model file is XGBoost's JSON rather than its UBJSON. Both open an object with `{`; JSON's first
    /// key is quoted, UBJSON's starts with the type of its length.
    static func isJSON(_ bytes: [UInt8]) -> Bool {
        let text = bytes.prefix(64).drop { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }
        guard text.first == UInt8(ascii: "{") else { return false }
        let next = text.dropFirst().first { $0 != 0x20 && $0 != 0x0A && $0 != 0x0D && $0 != 0x09 }
        return next == UInt8(ascii: "\"") || next == UInt8(ascii: "}")
    }

    /// XGBoost ≥ 2 writes `base_score` as a one-element array in a string (`"[4.955E-1]"`); 1.7 reads such a
    /// string as 0.5 (predictions off by up to ~0.005 in probability). This rewrites the one-element form to the
    /// plain number, and refuses a per-class intercept (XGBoost ≥ 3.1's multi-class models), which 1.7 cannot hold.
    static func forVersion17(_ bytes: [UInt8]) throws -> [UInt8] {
        guard isJSON(bytes) else { return bytes }
        let marker = Array(#""base_score":"["#.utf8)
        guard let start = bytes.firstRange(of: marker) else { return bytes }
        guard let close = bytes[start.upperBound...].firstIndex(of: UInt8(ascii: "]")) else { return bytes }
        let inner = bytes[start.upperBound..<close]
        if inner.contains(UInt8(ascii: ",")) {
            throw NeuroplexError(
                .invalidInput, code: TrainingCodes.invalidModel,
                "the model has one intercept per class (XGBoost ≥ 3.1); this server's XGBoost (1.7) cannot read it")
        }
        // "base_score":"[x]" → "base_score":"x"
        return Array(bytes[..<(start.upperBound - 1)]) + inner + bytes[(close + 1)...]
    }

    /// A number written as `x` or `[x]`.
    static func scalar(_ text: String) -> String {
        text.hasPrefix("[") && text.hasSuffix("]") && !text.contains(",") ? String(text.dropFirst().dropLast()) : text
    }
}
