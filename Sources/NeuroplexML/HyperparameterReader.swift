import NeuroplexCore

/// Reads one learner's hyperparameters by their scikit-learn names, with defaults, and refuses anything else.
///
/// Every refusal is a `NeuroplexError` of kind `.badRequest` (HTTP 400) with code `invalid_hyperparameter` whose
/// field is `hyperparameters.<name>`; an unknown name lists the allowed ones, a bad value states the allowed range.
///
/// ```swift
/// let reader = try HyperparameterReader(algorithm: "kmeans", hyperparameters, allowed: ["n_clusters", "tol"])
/// let clusters = try reader.integer("n_clusters", default: 8, in: 1...)
/// ```
struct HyperparameterReader {
    /// The code of every refusal (spelled here, not as a shared `NeuroplexError.Code` constant, so that the
    /// XGBoost learner's branch can add its own without a clash).
    static let code: NeuroplexError.Code = "invalid_hyperparameter"

    let algorithm: String
    let values: [String: JSONValue]

    /// Checks that every name in `values` is one of `allowed`.
    init(algorithm: String, _ values: [String: JSONValue], allowed: [String]) throws {
        self.algorithm = algorithm
        self.values = values
        let allowedSet = Set(allowed)
        if let unknown = values.keys.sorted().first(where: { !allowedSet.contains($0) }) {
            throw NeuroplexError(
                .badRequest, code: Self.code,
                "unknown hyperparameter '\(unknown)' for \(algorithm); allowed: \(allowed.sorted().joined(separator: ", "))",
                field: "hyperparameters.\(unknown)")
        }
    }

    /// A refusal of the value of `name`.
    func invalid(_ name: String, _ requirement: String) -> NeuroplexError {
        let given = values[name].map { " (got \($0))" } ?? ""
        return NeuroplexError(
            .badRequest, code: Self.code, "\(algorithm) hyperparameter '\(name)' \(requirement)\(given)",
            field: "hyperparameters.\(name)")
    }

    /// Whether `name` was given (and is not `null`).
    func isGiven(_ name: String) -> Bool {
        guard let value = values[name] else { return false }
        return value != .null
    }

    /// A number with `lower`/`upper` bounds, each inclusive or exclusive; `null` or absent gives `defaultValue`.
    func double(
        _ name: String, default defaultValue: Double, above lower: Double? = nil, atLeast lowerInclusive: Double? = nil,
        atMost upper: Double? = nil, below upperExclusive: Double? = nil
    ) throws -> Double {
        let range = Self.describe(above: lower, atLeast: lowerInclusive, atMost: upper, below: upperExclusive)
        guard let value = values[name], value != .null else { return defaultValue }
        guard let number = value.numberValue, number.isFinite else { throw invalid(name, "must be a number \(range)") }
        if let lower, !(number > lower) { throw invalid(name, "must be a number \(range)") }
        if let lowerInclusive, !(number >= lowerInclusive) { throw invalid(name, "must be a number \(range)") }
        if let upper, !(number <= upper) { throw invalid(name, "must be a number \(range)") }
        if let upperExclusive, !(number < upperExclusive) { throw invalid(name, "must be a number \(range)") }
        return number
    }

    /// An integer (a JSON number with no fractional part) in `range`; `null` or absent gives `defaultValue`.
    func integer(_ name: String, default defaultValue: Int, in range: PartialRangeFrom<Int>) throws -> Int {
        guard let value = values[name], value != .null else { return defaultValue }
        let requirement = "must be an integer ≥ \(range.lowerBound)"
        guard let number = Self.exactInteger(value) else { throw invalid(name, requirement) }
        guard range.contains(number) else { throw invalid(name, requirement) }
        return number
    }

    /// A boolean; `null` or absent gives `defaultValue`.
    func bool(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let value = values[name], value != .null else { return defaultValue }
        guard case .bool(let flag) = value else { throw invalid(name, "must be true or false") }
        return flag
    }

    /// A seed: absent or `null` means a fresh random one (as scikit-learn's `random_state=None`).
    func seed(_ name: String) throws -> UInt64? {
        guard let value = values[name], value != .null else { return nil }
        guard let number = Self.exactInteger(value), number >= 0 else {
            throw invalid(name, "must be null or an integer ≥ 0")
        }
        return UInt64(number)
    }

    /// The integer a JSON number stands for, when it has no fractional part.
    static func exactInteger(_ value: JSONValue) -> Int? {
        switch value {
        case .int(let number): return Int(exactly: number)
        case .double(let number) where number.isFinite && number == number.rounded(): return Int(exactly: number)
        default: return nil
        }
    }

    private static func describe(above: Double?, atLeast: Double?, atMost: Double?, below: Double?) -> String {
        var parts: [String] = []
        if let above { parts.append("> \(format(above))") }
        if let atLeast { parts.append("≥ \(format(atLeast))") }
        if let atMost { parts.append("≤ \(format(atMost))") }
        if let below { parts.append("< \(format(below))") }
        return parts.joined(separator: " and ")
    }

    static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
