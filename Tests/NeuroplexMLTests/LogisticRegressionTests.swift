import Foundation
import Synchronization
import NeuroplexCore
@testable import NeuroplexML
import Testing

@Suite("Logistic regression", .timeLimit(.minutes(3)))
struct LogisticRegressionTests {
    @Test("separable classes are all classified, with probabilities summing to 1")
    func separable() async throws {
        var data = SyntheticData(seed: 1)
        let (x, y) = data.blobs([[-3, -3], [3, 3]], perClass: 100, spread: 0.7)
        let model = try await train(LogisticRegressionLearner.self, x, y, classCount: 2, task: .classification)
        let predictions = try model.predict(x)
        #expect(accuracy(predictions, y) == 1)
        for row in predictions {
            #expect(row.count == 2)
            #expect(abs(row[0] + row[1] - 1) < 1e-12)
        }
    }

    @Test("overlapping classes: accuracy near the Bayes rate on fresh data")
    func noisy() async throws {
        // Unit-variance classes at ±1 along one feature, plus a pure-noise feature: the Bayes rate is Φ(1) ≈ 0.841.
        var data = SyntheticData(seed: 2)
        func sample(_ count: Int) -> (FeatureMatrix, [Double]) {
            var values: [Double] = [], labels: [Double] = []
            for i in 0..<count {
                let label = Double(i % 2)
                values += [(label == 1 ? 1 : -1) + data.normal(), data.normal()]
                labels.append(label)
            }
            return (FeatureMatrix(rows: count, columns: 2, values: values), labels)
        }
        let (x, y) = sample(2000)
        let (testX, testY) = sample(4000)
        let trainedModel = try await train(LogisticRegressionLearner.self, x, y, classCount: 2, task: .classification)
        let model = try #require(trainedModel as? LogisticRegressionModel)
        let score = accuracy(try model.predict(testX), testY)
        #expect(score > 0.82 && score < 0.86, "accuracy \(score)")
        // The optimum of the log loss for this model has slope 2 and intercept 0 on the signal, 0 on the noise.
        let weights = model.coefficients(0)
        #expect(abs(weights[0] - 2) < 0.25, "\(weights)")
        #expect(abs(weights[1]) < 0.15, "\(weights)")
        #expect(abs(model.intercept(0)) < 0.15)
    }

    @Test("two symmetric points: the weight solves w·(1 + eʷ) = 2C")
    func handComputedWeight() async throws {
        // Minimising C·2·log(1 + e^(−w)) + w²/2 (scikit-learn's objective) gives w = 2C / (1 + eʷ).
        let x = FeatureMatrix(rows: 2, columns: 1, values: [-1, 1])
        for c in [0.1, 1.0, 10.0] {
            let trainedModel = try await train(
                LogisticRegressionLearner.self, x, [0, 1], classCount: 2, task: .classification,
                ["C": .double(c), "fit_intercept": false, "tol": 1e-10])
            let model = try #require(trainedModel as? LogisticRegressionModel)
            let w = model.coefficients(0)[0]
            #expect(abs(w * (1 + exp(w)) - 2 * c) < 1e-7, "C \(c): w \(w)")
            #expect(model.intercept(0) == 0)
        }
    }

    @Test("penalty \"none\" and a larger C let the weights grow; a smaller C shrinks them")
    func regularisation() async throws {
        var data = SyntheticData(seed: 5)
        let (x, y) = data.blobs([[-1, 0], [1, 0]], perClass: 200, spread: 1)
        func weight(_ hyperparameters: [String: JSONValue]) async throws -> Double {
            let trained = try await train(LogisticRegressionLearner.self, x, y, classCount: 2, task: .classification,
                                          hyperparameters)
            return try #require(trained as? LogisticRegressionModel).coefficients(0)[0]
        }
        let small = try await weight(["C": 0.001]), standard = try await weight([:])
        let none = try await weight(["penalty": "none"]), null = try await weight(["penalty": nil])
        #expect(small > 0 && small < standard && standard < none, "\(small) \(standard) \(none)")
        #expect(null == none)
        // With C = 0.001 and 400 rows the penalty dominates: the weight is far below the unpenalised one.
        #expect(small < none / 2)
    }

    @Test("no features: the unpenalised intercepts reproduce the class frequencies")
    func interceptOnly() async throws {
        let binary = FeatureMatrix(rows: 4, columns: 1, values: [0, 0, 0, 0])
        let model = try await train(LogisticRegressionLearner.self, binary, [1, 1, 1, 0], classCount: 2,
                                    task: .classification, ["tol": 1e-10])
        let p = try model.predict(binary)[0]
        #expect(abs(p[1] - 0.75) < 1e-8)

        // Balanced class weights make the two classes weigh the same.
        let balanced = try await train(LogisticRegressionLearner.self, binary, [1, 1, 1, 0], classCount: 2,
                                       task: .classification, ["class_weight": "balanced", "tol": 1e-10])
        #expect(abs(try balanced.predict(binary)[0][1] - 0.5) < 1e-8)

        let three = FeatureMatrix(rows: 10, columns: 1, values: Array(repeating: 0, count: 10))
        let labels: [Double] = [0, 0, 1, 1, 1, 2, 2, 2, 2, 2]
        let multinomial = try await train(LogisticRegressionLearner.self, three, labels, classCount: 3,
                                          task: .classification, ["tol": 1e-10])
        let q = try multinomial.predict(three)[0]
        #expect(zip(q, [0.2, 0.3, 0.5]).allSatisfy { abs($0 - $1) < 1e-7 }, "\(q)")
    }

