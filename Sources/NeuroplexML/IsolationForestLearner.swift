import Foundation
public import NeuroplexCore

/// Isolation forest anomaly detection (Liu, Ting and Zhou, 2008), as scikit-learn's `IsolationForest`.
///
/// Each tree isolates a random subsample by random splits (a random feature, a threshold drawn uniformly between
/// its minimum and maximum) down to depth ⌈log₂ ψ⌉, ψ being the subsample size. A row's anomaly score is
/// `2^(−E[h(x)] / c(ψ))`, where `h` is the depth at which a tree isolates it (plus `c(leaf size)` for a leaf of
/// several rows) and `c(n)` the average path length of an unsuccessful binary-search-tree lookup: scikit-learn's
/// `score_samples` negated, in (0, 1], higher is more anomalous.
///
/// Hyperparameters (scikit-learn's names and defaults): `n_estimators` (≥ 1, 100), `max_samples` (`"auto"` =
/// min(256, rows), an integer ≥ 1, or a fraction in (0, 1]), `contamination` (`"auto"` or a fraction in (0, 0.5]:
/// sets ``IsolationForestModel/threshold``), `max_features` (an integer ≥ 1 or a fraction in (0, 1], 1.0),
/// `bootstrap` (false), `random_state` (null or an integer seed).
public struct IsolationForestLearner: Learner {
    public static let algorithm = "isolation_forest"
    public static let tasks: Set<LearningTask> = [.anomaly]
    static let names = ["bootstrap", "contamination", "max_features", "max_samples", "n_estimators", "random_state"]

    /// A count, or a fraction of the available number.
    enum Amount: Equatable {
        case auto
        case count(Int)
        case fraction(Double)
    }

    struct Settings {
        var trees = 100
        var samples = Amount.auto
        var contamination: Double?  // nil: "auto"
        var features = Amount.fraction(1)
        var bootstrap = false
        var seed: UInt64?
    }

    static func settings(_ hyperparameters: [String: JSONValue]) throws -> Settings {
        let reader = try HyperparameterReader(algorithm: algorithm, hyperparameters, allowed: names)
        var settings = Settings()
        settings.trees = try reader.integer("n_estimators", default: 100, in: 1...)
        settings.samples = try amount(reader, "max_samples", default: .auto, allowsAuto: true)
        settings.features = try amount(reader, "max_features", default: .fraction(1), allowsAuto: false)
        switch hyperparameters["contamination"] {
        case nil, .null?, .string("auto")?: settings.contamination = nil
        case .string?: throw reader.invalid("contamination", "must be \"auto\" or a number > 0 and ≤ 0.5")
        default:
            do {
                settings.contamination = try reader.double("contamination", default: 0.1, above: 0, atMost: 0.5)
            } catch {
                throw reader.invalid("contamination", "must be \"auto\" or a number > 0 and ≤ 0.5")
            }
        }
        settings.bootstrap = try reader.bool("bootstrap", default: false)
        settings.seed = try reader.seed("random_state")
        return settings
    }

    /// An integer ≥ 1 (a JSON number without a fraction or exponent), a fraction in (0, 1], or `"auto"`.
    private static func amount(
        _ reader: HyperparameterReader, _ name: String, default defaultValue: Amount, allowsAuto: Bool
    ) throws -> Amount {
        let requirement = (allowsAuto ? "must be \"auto\", " : "must be ") + "an integer ≥ 1 or a fraction > 0 and ≤ 1"
        switch reader.values[name] {
        case nil, .null?: return defaultValue
        case .string("auto")? where allowsAuto: return .auto
        case .int(let count)? where count >= 1: return .count(Int(count))
        case .double(let fraction)? where fraction > 0 && fraction <= 1: return .fraction(fraction)
        default: throw reader.invalid(name, requirement)
        }
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
        let n = features.rows, d = features.columns
        let sampleSize: Int
        switch settings.samples {
        case .auto: sampleSize = min(256, n)
        case .count(let count): sampleSize = min(count, n)  // scikit-learn warns and uses every row
        case .fraction(let fraction): sampleSize = max(1, Int(fraction * Double(n)))
        }
        let featureCount: Int
        switch settings.features {
        case .auto: featureCount = d
        case .count(let count):
            guard count <= d else {
                throw try HyperparameterReader(algorithm: algorithm, hyperparameters, allowed: names).invalid(
                    "max_features", "must not exceed the number of features (\(d))")
            }
            featureCount = count
        case .fraction(let fraction): featureCount = max(1, Int(fraction * Double(d)))
        }
        let maxDepth = Int(log2(Double(max(sampleSize, 2))).rounded(.up))

        var generator = Xoshiro256(seed: settings.seed)
        var forest = IsolationForestModel.Forest()
        var builder = TreeBuilder(features: features, maxDepth: maxDepth, featureCount: featureCount)
        var rows = Array(0..<n)
        for tree in 0..<settings.trees {
            try Task.checkCancellation()
            // The tree's subsample: without replacement by a partial shuffle, or with replacement (bootstrap).
            var sample = [Int](repeating: 0, count: sampleSize)
            if settings.bootstrap {
                for i in 0..<sampleSize { sample[i] = generator.below(n) }
            } else {
                for i in 0..<sampleSize {
                    rows.swapAt(i, i + generator.below(n - i))
                    sample[i] = rows[i]
                }
            }
            forest.roots.append(Int32(forest.feature.count))
            builder.build(sample: &sample, into: &forest, using: &generator)
            progress(tree + 1, settings.trees, ["nodes": Double(forest.feature.count)])
        }

        var model = IsolationForestModel(
            featureCount: d, sampleSize: sampleSize, forest: forest, threshold: 0.5)
        if let contamination = settings.contamination {
            // The score above which `contamination` of the training rows lie (NumPy's linear percentile).
            var scores = try model.scores(features)
            scores.sort()
            let position = (1 - contamination) * Double(n - 1)
            let lower = Int(position.rounded(.down)), upper = min(lower + 1, n - 1)
            let weight = position - Double(lower)
            model.threshold = scores[lower] + (scores[upper] - scores[lower]) * weight
        }
        return model
    }

