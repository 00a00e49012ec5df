import Foundation
import NeuroplexCore
@testable import NeuroplexML
import Testing

/// The native logistic regression on the CSVs that `KEEP=1 bench/ml-parity.sh` leaves in `/tmp/neuroplex-ml-parity`
/// (scikit-learn's breast_cancer, digits and wine with its fixed split), with default hyperparameters on raw and on
/// standardised features: its accuracy must be within 1 point of scikit-learn's in that script's `results.json`.
/// Runs only when `ML_PARITY_DIR` names that folder:
/// `ML_PARITY_DIR=/tmp/neuroplex-ml-parity swift test --filter LearnerParityTests`.
@Suite("Learner parity", .enabled(if: ProcessInfo.processInfo.environment["ML_PARITY_DIR"] != nil))
struct LearnerParityTests {
    /// A numeric CSV with a header and the label in the last column.
    static func read(_ path: String) throws -> (FeatureMatrix, [Double]) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var values: [Double] = [], labels: [Double] = [], columns = 0
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: ",").map { Double($0)! }
            columns = fields.count - 1
            values += fields.dropLast()
            labels.append(fields.last!)
        }
        return (FeatureMatrix(rows: labels.count, columns: columns, values: values), labels)
    }

    /// Standardises `test` and `train` with the training columns' mean and (population) standard deviation.
    static func standardise(_ train: inout FeatureMatrix, _ test: inout FeatureMatrix) {
        let d = train.columns
        for j in 0..<d {
            var mean = 0.0, squares = 0.0
            for i in 0..<train.rows { mean += train[i, j] }
            mean /= Double(train.rows)
            for i in 0..<train.rows { squares += (train[i, j] - mean) * (train[i, j] - mean) }
            var scale = (squares / Double(train.rows)).squareRoot()
            if scale == 0 { scale = 1 }
            for i in 0..<train.rows { train.values[i * d + j] = (train.values[i * d + j] - mean) / scale }
            for i in 0..<test.rows { test.values[i * d + j] = (test.values[i * d + j] - mean) / scale }
        }
    }

    @Test("logistic regression on scikit-learn's datasets", arguments: ["breast_cancer", "digits", "wine"])
    func logisticRegression(dataset: String) async throws {
        let folder = ProcessInfo.processInfo.environment["ML_PARITY_DIR"]!
        let (trainX, y) = try Self.read("\(folder)/\(dataset)-train.csv")
        let (originalTestX, testY) = try Self.read("\(folder)/\(dataset)-test.csv")
        var x = trainX, testX = originalTestX
        let classes = Int(y.max()!) + 1
        let results = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/results.json"))))
        for standardised in [false, true] {
            if standardised { Self.standardise(&x, &testX) }
            let start = ContinuousClock.now
            let trained = try await LogisticRegressionLearner.train(
                features: x, labels: y, classCount: classes, task: .classification, hyperparameters: [:],
                validation: nil, progress: { _, _, _ in })
            let model = try #require(trained as? LogisticRegressionModel)
            let elapsed = ContinuousClock.now - start
            let score = accuracy(try model.predict(testX), testY)
            let peer = "sklearn LogisticRegression (\(standardised ? "standardised" : "raw"))"
            let reference = try #require(results[dataset]?[peer]?["accuracy"]?.numberValue)
            #expect(abs(score - reference) <= 0.01, "\(dataset) \(peer): \(score) vs \(reference)")
            print("parity \(dataset) \(standardised ? "standardised" : "raw"): accuracy \(score) (scikit-learn \(reference)), "
                  + "\(model.iterations) iterations (\(model.stop)), fit \(elapsed) (debug build)")
        }
    }
}
