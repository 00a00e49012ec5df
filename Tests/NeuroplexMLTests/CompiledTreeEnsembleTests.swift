import Foundation
import NeuroplexCore
import NeuroplexML
import Testing

/// Rows with 12 features, some missing, and targets that need deep trees.
private struct TreeData {
    var state: UInt64

    mutating func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }

    /// `rows` × 12 features in −1…1; about one value in seven of the first six columns is missing (NaN).
    mutating func features(_ rows: Int) -> FeatureMatrix {
        var values: [Double] = []
        values.reserveCapacity(rows * 12)
        for _ in 0..<rows {
            for column in 0..<12 {
                let value = uniform()
                values.append(column < 6 && uniform() > 0.72 ? .nan : value)
            }
        }
        return FeatureMatrix(rows: rows, columns: 12, values: values)
    }

    /// A smooth-ish score with interactions; a missing value counts as 0.5.
    static func score(_ features: FeatureMatrix, _ row: Int) -> Double {
        func x(_ column: Int) -> Double {
            let value = features[row, column]
            return value.isNaN ? 0.5 : value
        }
        return sin(3 * x(0)) * x(1) + x(2) * x(3) - 0.5 * x(4) + (x(5) > 0.2 ? 0.7 : -0.3) + 0.3 * x(6) * x(7)
    }

    static func binary(_ features: FeatureMatrix) -> [Double] {
        (0..<features.rows).map { score(features, $0) > 0.1 ? 1 : 0 }
    }

    static func threeClasses(_ features: FeatureMatrix) -> [Double] {
        (0..<features.rows).map { row in
            let score = score(features, row)
            return score < -0.3 ? 0 : score < 0.5 ? 1 : 2
        }
    }

    static func regression(_ features: FeatureMatrix) -> [Double] {
        (0..<features.rows).map { 10 * score(features, $0) + 40 }
    }
}

/// The largest absolute difference between two predictions of the same rows (infinity if their shapes differ).
private func largestDifference(_ a: [[Double]], _ b: [[Double]]) -> Double {
    guard a.count == b.count else { return .infinity }
    var largest = 0.0
    for (x, y) in zip(a, b) {
        guard x.count == y.count else { return .infinity }
        for (u, v) in zip(x, y) { largest = max(largest, u.isNaN || v.isNaN ? .infinity : abs(u - v)) }
    }
    return largest
}

/// Every row through the one-row entry point.
private func predictOneByOne(_ ensemble: CompiledTreeEnsemble, _ features: FeatureMatrix) -> [[Double]] {
    var output = [Double](repeating: .nan, count: ensemble.outputCount)
    return (0..<features.rows).map { row in
        features.values[row * features.columns..<(row + 1) * features.columns].withUnsafeBufferPointer { row in
            output.withUnsafeMutableBufferPointer { ensemble.predict(row: row, into: $0) }
        }
        return output
    }
}

/// The artifact's JSON with `edit` applied.
private func edited(_ bytes: [UInt8], _ edit: (inout [String: Any]) -> Void) throws -> [UInt8] {
    var learner = try #require(
        (try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])?["learner"] as? [String: Any])
    edit(&learner)
    var document = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
    document["learner"] = learner
    return Array(try JSONSerialization.data(withJSONObject: document))
}

private func train(
    _ features: FeatureMatrix, _ labels: [Double], classCount: Int, task: LearningTask,
    _ hyperparameters: [String: JSONValue]
) async throws -> XGBoostModel {
    let model = try await XGBoostLearner.train(
        features: features, labels: labels, classCount: classCount, task: task, hyperparameters: hyperparameters,
        validation: nil) { _, _, _ in }
    return try #require(model as? XGBoostModel)
}

