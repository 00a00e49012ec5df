import Foundation

/// The training distribution of a version's inputs and predictions, stored with the version, against which live
/// inputs are compared for drift (``DriftStatistics``).
public struct ReferenceProfile: Sendable, Codable, Equatable {
    /// One input column, or the predictions.
    public struct Distribution: Sendable, Codable, Equatable {
        public var name: String
        /// Numeric: the bin edges (the training values' deciles, without repeats); a value `x` falls in the bin of
        /// the number of edges below it.
        public var edges: [Double]?
        /// Categorical: the categories; a value outside them falls in one more bin at the end.
        public var categories: [String]?
        /// Each bin's share of the training values.
        public var shares: [Double]
        /// Numeric: up to 512 evenly spaced order statistics of the training values, for the Kolmogorov–Smirnov test.
        public var sample: [Double]?

        /// The bin of a numeric value.
        func bin(_ value: Double) -> Int {
            guard let edges else { return 0 }
            var low = 0, high = edges.count
            while low < high {
                let middle = (low + high) / 2
                if edges[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low
        }

        /// A numeric distribution of `values` (missing ones left out by the caller).
        static func numeric(_ name: String, _ values: [Double]) -> Distribution {
            let sorted = values.filter { !$0.isNaN }.sorted()
            guard !sorted.isEmpty else { return Distribution(name: name, edges: [], shares: [1], sample: []) }
            var edges: [Double] = []
            for decile in 1..<10 {
                let edge = sorted[min(sorted.count - 1, sorted.count * decile / 10)]
                if edges.last != edge { edges.append(edge) }
            }
            var distribution = Distribution(name: name, edges: edges, shares: [])
            var counts = [Int](repeating: 0, count: edges.count + 1)
            for value in sorted { counts[distribution.bin(value)] += 1 }
            distribution.shares = counts.map { Double($0) / Double(sorted.count) }
            let size = min(512, sorted.count)
            distribution.sample = (0..<size).map { sorted[(2 * $0 + 1) * sorted.count / (2 * size)] }
            return distribution
        }

        /// A categorical distribution of `values`.
        static func categorical(_ name: String, _ values: [String], categories: [String]) -> Distribution {
            let index = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
            var counts = [Int](repeating: 0, count: categories.count + 1)
            for value in values { counts[index[value] ?? categories.count] += 1 }
            let total = max(1, values.count)
            return Distribution(name: name, categories: categories, shares: counts.map { Double($0) / Double(total) })
        }
    }

    /// One distribution per input column, in the preprocessing's column order.
    public var features: [Distribution]
    /// The predictions on the training rows: predicted classes (classification) or values.
    public var prediction: Distribution?
    /// How many training rows the profile describes.
    public var rows: Int

    /// The profile of `rows` of `table`, as the fitted preprocessing reads them, with the model's predictions.
    static func make(
        _ table: DataTable, rows: [Int], preprocessing: FittedPreprocessing, predictions: [[Double]], classes: [String]?
    ) throws -> ReferenceProfile {
        var features: [Distribution] = []
        for column in preprocessing.columns {
            let index = try table.column(column.name)
            switch column.kind {
            case .numeric:
                features.append(.numeric(column.name, rows.compactMap { table.number(row: $0, column: index) }))
            case .onehot, .ordinal:
                let cells = rows.compactMap { table.text(row: $0, column: index) }
                features.append(.categorical(column.name, cells, categories: column.categories ?? []))
            }
        }
        var prediction: Distribution?
        if let classes, !predictions.isEmpty {
            let labels = predictions.map { classes[DriftStatistics.argmax($0)] }
            prediction = .categorical("prediction", labels, categories: classes)
        } else if !predictions.isEmpty {
            prediction = .numeric("prediction", predictions.map { $0.first ?? .nan })
        }
        return ReferenceProfile(features: features, prediction: prediction, rows: rows.count)
    }
}

/// Population stability index and the two-sample Kolmogorov–Smirnov test.
public enum DriftStatistics {
    /// Shares below this count as this much, so that an empty bin does not make the index infinite.
    static let floor = 1e-4

    /// The population stability index of `actual` shares against `expected` ones: Σ (a − e) · ln(a / e).
    public static func psi(expected: [Double], actual: [Double]) -> Double {
        var total = 0.0
        for (e, a) in zip(expected, actual) {
            let e = max(e, floor), a = max(a, floor)
            total += (a - e) * log(a / e)
        }
        return total
    }