    public static func load(_ artifact: [UInt8]) throws -> any TrainedModel {
        try IsolationForestModel(artifact: artifact)
    }

    /// `c(n)`: the average path length of an unsuccessful search in a binary search tree of `n` keys, which
    /// normalises isolation depths (0 for n ≤ 1, 1 for n = 2, else 2·H(n−1) − 2(n−1)/n with H(i) ≈ ln i + γ).
    static func averagePathLength(_ n: Int) -> Double {
        if n <= 1 { return 0 }
        if n == 2 { return 1 }
        let m = Double(n)
        return 2 * (log(m - 1) + 0.5772156649015329) - 2 * (m - 1) / m
    }

    /// Grows isolation trees into a ``IsolationForestModel/Forest``, in preorder (a node's left child follows it).
    struct TreeBuilder {
        let features: FeatureMatrix
        let maxDepth: Int
        let featureCount: Int
        /// The tree's features (the first `featureCount` after a partial shuffle), then scratch for drawing them.
        var order: [Int]

        init(features: FeatureMatrix, maxDepth: Int, featureCount: Int) {
            self.features = features
            self.maxDepth = maxDepth
            self.featureCount = featureCount
            order = Array(0..<features.columns)
        }

        mutating func build(sample: inout [Int], into forest: inout IsolationForestModel.Forest,
                            using generator: inout Xoshiro256) {
            let d = features.columns
            for i in 0..<featureCount { order.swapAt(i, i + generator.below(d - i)) }
            var candidates = Array(order[0..<featureCount])
            features.values.withUnsafeBufferPointer { xs in
                sample.withUnsafeMutableBufferPointer { sample in
                    grow(xs, sample, 0, sample.count, depth: 0, candidates: &candidates, forest: &forest,
                         generator: &generator)
                }
            }
        }

        private func grow(
            _ xs: UnsafeBufferPointer<Double>, _ sample: UnsafeMutableBufferPointer<Int>, _ start: Int, _ end: Int,
            depth: Int, candidates: inout [Int], forest: inout IsolationForestModel.Forest,
            generator: inout Xoshiro256
        ) {
            let d = features.columns
            let node = forest.feature.count
            let size = end - start
            func leaf() {
                forest.feature.append(-1)
                forest.value.append(Double(depth) + IsolationForestLearner.averagePathLength(size))
                forest.right.append(-1)
            }
            guard depth < maxDepth, size > 1 else { return leaf() }
            // Draw features in random order until one is not constant on this node's rows.
            var remaining = candidates.count
            var chosen = -1, low = 0.0, high = 0.0
            while remaining > 0 {
                let pick = generator.below(remaining)
                let feature = candidates[pick]
                candidates.swapAt(pick, remaining - 1)
                remaining -= 1
                var lo = Double.infinity, hi = -Double.infinity
                for i in start..<end {
                    let value = xs[sample[i] * d + feature]
                    lo = min(lo, value)
                    hi = max(hi, value)
                }
                if hi > lo {
                    chosen = feature
                    low = lo
                    high = hi
                    break
                }
            }
            guard chosen >= 0 else { return leaf() }
            var threshold = low + generator.unit() * (high - low)
            if threshold >= high { threshold = low }
            // Partition: rows with value ≤ threshold go left.
            var split = start
            for i in start..<end where xs[sample[i] * d + chosen] <= threshold {
                sample.swapAt(i, split)
                split += 1
            }
            forest.feature.append(Int32(chosen))
            forest.value.append(threshold)
            forest.right.append(-1)
            grow(xs, sample, start, split, depth: depth + 1, candidates: &candidates, forest: &forest,
                 generator: &generator)
            forest.right[node] = Int32(forest.feature.count)
            grow(xs, sample, split, end, depth: depth + 1, candidates: &candidates, forest: &forest,
                 generator: &generator)
        }
    }
}

