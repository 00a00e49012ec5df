import Foundation
public import NeuroplexCore

/// Logistic regression with an optional L2 penalty, binary or multinomial (softmax), as scikit-learn's
/// `LogisticRegression(solver="lbfgs")`.
///
/// It minimises the mean (sample-weighted) log loss plus `‖W‖² / (2·C·Σweights)` — scikit-learn's objective
/// divided by the total sample weight, which leaves the minimum where it was — over the coefficients (the intercept
/// is not penalised) with ``LBFGS``. Two classes get one coefficient vector (the sigmoid), more get one per class.
///
/// Hyperparameters (scikit-learn's names and defaults): `C` (> 0, 1.0), `max_iter` (≥ 1, 100), `tol` (> 0, 1e-4),
/// `fit_intercept` (true), `class_weight` (null or `"balanced"`), `penalty` (`"l2"`, or `"none"`/null for none).
/// Features are used as given: standardise them first (the preprocessing does) for fast convergence.
public struct LogisticRegressionLearner: Learner {
    public static let algorithm = "logistic_regression"
    public static let tasks: Set<LearningTask> = [.classification]
    static let names = ["C", "class_weight", "fit_intercept", "max_iter", "penalty", "tol"]

    struct Settings {
        var inverseRegularization = 1.0
        var maxIterations = 100
        var tolerance = 1e-4
        var fitIntercept = true
        var balanced = false
        var penalized = true
    }

    static func settings(_ hyperparameters: [String: JSONValue]) throws -> Settings {
        let reader = try HyperparameterReader(algorithm: algorithm, hyperparameters, allowed: names)
        var settings = Settings()
        settings.inverseRegularization = try reader.double("C", default: 1.0, above: 0)
        settings.maxIterations = try reader.integer("max_iter", default: 100, in: 1...)
        settings.tolerance = try reader.double("tol", default: 1e-4, above: 0)
        settings.fitIntercept = try reader.bool("fit_intercept", default: true)
        switch hyperparameters["class_weight"] {
        case nil, .null?: settings.balanced = false
        case .string("balanced")?: settings.balanced = true
        default: throw reader.invalid("class_weight", "must be null or \"balanced\"")
        }
        switch hyperparameters["penalty"] {
        case nil, .string("l2")?: settings.penalized = true
        case .null?, .string("none")?: settings.penalized = false
        default: throw reader.invalid("penalty", "must be \"l2\" or \"none\" (null)")
        }
        return settings
    }

    public static func validate(_ hyperparameters: [String: JSONValue]) throws {
        _ = try settings(hyperparameters)
    }

