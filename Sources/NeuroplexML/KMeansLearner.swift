import Foundation
public import NeuroplexCore

/// k-means clustering (k-means++ seeding, then Lloyd's iterations), as scikit-learn's `KMeans`, used for anomaly
/// detection: a row's score is its Euclidean distance to the nearest centre.
///
/// Hyperparameters (scikit-learn's names and defaults): `n_clusters` (≥ 1, 8), `max_iter` (≥ 1, 300), `tol` (≥ 0,
/// 1e-4, relative to the mean feature variance, as scikit-learn's), `n_init` (≥ 1 or `"auto"`: 1 run with
/// k-means++, 10 with random seeding, as scikit-learn ≥ 1.4), `init` (`"k-means++"` or `"random"`), `random_state`
/// (null or an integer seed). The run with the least inertia (sum of squared distances to the nearest centre) wins.
public struct KMeansLearner: Learner {
    public static let algorithm = "kmeans"
    public static let tasks: Set<LearningTask> = [.anomaly]
    static let names = ["init", "max_iter", "n_clusters", "n_init", "random_state", "tol"]

    struct Settings {
        var clusters = 8
        var maxIterations = 300
        var tolerance = 1e-4
        var runs = 1
        var plusPlus = true
        var seed: UInt64?
    }

    static func settings(_ hyperparameters: [String: JSONValue]) throws -> Settings {
        let reader = try HyperparameterReader(algorithm: algorithm, hyperparameters, allowed: names)
        var settings = Settings()
        settings.clusters = try reader.integer("n_clusters", default: 8, in: 1...)
        settings.maxIterations = try reader.integer("max_iter", default: 300, in: 1...)
        settings.tolerance = try reader.double("tol", default: 1e-4, atLeast: 0)
        switch hyperparameters["init"] {
        case nil, .null?, .string("k-means++")?: settings.plusPlus = true
        case .string("random")?: settings.plusPlus = false
        default: throw reader.invalid("init", "must be \"k-means++\" or \"random\"")
        }
        switch hyperparameters["n_init"] {
        case nil, .null?, .string("auto")?: settings.runs = settings.plusPlus ? 1 : 10
        case .string?: throw reader.invalid("n_init", "must be \"auto\" or an integer ≥ 1")
        default:
            do {
                settings.runs = try reader.integer("n_init", default: 1, in: 1...)
            } catch {
                throw reader.invalid("n_init", "must be \"auto\" or an integer ≥ 1")
            }
        }
        settings.seed = try reader.seed("random_state")
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
        guard settings.clusters <= features.rows else {
            throw try HyperparameterReader(algorithm: algorithm, hyperparameters, allowed: names).invalid(
                "n_clusters", "must not exceed the number of training rows (\(features.rows))")
        }
        try Task.checkCancellation()
        var generator = Xoshiro256(seed: settings.seed)
        let k = settings.clusters, d = features.columns
        let threshold = settings.tolerance * meanVariance(features)
        let total = settings.maxIterations * settings.runs
        var best: (centres: [Double], inertia: Double, iterations: Int)?
        for run in 0..<settings.runs {
            var centres = settings.plusPlus
                ? try plusPlusCentres(features, k: k, using: &generator)
                : randomCentres(features, k: k, using: &generator)
            var labels = [Int32](repeating: -1, count: features.rows)
            var distances = [Double](repeating: 0, count: features.rows)
            var iterations = 0
            for iteration in 1...settings.maxIterations {
                iterations = iteration
                let changed = try assign(features, centres: centres, k: k, labels: &labels, distances: &distances)
                if iteration > 1 && changed == 0 { break }  // strict convergence: no label moved
                let shift = update(features, labels: labels, distances: distances, k: k, centres: &centres)
                progress(
                    run * settings.maxIterations + iteration, total,
                    ["inertia": distances.reduce(0, +), "center_shift": shift])
                if shift <= threshold { break }
            }
            // The inertia of the final centres, with labels that match them.
            _ = try assign(features, centres: centres, k: k, labels: &labels, distances: &distances)
            let inertia = distances.reduce(0, +)
            if best == nil || inertia < best!.inertia { best = (centres, inertia, iterations) }
        }
        let winner = best!
        progress(total, total, ["inertia": winner.inertia])
        return KMeansModel(clusters: k, featureCount: d, centres: winner.centres, inertia: winner.inertia,
                           iterations: winner.iterations)
    }

    public static func load(_ artifact: [UInt8]) throws -> any TrainedModel {
        try KMeansModel(artifact: artifact)
    }