/// A trained ``IsolationForestLearner`` model: per row, an anomaly score in (0, 1], higher is more anomalous.
public struct IsolationForestModel: TrainedModel {
    /// The trees' nodes in flat arrays; each tree in preorder from its root, a node's left child right after it.
    struct Forest {
        var roots: [Int32] = []
        /// The split feature, or −1 for a leaf.
        var feature: [Int32] = []
        /// The split threshold (left when ≤), or a leaf's path length: its depth plus c(rows in it).
        var value: [Double] = []
        /// The right child's index (−1 for a leaf).
        var right: [Int32] = []
    }

    public let featureCount: Int
    /// ψ, the subsample size each tree was grown on; c(ψ) normalises the mean path length.
    public let sampleSize: Int
    let forest: Forest
    /// The score above which a row is an outlier: 0.5 for `contamination: "auto"` (as scikit-learn's offset −0.5),
    /// else the training scores' (1 − contamination) quantile.
    public internal(set) var threshold: Double

    init(featureCount: Int, sampleSize: Int, forest: Forest, threshold: Double) {
        self.featureCount = featureCount
        self.sampleSize = sampleSize
        self.forest = forest
        self.threshold = threshold
    }

    public var treeCount: Int { forest.roots.count }

    public func predict(_ features: FeatureMatrix) throws -> [[Double]] {
        try scores(features).map { [$0] }
    }

    /// Per row, whether its score is above ``threshold``.
    public func isOutlier(_ features: FeatureMatrix) throws -> [Bool] {
        try scores(features).map { $0 > threshold }
    }

    /// Per row, `2^(−mean path length / c(ψ))`.
    func scores(_ features: FeatureMatrix) throws -> [Double] {
        try LearnerInput.checkColumns(features, expected: featureCount, algorithm: IsolationForestLearner.algorithm)
        let n = features.rows, d = featureCount
        let normaliser = IsolationForestLearner.averagePathLength(sampleSize) * Double(treeCount)
        var scores = [Double](repeating: 0, count: n)
        // Checks for cancellation every 1024 rows: scoring the training rows for `contamination` is part of training.
        try features.values.withUnsafeBufferPointer { xs in
            try forest.roots.withUnsafeBufferPointer { roots in
                try forest.feature.withUnsafeBufferPointer { feature in
                    try forest.value.withUnsafeBufferPointer { value in
                        try forest.right.withUnsafeBufferPointer { right in
                            for i in 0..<n {
                                if i & 0x3FF == 0x3FF { try Task.checkCancellation() }
                                let row = i * d
                                var total = 0.0
                                for root in roots {
                                    var node = Int(root)
                                    while feature[node] >= 0 {
                                        node = xs[row + Int(feature[node])] <= value[node] ? node + 1 : Int(right[node])
                                    }
                                    total += value[node]
                                }
                                // An empty normaliser (ψ = 1) means every tree is a single leaf: score 2⁰ = 1.
                                scores[i] = normaliser > 0 ? exp2(-total / normaliser) : 1
                            }
                        }
                    }
                }
            }
        }
        return scores
    }

    public func artifact() throws -> (bytes: [UInt8], mediaType: String) {
        var artifact = LearnerArtifact(algorithm: IsolationForestLearner.algorithm)
        artifact["feature_count"] = .int(Int64(featureCount))
        artifact["sample_size"] = .int(Int64(sampleSize))
        artifact["threshold"] = .double(threshold)
        artifact["roots"] = LearnerArtifact.array(forest.roots)
        artifact["feature"] = LearnerArtifact.array(forest.feature)
        artifact["value"] = LearnerArtifact.array(forest.value)
        artifact["right"] = LearnerArtifact.array(forest.right)
        return (artifact.bytes, LearnerArtifact.mediaType)
    }

    init(artifact bytes: [UInt8]) throws {
        let artifact = try LearnerArtifact(parsing: bytes, algorithm: IsolationForestLearner.algorithm)
        let featureCount = try artifact.integer("feature_count"), sampleSize = try artifact.integer("sample_size")
        var forest = Forest()
        forest.roots = try artifact.integers("roots")
        forest.feature = try artifact.integers("feature")
        let count = forest.feature.count
        forest.value = try artifact.doubles("value", count: count)
        forest.right = try artifact.integers("right", count: count)
        // Check the structure so that prediction cannot index out of bounds or loop.
        guard featureCount >= 1, sampleSize >= 1, !forest.roots.isEmpty,
              forest.roots.allSatisfy({ $0 >= 0 && Int($0) < count })
        else { throw LearnerArtifact.corrupt(artifact.algorithm, "its trees are malformed") }
        for node in 0..<count where forest.feature[node] >= 0 {
            let right = Int(forest.right[node])
            guard Int(forest.feature[node]) < featureCount, node + 1 < count, right > node + 1, right < count else {
                throw LearnerArtifact.corrupt(artifact.algorithm, "its trees are malformed")
            }
        }
        self.init(featureCount: featureCount, sampleSize: sampleSize, forest: forest,
                  threshold: try artifact.double("threshold"))
    }
}