@Suite(.timeLimit(.minutes(3))) struct CompiledTreeEnsembleTests {
    let training: FeatureMatrix
    let testing: FeatureMatrix

    init() {
        var data = TreeData(state: 7)
        training = data.features(3000)
        testing = data.features(5000)
    }

    /// Compiles `model` and checks all three entry points of both layouts against XGBoost on `features`.
    @discardableResult
    func expectSamePredictions(_ model: XGBoostModel, _ features: FeatureMatrix) throws -> CompiledTreeEnsemble {
        let compiled = try CompiledTreeEnsemble(xgboostJSON: try model.json())
        let expected = try model.predict(features)
        for ensemble in [compiled, compiled.withNodeLayoutOnly()] {
            #expect(ensemble.outputCount == expected.first?.count)
            #expect(largestDifference(try ensemble.predict(features), expected) <= 1e-6)
            #expect(largestDifference(predictOneByOne(ensemble, features), expected) <= 1e-6)
            let flat = try ensemble.predictFlat(features, threads: 2)
            let rows = (0..<features.rows).map { Array(flat[$0 * ensemble.outputCount..<($0 + 1) * ensemble.outputCount]) }
            #expect(largestDifference(rows, expected) <= 1e-6)
        }
        return compiled
    }

    @Test func binaryClassificationWithMissingValuesAndDeepTreesMatchesXGBoost() async throws {
        let model = try await train(
            training, TreeData.binary(training), classCount: 2, task: .classification,
            ["n_estimators": 60, "max_depth": 8, "learning_rate": 0.3])
        let ensemble = try expectSamePredictions(model, testing)
        #expect(ensemble.usesCompleteTrees)
        #expect(!ensemble.withNodeLayoutOnly().usesCompleteTrees)
    }

    @Test func treesDeeperThanTenLevelsKeepTheNodeLayoutAndMatchXGBoost() async throws {
        let model = try await train(
            training, TreeData.regression(training), classCount: 0, task: .regression,
            ["n_estimators": 10, "max_depth": 16, "min_child_weight": 0, "reg_lambda": 0])
        let ensemble = try expectSamePredictions(model, testing)
        #expect(!ensemble.usesCompleteTrees)
    }

    @Test func lossguideTreesMatchXGBoost() async throws {
        let model = try await train(
            training, TreeData.binary(training), classCount: 2, task: .classification,
            ["n_estimators": 30, "max_depth": 0, "grow_policy": "lossguide", "max_leaves": 64, "min_child_weight": 0])
        try expectSamePredictions(model, testing)
    }

    @Test func multiclassMatchesXGBoost() async throws {
        let model = try await train(
            training, TreeData.threeClasses(training), classCount: 3, task: .classification,
            ["n_estimators": 40, "max_depth": 6])
        try expectSamePredictions(model, testing)
    }

    @Test func regressionMatchesXGBoost() async throws {
        let model = try await train(
            training, TreeData.regression(training), classCount: 0, task: .regression,
            ["n_estimators": 80, "max_depth": 7, "learning_rate": 0.2])
        try expectSamePredictions(model, testing)
    }

    @Test func randomForestMatchesXGBoost() async throws {
        let forest = try #require(try await RandomForestLearner.train(
            features: training, labels: TreeData.binary(training), classCount: 2, task: .classification,
            hyperparameters: ["n_estimators": 20, "max_depth": 6], validation: nil) { _, _, _ in } as? XGBoostModel)
        try expectSamePredictions(forest, testing)
    }

    /// Values exactly at a threshold go right, and a Double just below a threshold that rounds to it in Float goes
    /// right too, as XGBoost compares in Float.
    @Test func thresholdsCompareInFloatAsXGBoostDoes() async throws {
        let model = try await train(
            training, TreeData.regression(training), classCount: 0, task: .regression,
            ["n_estimators": 20, "max_depth": 6])
        let bytes = try model.json()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let trees = try #require(
            ((document["learner"] as? [String: Any])?["gradient_booster"] as? [String: Any]).flatMap {
                ($0["model"] as? [String: Any])?["trees"] as? [[String: Any]]
            })
        var rows: [Double] = []
        for tree in trees {
            let conditions = try #require(tree["split_conditions"] as? [Double])
            let features = try #require(tree["split_indices"] as? [Int])
            let left = try #require(tree["left_children"] as? [Int])
            for node in conditions.indices where left[node] != -1 {
                let threshold = Double(Float(conditions[node]))
                for value in [threshold, threshold - 1e-12, threshold.nextDown, threshold + 1e-12, Double(Float(threshold).nextDown)] {
                    var row = Array(testing.values[(node % 100) * 12..<(node % 100 + 1) * 12])
                    row[features[node]] = value
                    rows += row
                }
            }
        }
        try #require(rows.count > 12 * 100)
        let features = FeatureMatrix(rows: rows.count / 12, columns: 12, values: rows)
        try expectSamePredictions(model, features)
    }

    @Test func otherObjectivesAndBaseScoresMatchXGBoost() async throws {
        let binary = try await train(
            training, TreeData.binary(training), classCount: 2, task: .classification,
            ["n_estimators": 25, "max_depth": 6])
        let multiclass = try await train(
            training, TreeData.threeClasses(training), classCount: 3, task: .classification,
            ["n_estimators": 15, "max_depth": 5])
        let regression = try await train(
            training, TreeData.regression(training), classCount: 0, task: .regression,
            ["n_estimators": 25, "max_depth": 6])
        let variants: [(XGBoostModel, String, String)] = [
            (binary, "binary:logistic", "2.5E-1"),
            (binary, "binary:logitraw", "5E-1"),
            (binary, "binary:logitraw", "8E-1"),
            (binary, "reg:logistic", "3E-1"),
            (multiclass, "multi:softmax", "5E-1"),
            (multiclass, "multi:softprob", "1.5E0"),
            (regression, "reg:squarederror", "4.2E1"),
        ]
        for (model, objective, baseScore) in variants {
            // Edited as text: XGBoost refuses a re-serialised model whose float arrays hold integers such as `0`.
            var text = String(decoding: try model.json(), as: UTF8.self)
            let original = try #require(text.firstRange(of: #/"objective":\{"name":"[a-z:]+"/#))
            text.replaceSubrange(original, with: #""objective":{"name":"\#(objective)""#)
            let score = try #require(text.firstRange(of: #/"base_score":"[^"]+"/#))
            text.replaceSubrange(score, with: #""base_score":"\#(baseScore)""#)
            let bytes = Array(text.utf8)
            let reloaded = try XGBoostModel(artifact: bytes)
            #expect(reloaded.objective == objective)
            let ensemble = try CompiledTreeEnsemble(xgboostJSON: bytes)
            let expected = try reloaded.predict(testing)
            let difference = largestDifference(try ensemble.predict(testing), expected)
            #expect(difference <= 1e-6, "\(objective) with base_score \(baseScore): differs by \(difference)")
        }
    }

    @Test func xgboostTwoAndThreeBaseScoresAreReadAsWritten() async throws {
        let model = try await train(
            training, TreeData.binary(training), classCount: 2, task: .classification, ["n_estimators": 20])
        // XGBoost ≥ 2 writes base_score as a one-element array in a string; 1.7 alone would read 0.5.
        var text = String(decoding: try model.json(), as: UTF8.self)
        let score = try #require(text.firstRange(of: #/"base_score":"[^"]+"/#))
        text.replaceSubrange(score, with: #""base_score":"3E-1""#)
        let plain = Array(text.utf8)
        let bracketed = Array(text.replacingOccurrences(of: #""base_score":"3E-1""#, with: #""base_score":"[3E-1]""#).utf8)
        let expected = try XGBoostModel(artifact: plain).predict(testing)
        #expect(largestDifference(try XGBoostModel(artifact: bracketed).predict(testing), expected) == 0)
        #expect(largestDifference(try CompiledTreeEnsemble(xgboostJSON: bracketed).predict(testing), expected) <= 1e-6)
        // One intercept per class (XGBoost ≥ 3.1) cannot be held by 1.7: refused, not mispredicted.
        let perClass = Array(text.replacingOccurrences(of: #""base_score":"3E-1""#, with: #""base_score":"[3E-1,4E-1]""#).utf8)
        #expect(throws: NeuroplexError.self) { try XGBoostModel(artifact: perClass) }
    }

    @Test func unsupportedOrBrokenModelsAreRefusedWithAClearError() async throws {
        let model = try await train(
            training, TreeData.binary(training), classCount: 2, task: .classification, ["n_estimators": 3])
        let bytes = try model.json()

        func expectRefusal(_ bytes: [UInt8], code: String, mentioning fragment: String) {
            do {
                _ = try CompiledTreeEnsemble(xgboostJSON: bytes)
                Issue.record("compiled a model that should be refused (\(fragment))")
            } catch let error as NeuroplexError {
                #expect(error.code.rawValue == code)
                #expect(error.kind == .invalidInput)
                #expect(error.message.contains(fragment), "\(error.message)")
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }

        expectRefusal(Array("not a model".utf8), code: "invalid_model", mentioning: "not an XGBoost JSON model")
        expectRefusal(Array(#"{"learner": {}}"#.utf8), code: "invalid_model", mentioning: "missing learner.")
        expectRefusal(try edited(bytes) { learner in
            learner["gradient_booster"] = [
                "name": "dart", "gbtree": learner["gradient_booster"] as Any, "weight_drop": [1.0],
            ] as [String: Any]
        }, code: "unsupported_model", mentioning: "'dart'")
        expectRefusal(try edited(bytes) { learner in
            learner["gradient_booster"] = ["name": "gblinear", "model": ["weights": [0.1, 0.2]]] as [String: Any]
        }, code: "unsupported_model", mentioning: "'gblinear'")
        expectRefusal(try edited(bytes) { learner in
            learner["objective"] = ["name": "count:poisson"]
        }, code: "unsupported_model", mentioning: "count:poisson")

        func editTree(_ edit: @escaping (inout [String: Any]) -> Void) throws -> [UInt8] {
            try edited(bytes) { learner in
                var booster = learner["gradient_booster"] as! [String: Any]
                var model = booster["model"] as! [String: Any]
                var trees = model["trees"] as! [[String: Any]]
                edit(&trees[0])
                model["trees"] = trees
                booster["model"] = model
                learner["gradient_booster"] = booster
            }
        }
        expectRefusal(try editTree { tree in
            tree["split_type"] = (tree["split_type"] as! [Int]).map { _ in 1 }
        }, code: "unsupported_model", mentioning: "categorical")
        expectRefusal(try editTree { tree in
            tree["left_children"] = Array((tree["left_children"] as! [Int]).dropLast())
        }, code: "invalid_model", mentioning: "different lengths")
        expectRefusal(try editTree { tree in
            var left = tree["left_children"] as! [Int]
            left[0] = 0
            tree["left_children"] = left
        }, code: "invalid_model", mentioning: "invalid or repeated child")

        let ensemble = try CompiledTreeEnsemble(xgboostJSON: bytes)
        #expect(throws: NeuroplexError.self) {
            try ensemble.predict(FeatureMatrix(rows: 1, columns: 3, values: [1, 2, 3]))
        }
        #expect(try ensemble.artifact().bytes == bytes)
    }
}