    /// The mean over features of the feature's variance: what scikit-learn scales `tol` by.
    static func meanVariance(_ features: FeatureMatrix) -> Double {
        let n = features.rows, d = features.columns
        var mean = [Double](repeating: 0, count: d), squares = [Double](repeating: 0, count: d)
        features.values.withUnsafeBufferPointer { xs in
            for i in 0..<n { for j in 0..<d { mean[j] += xs[i * d + j] } }
            for j in 0..<d { mean[j] /= Double(n) }
            for i in 0..<n {
                for j in 0..<d {
                    let delta = xs[i * d + j] - mean[j]
                    squares[j] += delta * delta
                }
            }
        }
        return squares.reduce(0, +) / Double(n) / Double(d)
    }

    /// k-means++ seeding, greedy as scikit-learn's: each new centre is the best (least resulting potential) of
    /// 2 + ⌊ln k⌋ candidates drawn with probability proportional to the squared distance to the nearest centre.
    static func plusPlusCentres(_ features: FeatureMatrix, k: Int, using generator: inout Xoshiro256) throws -> [Double] {
        let n = features.rows, d = features.columns
        let trials = 2 + Int(log(Double(k)))
        var centres = [Double](repeating: 0, count: k * d)
        var closest = [Double](repeating: 0, count: n)
        var candidateDistances = [Double](repeating: 0, count: n)
        var bestDistances = [Double](repeating: 0, count: n)
        try features.values.withUnsafeBufferPointer { xs in
            func copyCentre(_ c: Int, row: Int) {
                for j in 0..<d { centres[c * d + j] = xs[row * d + j] }
            }
            let first = generator.below(n)
            copyCentre(0, row: first)
            var potential = 0.0
            for i in 0..<n {
                closest[i] = squaredDistance(xs, row: i, to: xs, row: first, d: d)
                potential += closest[i]
            }
            for c in 1..<max(k, 1) {
                var bestRow = -1, bestPotential = Double.infinity
                for _ in 0..<trials {
                    try Task.checkCancellation()
                    // Draw a row with probability closest[i] / potential (any row if all distances are 0).
                    var row = n - 1
                    if potential > 0 {
                        var target = generator.unit() * potential
                        for i in 0..<n {
                            target -= closest[i]
                            if target < 0 {
                                row = i
                                break
                            }
                        }
                    } else {
                        row = generator.below(n)
                    }
                    var candidatePotential = 0.0
                    for i in 0..<n {
                        let distance = min(closest[i], squaredDistance(xs, row: i, to: xs, row: row, d: d))
                        candidateDistances[i] = distance
                        candidatePotential += distance
                    }
                    if candidatePotential < bestPotential {
                        bestPotential = candidatePotential
                        bestRow = row
                        swap(&bestDistances, &candidateDistances)
                    }
                }
                copyCentre(c, row: bestRow)
                potential = bestPotential
                swap(&closest, &bestDistances)
            }
        }
        return centres
    }

    /// `k` distinct rows chosen uniformly: scikit-learn's `init="random"`.
    static func randomCentres(_ features: FeatureMatrix, k: Int, using generator: inout Xoshiro256) -> [Double] {
        let n = features.rows, d = features.columns
        var rows = Array(0..<n)
        for i in 0..<k { rows.swapAt(i, i + generator.below(n - i)) }
        var centres = [Double](repeating: 0, count: k * d)
        for c in 0..<k { for j in 0..<d { centres[c * d + j] = features.values[rows[c] * d + j] } }
        return centres
    }

    @inline(__always)
    static func squaredDistance(
        _ a: UnsafeBufferPointer<Double>, row i: Int, to b: UnsafeBufferPointer<Double>, row c: Int, d: Int
    ) -> Double {
        var sum = 0.0
        let x = i * d, y = c * d
        for j in 0..<d {
            let delta = a[x + j] - b[y + j]
            sum += delta * delta
        }
        return sum
    }

    /// Assigns each row to its nearest centre; returns how many labels changed.
    static func assign(
        _ features: FeatureMatrix, centres: [Double], k: Int, labels: inout [Int32], distances: inout [Double]
    ) throws -> Int {
        let n = features.rows, d = features.columns
        var changed = 0
        try features.values.withUnsafeBufferPointer { xs in
            try centres.withUnsafeBufferPointer { cs in
                try labels.withUnsafeMutableBufferPointer { labels in
                    try distances.withUnsafeMutableBufferPointer { distances in
                        for i in 0..<n {
                            if i & 0x3FFF == 0 { try Task.checkCancellation() }
                            var nearest = 0, smallest = Double.infinity
                            for c in 0..<k {
                                let distance = squaredDistance(xs, row: i, to: cs, row: c, d: d)
                                if distance < smallest {
                                    smallest = distance
                                    nearest = c
                                }
                            }
                            if labels[i] != Int32(nearest) { changed += 1 }
                            labels[i] = Int32(nearest)
                            distances[i] = smallest
                        }
                    }
                }
            }
        }
        return changed
    }

