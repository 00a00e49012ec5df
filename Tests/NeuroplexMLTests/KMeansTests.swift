import Foundation
import NeuroplexCore
@testable import NeuroplexML
import Testing

@Suite("k-means", .timeLimit(.minutes(3)))
struct KMeansTests {
    static let centres: [[Double]] = [[0, 0], [10, 10], [-10, 10]]

    @Test("recovers well-separated centres with a fixed seed, reproducibly")
    func recoversCentres() async throws {
        var data = SyntheticData(seed: 10)
        let (x, _) = data.blobs(Self.centres, perClass: 100, spread: 0.5)
        let hyperparameters: [String: JSONValue] = ["n_clusters": 3, "random_state": 42]
        let trainedModel = try await train(KMeansLearner.self, x, [], task: .anomaly, hyperparameters)
        let model = try #require(trainedModel as? KMeansModel)
        for centre in Self.centres {
            let nearest = (0..<3).map { c in
                hypot(model.centres[c * 2] - centre[0], model.centres[c * 2 + 1] - centre[1])
            }.min()!
            #expect(nearest < 0.15, "no centre near \(centre)")
        }
        // Inertia ≈ rows × 2 dimensions × σ².
        #expect(abs(model.inertia - 300 * 2 * 0.25) < 30)
        let trainedAgain = try await train(KMeansLearner.self, x, [], task: .anomaly, hyperparameters)
        let again = try #require(trainedAgain as? KMeansModel)
        #expect(again.centres == model.centres)

        // The score is the distance to the nearest centre: a far point scores higher than every training row.
        let scores = try model.predict(x).map { $0[0] }
        let far = try model.predict(FeatureMatrix(rows: 1, columns: 2, values: [30, -20]))[0][0]
        #expect(far > scores.max()!)
        let exact = try model.nearest(FeatureMatrix(rows: 1, columns: 2, values: Array(model.centres.prefix(2))))
        #expect(exact[0].cluster == 0 && exact[0].distance == 0)
        try expectRoundTrip(model, KMeansLearner.self, x)
    }

    @Test("random seeding with several runs keeps the best")
    func randomInit() async throws {
        var data = SyntheticData(seed: 11)
        let (x, _) = data.blobs(Self.centres, perClass: 50, spread: 0.5)
        let trainedModel = try await train(
            KMeansLearner.self, x, [], task: .anomaly,
            ["n_clusters": 3, "init": "random", "n_init": 10, "random_state": 7])
        let model = try #require(trainedModel as? KMeansModel)
        #expect(model.inertia < 150 * 2 * 0.25 * 1.3)
    }

    @Test("hyperparameters are validated")
    func validation() {
        let learner = KMeansLearner.self
        expectInvalidHyperparameter(["'k'", "init, max_iter, n_clusters, n_init, random_state, tol"]) {
            try learner.validate(["k": 3])
        }
        expectInvalidHyperparameter(["'n_clusters'", "≥ 1"]) { try learner.validate(["n_clusters": 0]) }
        expectInvalidHyperparameter(["'n_init'", "auto"]) { try learner.validate(["n_init": "often"]) }
        expectInvalidHyperparameter(["'n_init'", "auto"]) { try learner.validate(["n_init": 0]) }
        expectInvalidHyperparameter(["'random_state'"]) { try learner.validate(["random_state": -1]) }
        expectInvalidHyperparameter(["'init'"]) { try learner.validate(["init": "kmeans||"]) }
        expectInvalidHyperparameter(["'tol'", "≥ 0"]) { try learner.validate(["tol": -0.1]) }
        #expect(throws: Never.self) { try learner.validate(["n_init": "auto", "n_clusters": 2, "max_iter": 10]) }
    }

    @Test("more clusters than rows is refused")
    func tooManyClusters() async {
        let x = FeatureMatrix(rows: 2, columns: 1, values: [0, 1])
        await #expect(throws: NeuroplexError.self) {
            try await train(KMeansLearner.self, x, [], task: .anomaly, ["n_clusters": 3])
        }
    }

    @Test("cancellation stops training")
    func cancellation() async {
        var data = SyntheticData(seed: 12)
        var values: [Double] = []
        for _ in 0..<(3000 * 4) { values.append(data.generator.unit()) }
        let x = FeatureMatrix(rows: 3000, columns: 4, values: values)
        await expectCancellation(KMeansLearner.self, x, [], classCount: 0, task: .anomaly,
                                 ["n_clusters": 30, "random_state": 1, "tol": 0])
    }
}
