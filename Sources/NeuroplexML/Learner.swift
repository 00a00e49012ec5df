public import NeuroplexCore

/// Numeric features for learning: `rows` × `columns` values, row-major (missing values already imputed).
public struct FeatureMatrix: Sendable, Equatable {
    public var rows: Int
    public var columns: Int
    /// The value of row `r`, column `c` is `values[r * columns + c]`.
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "a feature matrix needs rows × columns values")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public subscript(row: Int, column: Int) -> Double { values[row * columns + column] }
}

/// What a model learns.
public enum LearningTask: String, Sendable, Codable, CaseIterable {
    case classification, regression, anomaly
}

/// Training progress: `current` of `total` rounds or iterations, with the latest evaluation metrics.
public typealias LearnerProgress = @Sendable (_ current: Int, _ total: Int, _ metrics: [String: Double]) -> Void

/// One learning algorithm: checks its hyperparameters (scikit-learn's names), trains, and loads saved models.
public protocol Learner: Sendable {
    /// The algorithm's name in the API: `xgboost`, `random_forest`, `logistic_regression`, `kmeans`,
    /// `isolation_forest`.
    static var algorithm: String { get }
    /// The tasks it can learn.
    static var tasks: Set<LearningTask> { get }
    /// Throws a `NeuroplexError` with status 400 and code `invalid_hyperparameter` naming an unknown
    /// hyperparameter and listing the allowed names, or naming a value out of its range.
    static func validate(_ hyperparameters: [String: JSONValue]) throws
    /// Trains on `features` with `labels`: class indices `0..<classCount` for classification, targets for
    /// regression, ignored for anomaly detection. `validation`, when given, drives early stopping and per-round
    /// metrics. Reports progress at least once per round or iteration, and checks for cancellation at least every
    /// 100 ms (throwing `CancellationError`).
    static func train(
        features: FeatureMatrix, labels: [Double], classCount: Int, task: LearningTask,
        hyperparameters: [String: JSONValue], validation: (features: FeatureMatrix, labels: [Double])?,
        progress: @escaping LearnerProgress
    ) async throws -> any TrainedModel
    /// A model from the artifact it saved.
    static func load(_ artifact: [UInt8]) throws -> any TrainedModel
}

/// A trained model.
public protocol TrainedModel: Sendable {
    /// Per row: the class probabilities (classification, `classCount` each), the predicted value (regression,
    /// one each), or the anomaly score (anomaly detection, one each, higher is more anomalous).
    func predict(_ features: FeatureMatrix) throws -> [[Double]]
    /// The native artifact (XGBoost's UBJSON or JSON; JSON for the Swift learners) and its media type.
    func artifact() throws -> (bytes: [UInt8], mediaType: String)
    /// `predict` of the rows it was trained on, in their order, when the learner kept them from training (`nil`
    /// otherwise: predict them).
    var trainingPredictions: [[Double]]? { get }
}

extension TrainedModel {
    public var trainingPredictions: [[Double]]? { nil }
}