    /// Moves each centre to the mean of its rows; an empty cluster takes the row farthest from its centre (as
    /// scikit-learn relocates them). Returns the total squared shift of the centres.
    static func update(
        _ features: FeatureMatrix, labels: [Int32], distances: [Double], k: Int, centres: inout [Double]
    ) -> Double {
        let n = features.rows, d = features.columns
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        features.values.withUnsafeBufferPointer { xs in
            sums.withUnsafeMutableBufferPointer { sums in
                for i in 0..<n {
                    let c = Int(labels[i])
                    counts[c] += 1
                    for j in 0..<d { sums[c * d + j] += xs[i * d + j] }
                }
            }
        }
        var taken = Set<Int>()
        var shift = 0.0
        for c in 0..<k {
            var newCentre = [Double](repeating: 0, count: d)
            if counts[c] > 0 {
                for j in 0..<d { newCentre[j] = sums[c * d + j] / Double(counts[c]) }
            } else {
                var farthest = 0, largest = -1.0
                for i in 0..<n where distances[i] > largest && !taken.contains(i) {
                    largest = distances[i]
                    farthest = i
                }
                taken.insert(farthest)
                for j in 0..<d { newCentre[j] = features.values[farthest * d + j] }
            }
            for j in 0..<d {
                let delta = newCentre[j] - centres[c * d + j]
                shift += delta * delta
                centres[c * d + j] = newCentre[j]
            }
        }
        return shift
    }
}

/// A trained ``KMeansLearner`` model: its centres; a row's anomaly score is its distance to the nearest one.
public struct KMeansModel: TrainedModel {
    public let clusters: Int
    public let featureCount: Int
    /// `clusters × featureCount` centre coordinates, row-major.
    public let centres: [Double]
    /// Sum of squared distances of the training rows to their nearest centre.
    public let inertia: Double
    public let iterations: Int

    init(clusters: Int, featureCount: Int, centres: [Double], inertia: Double, iterations: Int) {
        self.clusters = clusters
        self.featureCount = featureCount
        self.centres = centres
        self.inertia = inertia
        self.iterations = iterations
    }

    /// Per row, the Euclidean distance to the nearest centre (higher is more anomalous).
    public func predict(_ features: FeatureMatrix) throws -> [[Double]] {
        try nearest(features).map { [$0.distance] }
    }

    /// Per row, the nearest centre's index and the distance to it.
    public func nearest(_ features: FeatureMatrix) throws -> [(cluster: Int, distance: Double)] {
        try LearnerInput.checkColumns(features, expected: featureCount, algorithm: KMeansLearner.algorithm)
        var labels = [Int32](repeating: -1, count: features.rows)
        var distances = [Double](repeating: 0, count: features.rows)
        _ = try KMeansLearner.assign(features, centres: centres, k: clusters, labels: &labels, distances: &distances)
        return (0..<features.rows).map { (Int(labels[$0]), distances[$0].squareRoot()) }
    }

    public func artifact() throws -> (bytes: [UInt8], mediaType: String) {
        var artifact = LearnerArtifact(algorithm: KMeansLearner.algorithm)
        artifact["n_clusters"] = .int(Int64(clusters))
        artifact["feature_count"] = .int(Int64(featureCount))
        artifact["centres"] = LearnerArtifact.array(centres)
        artifact["inertia"] = .double(inertia)
        artifact["iterations"] = .int(Int64(iterations))
        return (artifact.bytes, LearnerArtifact.mediaType)
    }

    init(artifact bytes: [UInt8]) throws {
        let artifact = try LearnerArtifact(parsing: bytes, algorithm: KMeansLearner.algorithm)
        let clusters = try artifact.integer("n_clusters"), featureCount = try artifact.integer("feature_count")
        guard clusters >= 1, featureCount >= 1 else {
            throw LearnerArtifact.corrupt(artifact.algorithm, "it needs at least one cluster and one feature")
        }
        self.init(
            clusters: clusters, featureCount: featureCount,
            centres: try artifact.doubles("centres", count: clusters * featureCount),
            inertia: (try? artifact.double("inertia")) ?? 0, iterations: (try? artifact.integer("iterations")) ?? 0)
    }
}
