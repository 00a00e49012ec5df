import NeuroplexCore

/// The compact JSON artifact of a native Swift model: `{"format": "neuroplex.<algorithm>", "version": 1, ...}`.
///
/// Doubles are written in their shortest round-trip form, so a loaded model predicts exactly what the saved one did.
struct LearnerArtifact {
    static let mediaType = "application/json"

    var members: [String: JSONValue]

    /// A new artifact for `algorithm`.
    init(algorithm: String) {
        members = ["format": .string("neuroplex.\(algorithm)"), "version": .int(1)]
    }

    /// Parses `bytes` and checks that it is a version-1 artifact of `algorithm`.
    init(parsing bytes: [UInt8], algorithm: String) throws {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes)
        } catch {
            throw Self.corrupt(algorithm, "it is not JSON (\(error))")
        }
        guard case .object(let members) = value else { throw Self.corrupt(algorithm, "it is not a JSON object") }
        guard members["format"] == .string("neuroplex.\(algorithm)") else {
            throw Self.corrupt(algorithm, "its format is not neuroplex.\(algorithm)")
        }
        guard members["version"] == .int(1) else { throw Self.corrupt(algorithm, "its version is not 1") }
        self.members = members
    }

    var bytes: [UInt8] { JSONValue.object(members).bytes }

    subscript(key: String) -> JSONValue? {
        get { members[key] }
        set { members[key] = newValue }
    }

    var algorithm: String {
        if case .string(let format) = members["format"] { return String(format.dropFirst("neuroplex.".count)) }
        return "model"
    }

    func integer(_ key: String) throws -> Int {
        guard let value = members[key], let number = HyperparameterReader.exactInteger(value) else {
            throw Self.corrupt(algorithm, "'\(key)' is not an integer")
        }
        return number
    }

    func double(_ key: String) throws -> Double {
        guard let number = members[key]?.numberValue else { throw Self.corrupt(algorithm, "'\(key)' is not a number") }
        return number
    }

    /// A flat array of numbers, checked to have `count` elements when given.
    func doubles(_ key: String, count: Int? = nil) throws -> [Double] {
        guard case .array(let values) = members[key] else { throw Self.corrupt(algorithm, "'\(key)' is not an array") }
        var result: [Double] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard let number = value.numberValue else { throw Self.corrupt(algorithm, "'\(key)' holds a non-number") }
            result.append(number)
        }
        if let count, result.count != count {
            throw Self.corrupt(algorithm, "'\(key)' has \(result.count) values, not \(count)")
        }
        return result
    }

    /// A flat array of integers, checked to have `count` elements when given.
    func integers(_ key: String, count: Int? = nil) throws -> [Int32] {
        guard case .array(let values) = members[key] else { throw Self.corrupt(algorithm, "'\(key)' is not an array") }
        var result: [Int32] = []
        result.reserveCapacity(values.count)
        for value in values {
            guard case .int(let number) = value, let small = Int32(exactly: number) else {
                throw Self.corrupt(algorithm, "'\(key)' holds a non-integer")
            }
            result.append(small)
        }
        if let count, result.count != count {
            throw Self.corrupt(algorithm, "'\(key)' has \(result.count) values, not \(count)")
        }
        return result
    }

    static func array(_ values: [Double]) -> JSONValue { .array(values.map { .double($0) }) }
    static func array(_ values: [Int32]) -> JSONValue { .array(values.map { .int(Int64($0)) }) }

    static func corrupt(_ algorithm: String, _ reason: String) -> NeuroplexError {
        NeuroplexError(.invalidInput, code: "invalid_model_artifact", "not a \(algorithm) model artifact: \(reason)")
    }
}

/// Checks shared by the native learners' `predict`.
enum LearnerInput {
    /// Refuses a matrix whose column count differs from the one the model was trained on.
    static func checkColumns(_ features: FeatureMatrix, expected: Int, algorithm: String) throws {
        guard features.columns == expected else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed,
                "the \(algorithm) model takes \(expected) features per row, not \(features.columns)", field: "features")
        }
    }

    /// Refuses a task the learner cannot learn.
    static func checkTask(_ task: LearningTask, _ tasks: Set<LearningTask>, algorithm: String) throws {
        guard tasks.contains(task) else {
            let names = tasks.map(\.rawValue).sorted().joined(separator: ", ")
            throw NeuroplexError(
                .invalidInput, code: .validationFailed, "\(algorithm) learns \(names), not \(task.rawValue)",
                field: "task")
        }
    }

    /// The labels as class indices, refusing any that is not an integer in `0..<classCount`.
    static func classIndices(_ labels: [Double], rows: Int, classCount: Int, algorithm: String) throws -> [Int] {
        guard classCount >= 2 else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed, "\(algorithm) needs at least two classes, not \(classCount)",
                field: "label")
        }
        guard labels.count == rows else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed, "\(rows) rows but \(labels.count) labels", field: "label")
        }
        var classes = [Int](repeating: 0, count: rows)
        for (i, label) in labels.enumerated() {
            guard label >= 0, label < Double(classCount), label == label.rounded() else {
                throw NeuroplexError(
                    .invalidInput, code: .validationFailed,
                    "label \(label) of row \(i) is not a class index in 0..<\(classCount)", field: "label")
            }
            classes[i] = Int(label)
        }
        return classes
    }

    /// Refuses training data with no rows or with non-finite values (missing values must be imputed first).
    static func checkTraining(_ features: FeatureMatrix, algorithm: String) throws {
        guard features.rows > 0, features.columns > 0 else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed, "\(algorithm) needs at least one row and one feature",
                field: "features")
        }
        let finite = features.values.withUnsafeBufferPointer { values in values.allSatisfy { $0.isFinite } }
        guard finite else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed,
                "\(algorithm) cannot train on missing or infinite feature values; impute them first", field: "features")
        }
    }
}