    public static func train(
        features: FeatureMatrix, labels: [Double], classCount: Int, task: LearningTask,
        hyperparameters: [String: JSONValue], validation: (features: FeatureMatrix, labels: [Double])?,
        progress: @escaping LearnerProgress
    ) async throws -> any TrainedModel {
        let settings = try settings(hyperparameters)
        try LearnerInput.checkTask(task, tasks, algorithm: algorithm)
        try LearnerInput.checkTraining(features, algorithm: algorithm)
        let classes = try LearnerInput.classIndices(labels, rows: features.rows, classCount: classCount, algorithm: algorithm)
        if let validation {
            try LearnerInput.checkColumns(validation.features, expected: features.columns, algorithm: algorithm)
            _ = try LearnerInput.classIndices(
                validation.labels, rows: validation.features.rows, classCount: classCount, algorithm: algorithm)
        }
        try Task.checkCancellation()

        let n = features.rows, d = features.columns
        let outputs = classCount == 2 ? 1 : classCount
        let stride = d + 1  // each output's coefficients, then its intercept

        // Sample weights, divided by their total so that the loss is a mean.
        var counts = [Int](repeating: 0, count: classCount)
        for c in classes { counts[c] += 1 }
        let present = counts.filter { $0 > 0 }.count
        var weights = [Double](repeating: 1, count: n)
        if settings.balanced {
            for i in 0..<n { weights[i] = Double(n) / (Double(present) * Double(counts[classes[i]])) }
        }
        let totalWeight = weights.reduce(0, +)
        for i in 0..<n { weights[i] /= totalWeight }
        let alpha = settings.penalized ? 1 / (settings.inverseRegularization * totalWeight) : 0

        var scores = [Double](repeating: 0, count: outputs)
        let fitIntercept = settings.fitIntercept
        func evaluate(_ theta: UnsafeBufferPointer<Double>, _ gradient: UnsafeMutableBufferPointer<Double>) throws -> Double {
            try Task.checkCancellation()
            var loss = 0.0
            for i in 0..<gradient.count { gradient[i] = 0 }
            // Cancellation is checked every 4096 rows as well, so that a large matrix cannot delay it by seconds.
            try features.values.withUnsafeBufferPointer { xs in
                try weights.withUnsafeBufferPointer { w in
                    try classes.withUnsafeBufferPointer { y in
                        try scores.withUnsafeMutableBufferPointer { z in
                            if outputs == 1 {
                                for i in 0..<n {
                                    if i & 0xFFF == 0xFFF { try Task.checkCancellation() }
                                    let row = i * d
                                    var score = theta[d]
                                    for j in 0..<d { score += theta[j] * xs[row + j] }
                                    let positive = y[i] == 1
                                    // log(1 + e^z) − y·z, without overflow.
                                    let softplus = score > 0 ? score + log1p(exp(-score)) : log1p(exp(score))
                                    loss += w[i] * (positive ? softplus - score : softplus)
                                    let residual = w[i] * (Self.sigmoid(score) - (positive ? 1 : 0))
                                    for j in 0..<d { gradient[j] += residual * xs[row + j] }
                                    gradient[d] += residual
                                }
                            } else {
                                for i in 0..<n {
                                    if i & 0xFFF == 0xFFF { try Task.checkCancellation() }
                                    let row = i * d
                                    var largest = -Double.infinity
                                    for k in 0..<outputs {
                                        let base = k * stride
                                        var score = theta[base + d]
                                        for j in 0..<d { score += theta[base + j] * xs[row + j] }
                                        z[k] = score
                                        largest = max(largest, score)
                                    }
                                    let label = y[i]
                                    let labelScore = z[label] - largest
                                    var total = 0.0
                                    for k in 0..<outputs {
                                        let e = exp(z[k] - largest)
                                        z[k] = e
                                        total += e
                                    }
                                    // log Σ e^z − z_y, with z shifted by its largest value.
                                    loss += w[i] * (log(total) - labelScore)
                                    for k in 0..<outputs {
                                        let residual = w[i] * (z[k] / total - (k == label ? 1 : 0))
                                        let base = k * stride
                                        for j in 0..<d { gradient[base + j] += residual * xs[row + j] }
                                        gradient[base + d] += residual
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for k in 0..<outputs {
                let base = k * stride
                for j in 0..<d {
                    loss += 0.5 * alpha * theta[base + j] * theta[base + j]
                    gradient[base + j] += alpha * theta[base + j]
                }
                if !fitIntercept { gradient[base + d] = 0 }
            }
            return loss
        }

        var optimizer = LBFGS()
        optimizer.maxIterations = settings.maxIterations
        optimizer.gradientTolerance = settings.tolerance
        var theta = [Double](repeating: 0, count: outputs * stride)
        let result = try optimizer.minimize(&theta, evaluate: evaluate) { iteration, point, value, gradientMax in
            try Task.checkCancellation()
            var metrics = ["loss": value, "gradient_max": gradientMax]
            if let validation, validation.features.rows > 0 {
                let model = LogisticRegressionModel(classCount: classCount, featureCount: d, parameters: point)
                metrics.merge(model.evaluate(validation.features, labels: validation.labels)) { $1 }
            }
            progress(iteration, settings.maxIterations, metrics)
        }
        var model = LogisticRegressionModel(classCount: classCount, featureCount: d, parameters: theta)
        model.iterations = result.iterations
        model.stop = result.stop.rawValue
        if result.iterations == 0 { progress(0, settings.maxIterations, ["loss": result.value]) }
        return model
    }

    public static func load(_ artifact: [UInt8]) throws -> any TrainedModel {
        try LogisticRegressionModel(artifact: artifact)
    }

    @inline(__always)
    static func sigmoid(_ z: Double) -> Double {
        if z >= 0 { return 1 / (1 + exp(-z)) }
        let e = exp(z)
        return e / (1 + e)
    }
}

/// A trained ``LogisticRegressionLearner`` model: per row, the probability of each class.
public struct LogisticRegressionModel: TrainedModel {
    public let classCount: Int
    public let featureCount: Int
    /// Per output (one for two classes, else one per class): `featureCount` coefficients, then the intercept.
    let parameters: [Double]
    /// L-BFGS iterations run, and why it stopped (see ``LBFGS/Stop``); informational.
    public internal(set) var iterations = 0
    public internal(set) var stop = ""

    init(classCount: Int, featureCount: Int, parameters: [Double]) {
        self.classCount = classCount
        self.featureCount = featureCount
        self.parameters = parameters
    }

    var outputs: Int { classCount == 2 ? 1 : classCount }

    /// The coefficients of output `k` (`k` = 0 only, for two classes: those of class 1).
    public func coefficients(_ k: Int) -> [Double] {
        Array(parameters[k * (featureCount + 1)..<(k * (featureCount + 1) + featureCount)])
    }

    /// The intercept of output `k`.
    public func intercept(_ k: Int) -> Double { parameters[k * (featureCount + 1) + featureCount] }

    public func predict(_ features: FeatureMatrix) throws -> [[Double]] {
        try LearnerInput.checkColumns(features, expected: featureCount, algorithm: LogisticRegressionLearner.algorithm)
        let flat = probabilities(features)
        return (0..<features.rows).map { Array(flat[$0 * classCount..<($0 + 1) * classCount]) }
    }

    /// Class probabilities, `rows × classCount`, row-major.
    func probabilities(_ features: FeatureMatrix) -> [Double] {
        let n = features.rows, d = featureCount, k = classCount, outputs = outputs, stride = d + 1
        var result = [Double](repeating: 0, count: n * k)
        features.values.withUnsafeBufferPointer { xs in
            parameters.withUnsafeBufferPointer { theta in
                result.withUnsafeMutableBufferPointer { out in
                    for i in 0..<n {
                        let row = i * d
                        if outputs == 1 {
                            var score = theta[d]
                            for j in 0..<d { score += theta[j] * xs[row + j] }
                            let p = LogisticRegressionLearner.sigmoid(score)
                            out[i * 2] = 1 - p
                            out[i * 2 + 1] = p
                        } else {
                            var largest = -Double.infinity
                            for c in 0..<outputs {
                                let base = c * stride
                                var score = theta[base + d]
                                for j in 0..<d { score += theta[base + j] * xs[row + j] }
                                out[i * k + c] = score
                                largest = max(largest, score)
                            }
                            var total = 0.0
                            for c in 0..<outputs {
                                let e = exp(out[i * k + c] - largest)
                                out[i * k + c] = e
                                total += e
                            }
                            for c in 0..<outputs { out[i * k + c] /= total }
                        }
                    }
                }
            }
        }
        return result
    }

    /// Log loss and accuracy on labelled rows: the per-iteration validation metrics.
    func evaluate(_ features: FeatureMatrix, labels: [Double]) -> [String: Double] {
        let p = probabilities(features)
        var logLoss = 0.0, correct = 0
        for i in 0..<features.rows {
            let label = Int(labels[i])
            var best = 0
            for c in 1..<classCount where p[i * classCount + c] > p[i * classCount + best] { best = c }
            if best == label { correct += 1 }
            logLoss -= log(max(p[i * classCount + label], 1e-15))
        }
        let n = Double(features.rows)
        return ["validation_log_loss": logLoss / n, "validation_accuracy": Double(correct) / n]
    }

    public func artifact() throws -> (bytes: [UInt8], mediaType: String) {
        var artifact = LearnerArtifact(algorithm: LogisticRegressionLearner.algorithm)
        artifact["class_count"] = .int(Int64(classCount))
        artifact["feature_count"] = .int(Int64(featureCount))
        artifact["parameters"] = LearnerArtifact.array(parameters)
        artifact["iterations"] = .int(Int64(iterations))
        return (artifact.bytes, LearnerArtifact.mediaType)
    }

    init(artifact bytes: [UInt8]) throws {
        let artifact = try LearnerArtifact(parsing: bytes, algorithm: LogisticRegressionLearner.algorithm)
        let classCount = try artifact.integer("class_count"), featureCount = try artifact.integer("feature_count")
        guard classCount >= 2, featureCount >= 1 else {
            throw LearnerArtifact.corrupt(artifact.algorithm, "it needs at least two classes and one feature")
        }
        let outputs = classCount == 2 ? 1 : classCount
        self.init(
            classCount: classCount, featureCount: featureCount,
            parameters: try artifact.doubles("parameters", count: outputs * (featureCount + 1)))
        iterations = (try? artifact.integer("iterations")) ?? 0
    }
}
