import Foundation
public import NeuroplexCore

/// The measures of a model on labelled rows.
public enum ValidationMetrics {
    /// Accuracy; precision, recall and f1 (binary: of the positive class, the second; multi-class: macro), each
    /// also per class, macro and weighted; rocAuc and prAuc (binary: positive class; multi-class: one-vs-rest
    /// macro); logLoss; the confusion matrix (rows: true class, columns: predicted); calibration bins (binary).
    public static func classification(probabilities: [[Double]], labels: [Int], classes: [String]) -> [String: JSONValue] {
        let count = max(classes.count, probabilities.first?.count ?? 0)
        let names = classes.count == count ? classes : (0..<count).map(String.init)
        let predicted = probabilities.map { row in row.indices.max { row[$0] < row[$1] } ?? 0 }
        var matrix = [[Int]](repeating: [Int](repeating: 0, count: count), count: count)
        for (truth, guess) in zip(labels, predicted) where truth < count && guess < count { matrix[truth][guess] += 1 }
        let total = labels.count
        let correct = (0..<count).reduce(0) { $0 + matrix[$1][$1] }
        var perClass: [String: JSONValue] = [:]
        var precisions: [Double] = [], recalls: [Double] = [], f1s: [Double] = [], supports: [Int] = []
        for c in 0..<count {
            let tp = Double(matrix[c][c])
            let predictedC = Double((0..<count).reduce(0) { $0 + matrix[$1][c] })
            let actualC = (0..<count).reduce(0) { $0 + matrix[c][$1] }
            let precision = predictedC > 0 ? tp / predictedC : 0
            let recall = actualC > 0 ? tp / Double(actualC) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            precisions.append(precision)
            recalls.append(recall)
            f1s.append(f1)
            supports.append(actualC)
            perClass[names[c]] = .object([
                "precision": .double(precision), "recall": .double(recall), "f1": .double(f1),
                "support": .int(Int64(actualC)),
            ])
        }
        func macro(_ values: [Double]) -> Double { values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count) }
        func weighted(_ values: [Double]) -> Double {
            total == 0 ? 0 : zip(values, supports).reduce(0) { $0 + $1.0 * Double($1.1) } / Double(total)
        }
        var logLoss = 0.0
        for (row, truth) in zip(probabilities, labels) where truth < row.count {
            logLoss -= log(min(max(row[truth], 1e-15), 1 - 1e-15))
        }
        logLoss /= Double(max(total, 1))
        var aucs: [Double] = [], prs: [Double] = []
        let positives = count == 2 ? [1] : Array(0..<count)
        for c in positives {
            let scores = probabilities.map { c < $0.count ? $0[c] : 0 }
            let truths = labels.map { $0 == c }
            if let auc = rocAuc(scores: scores, positive: truths) { aucs.append(auc) }
            if let pr = averagePrecision(scores: scores, positive: truths) { prs.append(pr) }
        }
        let binary = count == 2
        var result: [String: JSONValue] = [
            "task": "classification",
            "accuracy": .double(total == 0 ? 0 : Double(correct) / Double(total)),
            "precision": .double(binary ? precisions[1] : macro(precisions)),
            "recall": .double(binary ? recalls[1] : macro(recalls)),
            "f1": .double(binary ? f1s[1] : macro(f1s)),
            "macro": .object(["precision": .double(macro(precisions)), "recall": .double(macro(recalls)), "f1": .double(macro(f1s))]),
            "weighted": .object([
                "precision": .double(weighted(precisions)), "recall": .double(weighted(recalls)), "f1": .double(weighted(f1s)),
            ]),
            "perClass": .object(perClass),
            "logLoss": .double(logLoss),
            "confusionMatrix": .object([
                "labels": .array(names.map { .string($0) }),
                "matrix": .array(matrix.map { .array($0.map { .int(Int64($0)) }) }),
            ]),
        ]
        if !aucs.isEmpty { result["rocAuc"] = .double(macro(aucs)) }
        if !prs.isEmpty { result["prAuc"] = .double(macro(prs)) }
        if binary {
            result["positiveClass"] = .string(names[1])
            result["calibration"] = calibration(scores: probabilities.map { $0.count > 1 ? $0[1] : 0 }, positive: labels.map { $0 == 1 })
        }
        return result
    }

    /// Mean absolute error, root mean squared error and the coefficient of determination.
    public static func regression(predictions: [Double], targets: [Double]) -> [String: JSONValue] {
        let n = Double(max(targets.count, 1))
        let mae = zip(predictions, targets).reduce(0) { $0 + abs($1.0 - $1.1) } / n
        let squared = zip(predictions, targets).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
        let mean = targets.reduce(0, +) / n
        let variance = targets.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return [
            "task": "regression", "mae": .double(mae), "rmse": .double((squared / n).squareRoot()),
            "r2": .double(variance > 0 ? 1 - squared / variance : 0),
        ]
    }

    /// With labels, how well the anomaly score ranks the rarer class (taken as the anomalies) first.
    public static func anomaly(scores: [Double], labels: [Int], classes: [String]) -> [String: JSONValue] {
        var result: [String: JSONValue] = ["task": "anomaly"]
        guard !labels.isEmpty else { return result }
        var counts: [Int: Int] = [:]
        for label in labels { counts[label, default: 0] += 1 }
        guard counts.count == 2, let rare = counts.min(by: { $0.value < $1.value })?.key else { return result }
        let truths = labels.map { $0 == rare }
        if let auc = rocAuc(scores: scores, positive: truths) { result["rocAuc"] = .double(auc) }
        if let pr = averagePrecision(scores: scores, positive: truths) { result["prAuc"] = .double(pr) }
        if rare < classes.count { result["anomalyClass"] = .string(classes[rare]) }
        return result
    }

    /// The area under the ROC curve (ties count half), or `nil` with only one class present.
    static func rocAuc(scores: [Double], positive: [Bool]) -> Double? {
        let order = scores.indices.sorted { scores[$0] < scores[$1] }
        var ranks = [Double](repeating: 0, count: scores.count)
        var start = 0
        while start < order.count {
            var end = start
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[start]] { end += 1 }
            let rank = Double(start + end) / 2 + 1
            for k in start...end { ranks[order[k]] = rank }
            start = end + 1
        }
        let positives = positive.filter { $0 }.count
        let negatives = positive.count - positives
        guard positives > 0, negatives > 0 else { return nil }
        let sum = zip(ranks, positive).reduce(0) { $1.1 ? $0 + $1.0 : $0 }
        return (sum - Double(positives) * Double(positives + 1) / 2) / (Double(positives) * Double(negatives))
    }

    /// Average precision (the area under the precision-recall curve, as scikit-learn computes it).
    static func averagePrecision(scores: [Double], positive: [Bool]) -> Double? {
        let positives = positive.filter { $0 }.count
        guard positives > 0 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var truePositives = 0, seen = 0, sum = 0.0, previousRecall = 0.0
        var index = 0
        while index < order.count {
            var end = index
            while end + 1 < order.count && scores[order[end + 1]] == scores[order[index]] { end += 1 }
            for k in index...end {
                seen += 1
                if positive[order[k]] { truePositives += 1 }
            }
            let recall = Double(truePositives) / Double(positives)
            let precision = Double(truePositives) / Double(seen)
            sum += (recall - previousRecall) * precision
            previousRecall = recall
            index = end + 1
        }
        return sum
    }

    /// Ten reliability bins of the positive-class probability: mean predicted against observed frequency.
    static func calibration(scores: [Double], positive: [Bool]) -> JSONValue {
        var bins: [JSONValue] = []
        for bin in 0..<10 {
            let lower = Double(bin) / 10, upper = Double(bin + 1) / 10
            let members = scores.indices.filter { scores[$0] >= lower && (scores[$0] < upper || (bin == 9 && scores[$0] <= 1)) }
            guard !members.isEmpty else { continue }
            let meanPredicted = members.reduce(0) { $0 + scores[$1] } / Double(members.count)
            let observed = Double(members.filter { positive[$0] }.count) / Double(members.count)
            bins.append(.object([
                "lower": .double(lower), "upper": .double(upper), "count": .int(Int64(members.count)),
                "meanPredicted": .double(meanPredicted), "observed": .double(observed),
            ]))
        }
        return .array(bins)
    }
}
