import Foundation
import NeuroplexCore
@testable import NeuroplexML
import Testing

@Suite("Isolation forest", .timeLimit(.minutes(3)))
struct IsolationForestTests {
    /// 500 standard-normal inliers in 3 dimensions, then 10 outliers 7 to 9 units from the origin.
    static func data() -> FeatureMatrix {
        var data = SyntheticData(seed: 20)
        var values: [Double] = []
        for _ in 0..<500 { for _ in 0..<3 { values.append(data.normal()) } }
        for i in 0..<10 {
            var direction = [data.normal(), data.normal(), data.normal()]
            let length = (direction.map { $0 * $0 }.reduce(0, +)).squareRoot()
            let radius = 7 + 2 * Double(i) / 9
            direction = direction.map { $0 / length * radius }
            values += direction
        }
        return FeatureMatrix(rows: 510, columns: 3, values: values)
    }

    @Test("planted outliers score above the inliers")
    func outliers() async throws {
        let x = Self.data()
        let trainedModel = try await train(IsolationForestLearner.self, x, [], task: .anomaly,
                                                 ["random_state": 0])
        let model = try #require(trainedModel as? IsolationForestModel)
        #expect(model.sampleSize == 256 && model.treeCount == 100)
        let scores = try model.predict(x).map { $0[0] }
        let inliers = scores[..<500], outliers = scores[500...]
        #expect(outliers.min()! > inliers.sorted()[495], "outliers \(outliers.min()!) vs inliers' 99th percentile")
        #expect(outliers.min()! > 0.6)
        #expect(inliers.sorted()[250] < 0.5)
        #expect(scores.allSatisfy { $0 > 0 && $0 <= 1 })
        // contamination "auto": outliers are the rows scoring above 0.5.
        #expect(model.threshold == 0.5)
        #expect(try model.isOutlier(x)[500...].allSatisfy { $0 })
        try expectRoundTrip(model, IsolationForestLearner.self, x)
    }

    @Test("contamination sets the threshold at that share of the training rows")
    func contamination() async throws {
        let x = Self.data()
        let trainedModel = try await train(
            IsolationForestLearner.self, x, [], task: .anomaly,
            ["random_state": 1, "contamination": 0.02, "n_estimators": 50, "max_samples": 0.5, "max_features": 2,
             "bootstrap": true])
        let model = try #require(trainedModel as? IsolationForestModel)
        #expect(model.sampleSize == 255 && model.treeCount == 50)
        let flagged = try model.isOutlier(x)
        let share = Double(flagged.filter { $0 }.count) / 510
        #expect(abs(share - 0.02) < 0.005)
        #expect(flagged[500...].filter { $0 }.count >= 8)
    }

    @Test("the same seed grows the same forest")
    func reproducible() async throws {
        let x = Self.data()
        let a = try await train(IsolationForestLearner.self, x, [], task: .anomaly, ["random_state": 5])
        let b = try await train(IsolationForestLearner.self, x, [], task: .anomaly, ["random_state": 5])
        #expect(try a.artifact().bytes == b.artifact().bytes)
    }

    @Test("c(n), the average path length")
    func averagePathLength() {
        #expect(IsolationForestLearner.averagePathLength(1) == 0)
        #expect(IsolationForestLearner.averagePathLength(2) == 1)
        // 2·(ln 255 + γ) − 2·255/256
        #expect(abs(IsolationForestLearner.averagePathLength(256) - 10.244770920116851) < 1e-9)
    }

    @Test("hyperparameters are validated")
    func validation() {
        let learner = IsolationForestLearner.self
        expectInvalidHyperparameter(
            ["'n_trees'", "bootstrap, contamination, max_features, max_samples, n_estimators, random_state"]
        ) { try learner.validate(["n_trees": 10]) }
        expectInvalidHyperparameter(["'n_estimators'", "≥ 1"]) { try learner.validate(["n_estimators": 0]) }
        expectInvalidHyperparameter(["'max_samples'", "auto"]) { try learner.validate(["max_samples": 1.5]) }
        expectInvalidHyperparameter(["'max_samples'"]) { try learner.validate(["max_samples": 0]) }
        expectInvalidHyperparameter(["'contamination'", "0.5"]) { try learner.validate(["contamination": 0.7]) }
        expectInvalidHyperparameter(["'contamination'"]) { try learner.validate(["contamination": "some"]) }
        expectInvalidHyperparameter(["'max_features'"]) { try learner.validate(["max_features": "auto"]) }
        expectInvalidHyperparameter(["'bootstrap'"]) { try learner.validate(["bootstrap": "yes"]) }
        #expect(throws: Never.self) {
            try learner.validate(["max_samples": "auto", "contamination": 0.5, "max_features": 1.0, "n_estimators": 3])
        }
    }

    @Test("a malformed artifact is refused")
    func malformedArtifact() async throws {
        let x = Self.data()
        let model = try await train(IsolationForestLearner.self, x, [], task: .anomaly,
                                    ["random_state": 3, "n_estimators": 2])
        var text = String(decoding: try model.artifact().bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"right\":[", with: "\"right\":[0,")
        #expect(throws: NeuroplexError.self) { try IsolationForestLearner.load(Array(text.utf8)) }
    }

    @Test("cancellation stops training")
    func cancellation() async {
        await expectCancellation(IsolationForestLearner.self, Self.data(), [], classCount: 0, task: .anomaly,
                                 ["n_estimators": 1000])
    }
}
