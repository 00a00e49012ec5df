import Foundation
import NeuroplexCore
@testable import NeuroplexML
import Testing

/// The native logistic regression on the CSVs that `KEEP=1 bench/ml-parity.sh` leaves in `/tmp/neuroplex-ml-parity`
/// (scikit-learn's breast_cancer, digits and wine with its fixed split), with default hyperparameters on raw and on
/// standardised features: its accuracy must be within 1 point of scikit-learn's in that script's `results.json`.
/// k-means and the isolation forest are compared on their inertia and mean anomaly score (see `unsupervised`).
/// Runs only when `ML_PARITY_DIR` names that folder:
/// `ML_PARITY_DIR=/tmp/neuroplex-ml-parity swift test --filter LearnerParityTests`.
@Suite("Learner parity", .timeLimit(.minutes(3)), .enabled(if: ProcessInfo.processInfo.environment["ML_PARITY_DIR"] != nil))
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

    @Test("k-means and isolation forest on scikit-learn's datasets", arguments: ["breast_cancer", "digits", "wine"])
    func unsupervised(dataset: String) async throws {
        let folder = ProcessInfo.processInfo.environment["ML_PARITY_DIR"]!
        let results = try JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: "\(folder)/results.json"))))
        let (x, y) = try Self.read("\(folder)/\(dataset)-train.csv")
        let (testX, _) = try Self.read("\(folder)/\(dataset)-test.csv")

        // k-means, k = the class count, on standardised features: a local optimum no worse than 3 % above
        // scikit-learn's inertia (with another seed either may land in a better one).
        var scaled = x, scaledTest = testX
        Self.standardise(&scaled, &scaledTest)
        let classes = Int(y.max()!) + 1
        let referenceInertia = try #require(
            results[dataset]?["sklearn KMeans (standardised, k = classes)"]?["inertia"]?.numberValue)
        let trainedKMeans = try await train(
            KMeansLearner.self, scaled, [], task: .anomaly, ["n_clusters": .int(Int64(classes)), "random_state": 42])
        let kmeans = try #require(trainedKMeans as? KMeansModel)
        #expect(kmeans.inertia < referenceInertia * 1.03, "\(kmeans.inertia) vs \(referenceInertia)")

        // Isolation forest on raw features: the mean anomaly score of the test rows within 0.02 of scikit-learn's.
        let referenceScore = try #require(
            results[dataset]?["sklearn IsolationForest"]?["mean_test_score"]?.numberValue)
        let forest = try await train(IsolationForestLearner.self, x, [], task: .anomaly, ["random_state": 42])
        let scores = try forest.predict(testX).map { $0[0] }
        let meanScore = scores.reduce(0, +) / Double(scores.count)
        #expect(abs(meanScore - referenceScore) < 0.02, "\(meanScore) vs \(referenceScore)")
        print("parity \(dataset): k-means inertia \(kmeans.inertia) (scikit-learn \(referenceInertia)), "
              + "isolation forest mean test score \(meanScore) (scikit-learn \(referenceScore))")
    }
}