    @Test("multinomial on three classes")
    func multinomial() async throws {
        var data = SyntheticData(seed: 3)
        let centres: [[Double]] = [[0, 4, 0], [4, 0, 0], [-4, -4, 1]]
        let (x, y) = data.blobs(centres, perClass: 150, spread: 1.2)
        let (testX, testY) = data.blobs(centres, perClass: 300, spread: 1.2)
        let reports = Reports()
        let model = try await LogisticRegressionLearner.train(
            features: x, labels: y, classCount: 3, task: .classification, hyperparameters: ["C": 0.5],
            validation: (testX, testY), progress: { current, total, metrics in reports.add(current, total, metrics) })
        let predictions = try model.predict(testX)
        #expect(accuracy(predictions, testY) > 0.97)
        for row in predictions {
            #expect(row.count == 3)
            #expect(abs(row.reduce(0, +) - 1) < 1e-12)
        }
        let seen = reports.all
        #expect(!seen.isEmpty)
        #expect(seen.map(\.current) == Array(1...seen.count))
        #expect(seen.allSatisfy { $0.total == 100 })
        #expect((seen.last?.metrics["validation_accuracy"] ?? 0) > 0.97)
        // The training loss goes down.
        #expect((seen.last?.metrics["loss"] ?? 1) < (seen.first?.metrics["loss"] ?? 0))
        try expectRoundTrip(model, LogisticRegressionLearner.self, testX)
    }

    @Test("hyperparameters are validated with scikit-learn's names")
    func validation() {
        let learner = LogisticRegressionLearner.self
        expectInvalidHyperparameter(["'alpha'", "C, class_weight, fit_intercept, max_iter, penalty, tol"]) {
            try learner.validate(["alpha": 1])
        }
        expectInvalidHyperparameter(["'C'", "> 0"]) { try learner.validate(["C": 0]) }
        expectInvalidHyperparameter(["'C'", "> 0"]) { try learner.validate(["C": "big"]) }
        expectInvalidHyperparameter(["'max_iter'", "≥ 1"]) { try learner.validate(["max_iter": 2.5]) }
        expectInvalidHyperparameter(["'tol'"]) { try learner.validate(["tol": -1]) }
        expectInvalidHyperparameter(["'fit_intercept'"]) { try learner.validate(["fit_intercept": 1]) }
        expectInvalidHyperparameter(["'class_weight'", "balanced"]) { try learner.validate(["class_weight": "auto"]) }
        expectInvalidHyperparameter(["'penalty'", "l2"]) { try learner.validate(["penalty": "l1"]) }
        #expect(throws: Never.self) {
            try learner.validate([
                "C": 0.5, "max_iter": 200, "tol": 1e-6, "fit_intercept": false, "class_weight": "balanced",
                "penalty": "none",
            ])
        }
        #expect(throws: Never.self) { try learner.validate(["class_weight": nil, "penalty": nil, "max_iter": 3.0]) }
    }

    @Test("labels outside the classes, and a mismatched feature count at prediction, are refused")
    func inputChecks() async throws {
        let x = FeatureMatrix(rows: 2, columns: 1, values: [0, 1])
        await #expect(throws: NeuroplexError.self) {
            try await train(LogisticRegressionLearner.self, x, [0, 2], classCount: 2, task: .classification)
        }
        await #expect(throws: NeuroplexError.self) {
            try await train(LogisticRegressionLearner.self, x, [0, 1], classCount: 2, task: .anomaly)
        }
        let model = try await train(LogisticRegressionLearner.self, x, [0, 1], classCount: 2, task: .classification)
        #expect(throws: NeuroplexError.self) { try model.predict(FeatureMatrix(rows: 1, columns: 2, values: [0, 0])) }
        #expect(throws: NeuroplexError.self) { try LogisticRegressionLearner.load(Array("{}".utf8)) }
    }

    @Test("cancellation stops training")
    func cancellation() async {
        var data = SyntheticData(seed: 4)
        let (x, y) = data.blobs([[0, 0], [0.5, 0.5], [1, 0]], perClass: 300, spread: 1)
        await expectCancellation(LogisticRegressionLearner.self, x, y, classCount: 3, task: .classification,
                                 ["tol": 1e-12, "max_iter": 1000])
    }
}

/// Progress reports collected from a `@Sendable` callback.
final class Reports: Sendable {
    struct Report: Sendable {
        var current: Int, total: Int, metrics: [String: Double]
    }
    private let storage = Mutex<[Report]>([])
    func add(_ current: Int, _ total: Int, _ metrics: [String: Double]) {
        storage.withLock { $0.append(Report(current: current, total: total, metrics: metrics)) }
    }
    var all: [Report] { storage.withLock { $0 } }
}
