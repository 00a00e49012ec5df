import Foundation
public import NeuroplexCore
import Synchronization

/// A fixed-capacity ring of the latest values.
struct Ring<Element>: Sendable where Element: Sendable {
    private(set) var items: [Element] = []
    private var next = 0
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    mutating func append(_ item: Element) {
        if items.count < capacity {
            items.append(item)
        } else {
            items[next] = item
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    var ordered: [Element] { items.count < capacity ? items : Array(items[next...] + items[..<next]) }
    var count: Int { items.count }
}

/// Live figures of the served versions: requests, latency, errors, cache use, predicted classes and confidence,
/// accuracy from feedback, and recent inputs for drift. Kept in memory; feedback is also stored in the database by
/// ``ModelServing`` and read back at start.
final class ServingMonitor: Sendable {
    struct VersionKey: Hashable, Sendable {
        var modelId: String
        var version: Int
    }

    struct Feedback: Sendable {
        var at: Date
        var predicted: String
        var actual: String
    }

    struct VersionStats: Sendable {
        var requests = 0
        var predictions = 0
        var errors = 0
        var rejected = 0
        var cacheHits = 0
        var cacheMisses = 0
        var shadowPredictions = 0
        var latencies = Ring<Double>(capacity: 4096)
        var classCounts: [String: Int] = [:]
        var confidence = [Int](repeating: 0, count: 10)
        var feedback = Ring<Feedback>(capacity: 20_000)
        var regressionErrors = Ring<Double>(capacity: 20_000)
    }

    /// The latest inputs of one version, as given (see ``ServedModel/features(_:allowMissing:into:raw:)``), and
    /// the predicted class (or value).
    struct InputWindow: Sendable {
        let columns: Int
        let capacity: Int
        /// `capacity` rows of `columns` values, a ring: row `next` is the oldest once full.
        private var values: [Double]
        private var next = 0
        private(set) var count = 0
        var predictions: Ring<Double>

        init(columns: Int, capacity: Int) {
            self.columns = columns
            self.capacity = capacity
            values = [Double](repeating: .nan, count: columns * capacity)
            predictions = Ring(capacity: capacity)
        }

        mutating func append(_ row: ArraySlice<Double>) {
            let start = next * columns
            values.withUnsafeMutableBufferPointer { buffer in
                var offset = start
                for value in row {
                    buffer[offset] = value
                    offset += 1
                }
            }
            next = (next + 1) % capacity
            count = min(count + 1, capacity)
        }

        /// The rows, oldest first.
        var rows: [[Double]] {
            let first = count < capacity ? 0 : next
            return (0..<count).map { k in
                let row = (first + k) % capacity
                return Array(values[row * columns..<(row + 1) * columns])
            }
        }
    }

    struct PredictionRecord: Sendable {
        var modelId: String
        var version: Int
        var predicted: String
    }

    let windowSize: Int
    let remembered: Int
    private let stats = Mutex<[VersionKey: VersionStats]>([:])
    private let windows = Mutex<[VersionKey: InputWindow]>([:])
    /// The latest predictions by id counter: slot `counter % remembered` (no hashing of ids on the predict path).
    private let predictions: Mutex<[(counter: UInt64, record: PredictionRecord)?]>
    private let counter = Atomic<UInt64>(0)
    private let idPrefix: String

    /// - Parameters:
    ///   - windowSize: recent inputs kept per version for drift.
    ///   - remembered: recent predictions kept so that feedback can name them.
    init(windowSize: Int = 1000, remembered: Int = 200_000) {
        self.windowSize = windowSize
        self.remembered = remembered
        // Allocated at the first prediction: a server that serves no model keeps no 200,000 slots.
        predictions = Mutex([])
        var generator = SystemRandomNumberGenerator()
        idPrefix = "prd_" + Identifier.base62(UInt64(Date().timeIntervalSince1970 * 1000), width: 8)
            + Identifier.random(count: 4, using: &generator)
    }

    /// `count` new prediction ids and the counter of the first: unique within the process by the counter, across
    /// processes by the time and random part of the prefix.
    func makeIds(_ count: Int) -> (first: UInt64, ids: [String]) {
        let first = counter.wrappingAdd(UInt64(count), ordering: .relaxed).newValue - UInt64(count) + 1
        return (first, (0..<UInt64(count)).map { idPrefix + Identifier.base62(first + $0, width: 6) })
    }

    /// The counter of an id this process made.
    private func counter(of id: String) -> UInt64? {
        guard id.hasPrefix(idPrefix) else { return nil }
        var value: UInt64 = 0
        for byte in id.utf8.dropFirst(idPrefix.utf8.count) {
            guard let digit = Identifier.alphabet.firstIndex(of: byte) else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 62)
            guard !overflow else { return nil }
            value = times + UInt64(digit)
        }
        return value
    }

    // MARK: Recording

    /// Records one request's predictions, served by `model`, with their ids.
    func record(
        _ model: ServedModel, firstId: UInt64, outputs: [PredictionOutput], raw: [Double], latency: Double,
        cacheHits: Int, cacheMisses: Int, shadow: Bool = false
    ) {
        let key = VersionKey(modelId: model.modelId, version: model.version.version)
        // Changed in place: a copy taken out of the dictionary would copy its rings on the first write.
        stats.withLock { all in
            Self.update(&all[key, default: VersionStats()]) { stats in
                if shadow {
                    stats.shadowPredictions += outputs.count
                } else {
                    stats.requests += 1
                    stats.predictions += outputs.count
                    stats.cacheHits += cacheHits
                    stats.cacheMisses += cacheMisses
                    stats.latencies.append(latency)
                }
                for output in outputs {
                    if let label = output.label { stats.classCounts[label, default: 0] += 1 }
                    if let confidence = output.confidence {
                        stats.confidence[min(9, max(0, Int(confidence * 10)))] += 1
                    }
                }
            }
        }
        let columns = model.inputs.count
        if columns > 0, raw.count >= columns * outputs.count {
            let windowSize = windowSize
            let classes = model.classes ?? []
            windows.withLock { all in
                Self.update(&all[key, default: InputWindow(columns: columns, capacity: windowSize)]) { window in
                    for (r, output) in outputs.enumerated() {
                        window.append(raw[r * columns..<(r + 1) * columns])
                        if let label = output.label, let index = classes.firstIndex(of: label) {
                            window.predictions.append(Double(index))
                        } else {
                            window.predictions.append(output.value ?? output.anomalyScore ?? .nan)
                        }
                    }
                }
            }
        }
        guard !shadow else { return }
        let modelId = model.modelId, version = model.version.version
        predictions.withLock { slots in
            if slots.isEmpty { slots = Array(repeating: nil, count: remembered) }
            for (offset, output) in outputs.enumerated() {
                let counter = firstId + UInt64(offset)
                let predicted = output.label ?? output.value.map { String($0) } ?? output.anomalyScore.map { String($0) } ?? ""
                slots[Int(counter % UInt64(remembered))] = (counter, PredictionRecord(modelId: modelId, version: version, predicted: predicted))
            }
        }
    }

    /// Counts a failed request (`rejected` for the client's mistakes).
    func recordFailure(modelId: String, version: Int, rejected: Bool) {
        stats.withLock { all in
            Self.update(&all[VersionKey(modelId: modelId, version: version), default: VersionStats()]) { stats in
                stats.requests += 1
                if rejected { stats.rejected += 1 } else { stats.errors += 1 }
            }
        }
    }

    @inline(__always)
    private static func update<Value>(_ value: inout Value, _ body: (inout Value) -> Void) { body(&value) }

    func prediction(_ id: String) -> PredictionRecord? {
        guard let counter = counter(of: id) else { return nil }
        return predictions.withLock { slots in
            guard !slots.isEmpty, let slot = slots[Int(counter % UInt64(remembered))], slot.counter == counter else {
                return nil
            }
            return slot.record
        }
    }

    func recordFeedback(_ record: PredictionRecord, actual: String, at: Date) {
        stats.withLock { all in
            Self.update(&all[VersionKey(modelId: record.modelId, version: record.version), default: VersionStats()]) {
                $0.feedback.append(Feedback(at: at, predicted: record.predicted, actual: actual))
            }
        }
    }

    // MARK: Reading

    func stats(_ key: VersionKey) -> VersionStats? { stats.withLock { $0[key] } }

    func modelIds() -> Set<String> { stats.withLock { Set($0.keys.map(\.modelId)) } }

    func versions(of modelId: String) -> [Int] {
        stats.withLock { all in all.keys.filter { $0.modelId == modelId }.map(\.version) }.sorted()
    }

    func window(_ key: VersionKey) -> InputWindow? { windows.withLock { $0[key] } }

    static func percentile(_ sorted: [Double], _ p: Double) -> Double? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p * Double(sorted.count)).rounded(.up)) - 1
        return sorted[min(sorted.count - 1, max(0, rank))]
    }

    /// Accuracy and, for classification, precision, recall and F1 (binary: of `positive`; else macro averages) of
    /// feedback entries.
    static func quality(_ entries: [Feedback], classes: [String]?) -> [String: JSONValue] {
        guard !entries.isEmpty else { return ["count": .int(0)] }
        var result: [String: JSONValue] = ["count": .int(Int64(entries.count))]
        let correct = entries.filter { $0.predicted == $0.actual }.count
        result["accuracy"] = .double(Double(correct) / Double(entries.count))
        guard let classes, classes.count >= 2 else { return result }
        func scores(_ positive: String) -> (precision: Double, recall: Double, f1: Double) {
            let tp = Double(entries.filter { $0.predicted == positive && $0.actual == positive }.count)
            let fp = Double(entries.filter { $0.predicted == positive && $0.actual != positive }.count)
            let fn = Double(entries.filter { $0.predicted != positive && $0.actual == positive }.count)
            let precision = tp + fp > 0 ? tp / (tp + fp) : 0
            let recall = tp + fn > 0 ? tp / (tp + fn) : 0
            let f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
            return (precision, recall, f1)
        }
        if classes.count == 2 {
            let s = scores(classes[1])
            result["positiveClass"] = .string(classes[1])
            result["precision"] = .double(s.precision)
            result["recall"] = .double(s.recall)
            result["f1"] = .double(s.f1)
        } else {
            let all = classes.map(scores)
            let n = Double(all.count)
            result["precision"] = .double(all.map(\.precision).reduce(0, +) / n)
            result["recall"] = .double(all.map(\.recall).reduce(0, +) / n)
            result["f1"] = .double(all.map(\.f1).reduce(0, +) / n)
        }
        return result
    }
}