    /// The shares of `values` in the bins of `reference` (numeric values; NaN, a missing value, is left out).
    static func shares(_ values: [Double], in reference: ReferenceProfile.Distribution) -> [Double] {
        var counts = [Int](repeating: 0, count: reference.shares.count)
        var total = 0
        for value in values where !value.isNaN {
            if reference.categories != nil {
                let bin = value >= 0 ? Int(value) : counts.count - 1
                counts[min(bin, counts.count - 1)] += 1
            } else {
                counts[min(reference.bin(value), counts.count - 1)] += 1
            }
            total += 1
        }
        return counts.map { total == 0 ? 0 : Double($0) / Double(total) }
    }

    /// The Kolmogorov–Smirnov statistic (the largest distance between the two empirical distribution functions)
    /// of two sorted samples, and its asymptotic p-value.
    public static func ks(_ a: [Double], _ b: [Double]) -> (statistic: Double, pValue: Double) {
        guard !a.isEmpty, !b.isEmpty else { return (0, 1) }
        var i = 0, j = 0, distance = 0.0
        while i < a.count, j < b.count {
            let x = min(a[i], b[j])
            while i < a.count, a[i] <= x { i += 1 }
            while j < b.count, b[j] <= x { j += 1 }
            distance = max(distance, abs(Double(i) / Double(a.count) - Double(j) / Double(b.count)))
        }
        let n = Double(a.count) * Double(b.count) / Double(a.count + b.count)
        return (distance, kolmogorovSurvival((n.squareRoot() + 0.12 + 0.11 / n.squareRoot()) * distance))
    }

    /// P(K > λ) of the Kolmogorov distribution: 2 Σ (−1)^(k−1) e^(−2k²λ²).
    static func kolmogorovSurvival(_ lambda: Double) -> Double {
        guard lambda > 0.3 else { return 1 }
        var sum = 0.0, sign = 1.0
        for k in 1...100 {
            let term = sign * exp(-2 * Double(k * k) * lambda * lambda)
            sum += term
            if abs(term) < 1e-12 { break }
            sign = -sign
        }
        return min(1, max(0, 2 * sum))
    }

    static func argmax(_ values: [Double]) -> Int {
        var best = 0
        for index in values.indices where values[index] > values[best] { best = index }
        return best
    }
}

/// The two-proportion z-test: whether two variants' accuracies (successes of trials) differ.
public struct ProportionTest: Sendable, Codable, Equatable {
    public var difference: Double
    /// The 95 % confidence interval of the difference (b − a).
    public var confidenceInterval: [Double]
    public var z: Double
    public var pValue: Double
    public var significant: Bool
    public var verdict: String

    /// Compares variant `b` with variant `a`.
    public init(a: (name: String, successes: Int, trials: Int), b: (name: String, successes: Int, trials: Int), alpha: Double = 0.05) {
        let pa = a.trials > 0 ? Double(a.successes) / Double(a.trials) : 0
        let pb = b.trials > 0 ? Double(b.successes) / Double(b.trials) : 0
        difference = pb - pa
        let pooled = Double(a.successes + b.successes) / Double(max(1, a.trials + b.trials))
        let pooledError = (pooled * (1 - pooled) * (1 / Double(max(1, a.trials)) + 1 / Double(max(1, b.trials)))).squareRoot()
        z = pooledError > 0 ? difference / pooledError : 0
        pValue = 2 * (1 - Self.normalCDF(abs(z)))
        let error = (pa * (1 - pa) / Double(max(1, a.trials)) + pb * (1 - pb) / Double(max(1, b.trials))).squareRoot()
        confidenceInterval = [difference - 1.959964 * error, difference + 1.959964 * error]
        let enough = a.trials >= 30 && b.trials >= 30
        significant = enough && pValue < alpha
        let percent = { (value: Double) in String(format: "%.1f", value * 100) }
        if !enough {
            verdict = "not enough feedback yet: \(a.trials) and \(b.trials) labelled predictions (at least 30 each are needed)"
        } else if significant {
            let better = difference > 0 ? b.name : a.name
            verdict = "\(better) is more accurate: \(percent(max(pa, pb)))% against \(percent(min(pa, pb)))% (p = \(String(format: "%.4f", pValue)))"
        } else {
            verdict = "no significant difference: \(percent(pb))% against \(percent(pa))% (p = \(String(format: "%.4f", pValue)))"
        }
    }

    static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
}
