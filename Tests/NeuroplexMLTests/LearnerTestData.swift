import Foundation
import Synchronization
import NeuroplexCore
@testable import NeuroplexML
import Testing

/// Synthetic data for the learner tests, reproducible from a seed.
struct SyntheticData {
    var generator: Xoshiro256

    init(seed: UInt64) { generator = Xoshiro256(seed: seed) }

    /// A standard normal draw (Box–Muller).
    mutating func normal() -> Double {
        let u = max(generator.unit(), 1e-300), v = generator.unit()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }

    /// `perClass` rows around each centre with standard deviation `spread`; labels are the centre indices.
    mutating func blobs(_ centres: [[Double]], perClass: Int, spread: Double) -> (FeatureMatrix, [Double]) {
        let d = centres[0].count
        var values: [Double] = [], labels: [Double] = []
        for i in 0..<perClass {
            for (c, centre) in centres.enumerated() {
                _ = i
                for j in 0..<d { values.append(centre[j] + spread * normal()) }
                labels.append(Double(c))
            }
        }
        return (FeatureMatrix(rows: labels.count, columns: d, values: values), labels)
    }
}

/// Trains with no validation set and no progress reporting.
func train<L: Learner>(
    _ learner: L.Type, _ features: FeatureMatrix, _ labels: [Double], classCount: Int = 0,
    task: LearningTask, _ hyperparameters: [String: JSONValue] = [:]
) async throws -> any TrainedModel {
    try await L.train(
        features: features, labels: labels, classCount: classCount, task: task, hyperparameters: hyperparameters,
        validation: nil, progress: { _, _, _ in })
}

/// The index of the largest value of each row.
func argmax(_ rows: [[Double]]) -> [Int] {
    rows.map { row in row.indices.max { row[$0] < row[$1] }! }
}

func accuracy(_ predictions: [[Double]], _ labels: [Double]) -> Double {
    let predicted = argmax(predictions)
    return Double(zip(predicted, labels).filter { Double($0) == $1 }.count) / Double(labels.count)
}

/// Expects an `invalid_hyperparameter` refusal (400) whose message contains every one of `fragments`.
func expectInvalidHyperparameter(_ fragments: [String], _ body: () throws -> Void) {
    do {
        try body()
        Issue.record("expected invalid_hyperparameter mentioning \(fragments)")
    } catch let error as NeuroplexError {
        #expect(error.kind == .badRequest)
        #expect(error.code.rawValue == "invalid_hyperparameter")
        for fragment in fragments { #expect(error.message.contains(fragment), "\(error.message)") }
    } catch {
        Issue.record("unexpected error \(error)")
    }
}

/// Saves a model, loads it with `learner`, and expects identical predictions on `features`.
func expectRoundTrip<L: Learner>(_ model: any TrainedModel, _ learner: L.Type, _ features: FeatureMatrix) throws {
    let (bytes, mediaType) = try model.artifact()
    #expect(mediaType == "application/json")
    let loaded = try L.load(bytes)
    #expect(try loaded.predict(features) == model.predict(features))
    #expect(try loaded.artifact().bytes == bytes)
}

/// Trains with a progress callback that cancels the training task at iteration 3; expects `CancellationError`
/// and no progress after the cancellation was seen.
func expectCancellation<L: Learner>(
    _ learner: L.Type, _ features: FeatureMatrix, _ labels: [Double], classCount: Int, task: LearningTask,
    _ hyperparameters: [String: JSONValue]
) async {
    let last = LastProgress()
    let training = Task {
        try await L.train(
            features: features, labels: labels, classCount: classCount, task: task,
            hyperparameters: hyperparameters, validation: nil,
            progress: { current, _, _ in
                last.record(current)
                if current == 3 { withUnsafeCurrentTask { $0?.cancel() } }
            })
    }
    await #expect(throws: CancellationError.self) { _ = try await training.value }
    #expect(last.value == 3)
}

/// The latest progress value reported (progress callbacks are `@Sendable`).
final class LastProgress: Sendable {
    private let storage = Mutex(0)
    func record(_ value: Int) { storage.withLock { $0 = value } }
    var value: Int { storage.withLock { $0 } }
}
