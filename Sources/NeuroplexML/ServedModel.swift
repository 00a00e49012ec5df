public import Foundation
public import NeuroplexCore
import Synchronization

/// One prediction, before it is given an id.
public struct PredictionOutput: Sendable, Equatable {
    /// Classification: the predicted class.
    public var label: String?
    /// Regression: the predicted value.
    public var value: Double?
    /// Classification: each class's probability, in class order.
    public var probabilities: [Double]?
    /// The highest class probability (classification).
    public var confidence: Double?
    /// Anomaly detection: higher is more anomalous.
    public var anomalyScore: Double?
}

/// Per-feature contributions to one prediction's raw margin (log-odds of `outcome` for classification).
public struct Explanation: Sendable, Equatable {
    /// What the margin is of: the positive class of a binary model, the predicted class of a multi-class one.
    public var outcome: String?
    public var bias: Double
    /// Per input column, in the version's column order (one-hot features summed back to their column).
    public var contributions: [(name: String, value: Double)]

    public static func == (a: Explanation, b: Explanation) -> Bool {
        a.outcome == b.outcome && a.bias == b.bias && a.contributions.map(\.name) == b.contributions.map(\.name)
            && a.contributions.map(\.value) == b.contributions.map(\.value)
    }
}

/// A loaded model version, ready to predict: its input schema, a native evaluator and, for explanations, XGBoost.
///
/// Inputs are checked against the columns the version was trained on: an unknown column, a wrongly typed value or
/// (unless allowed) a missing column is refused with 422 naming it. Columns the training left out (identifiers,
/// dropped columns) and the label are accepted and ignored.
public final class ServedModel: Sendable {
    public let modelId: String
    public let modelName: String
    public let version: MLModelVersion
    /// The input columns, in order (the order of an instance given as an array).
    public let inputs: [FittedPreprocessing.Column]
    let inputIndex: [String: Int]
    /// The input columns' names as UTF-8 bytes, for ``features(json:range:allowMissing:row:at:raw:rawAt:)``.
    let inputNames: [[UInt8]]
    let ignored: Set<String>
    let categoryIndex: [[String: Int]]
    /// The width of the preprocessed feature row.
    let width: Int
    /// Where each input column's features start in the row.
    let offsets: [Int]
    let evaluator: Evaluator
    /// The loaded XGBoost model, for explanations (exact TreeSHAP); made on the first request for one.
    private let explainer = Mutex<XGBoostModel?>(nil)
    private let artifact: [UInt8]
    /// An estimate of the memory the loaded model holds.
    public let memoryBytes: Int

    enum Evaluator: Sendable {
        case trees(CompiledTreeEnsemble)
        case model(any TrainedModel)
    }

    /// The class names of a classification model.
    public var classes: [String]? { version.task == .classification ? version.label?.classes : nil }

    /// Loads `artifact` of `version`, compiles tree ensembles to the native evaluator, and checks on a row of
    /// training-like values that the evaluator agrees with the learner's own prediction.
    public init(modelName: String, version: MLModelVersion, artifact: [UInt8]) throws {
        self.modelId = version.modelId
        self.modelName = modelName
        self.version = version
        self.artifact = artifact
        inputs = version.preprocessing.columns
        inputIndex = Dictionary(inputs.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        inputNames = inputs.map { Array($0.name.utf8) }
        var ignored = Set(version.preprocessing.dropped.map(\.name))
        if let label = version.label?.column { ignored.insert(label) }
        self.ignored = ignored
        categoryIndex = inputs.map { column in
            Dictionary((column.categories ?? []).enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        }
        var offsets: [Int] = []
        var width = 0
        for column in inputs {
            offsets.append(width)
            width += column.kind == .onehot ? (column.categories?.count ?? 0) : 1
        }
        self.offsets = offsets
        self.width = width
        guard width == version.features.count else {
            throw NeuroplexError(
                .invalidInput, code: TrainingCodes.invalidModel,
                "version \(version.version) has \(version.features.count) features but its preprocessing makes \(width)")
        }
        let learner = try Learners.learner(version.algorithm)
        let loaded = try learner.load(artifact)
        var evaluator = Evaluator.model(loaded)
        var memory = artifact.count
        if let xgboost = loaded as? XGBoostModel {
            // The native evaluator reads XGBoost's JSON: the artifact's own, else (UBJSON, as trained versions are
            // stored, or a layout of another XGBoost version) as this server's XGBoost writes it back.
            var compiled: CompiledTreeEnsemble?
            if XGBoostCompatibility.isJSON(artifact) { compiled = try? CompiledTreeEnsemble(xgboostJSON: artifact) }
            if compiled == nil { compiled = try? CompiledTreeEnsemble(xgboostJSON: try xgboost.json()) }
            if let compiled, compiled.featureCount == width {
                evaluator = .trees(compiled)
                memory = compiled.treeCount * 64 + artifact.count / 4
            }
            explainer.withLock { $0 = xgboost }
        }
        self.evaluator = evaluator
        memoryBytes = memory
        // Warm up, and check the native evaluator against the learner, on training-like rows: the fill values,
        // then up to 255 rows made from the training profile (the k-th sampled value of each numeric column, the
        // categories in turn).
        var rows: [JSONValue] = [.array(inputs.map { column -> JSONValue in
            switch column.kind {
            case .numeric: return column.fill.map { .double($0) } ?? .double(column.center ?? 0)
            case .onehot, .ordinal: return column.fillCategory.map { .string($0) } ?? .null
            }
        })]
        if let reference = version.reference, reference.features.count == inputs.count {
            for k in 0..<255 {
                rows.append(.array(zip(inputs, reference.features).map { column, distribution -> JSONValue in
                    if let sample = distribution.sample, !sample.isEmpty { return .double(sample[(k * 37) % sample.count]) }
                    let categories = column.categories ?? []
                    return categories.isEmpty ? .null : .string(categories[k % categories.count])
                }))
            }
        }
        var features = [Double](repeating: 0, count: rows.count * width)
        var raw = [Double](repeating: 0, count: rows.count * inputs.count)
        for (index, row) in rows.enumerated() {
            try self.features(row, allowMissing: true, row: &features, at: index * width, raw: &raw, rawAt: index * inputs.count)
        }
        if case .trees = evaluator {
            let native = try predict(rows: features, count: rows.count)
            let expected = try loaded.predict(FeatureMatrix(rows: rows.count, columns: width, values: features)).flatMap { $0 }
            let same = native.count == expected.count && zip(native, expected).allSatisfy { abs($0 - $1) <= 1e-5 }
            if !same { evaluatorFallback.withLock { $0 = loaded } }
        }
    }

    /// Set when the native evaluator disagreed with the learner at load: predictions then use the learner.
    private let evaluatorFallback = Mutex<(any TrainedModel)?>(nil)

    /// `native` when predictions use the compiled tree evaluator, else the learner's name (`xgboost` when the
    /// evaluator could not compile the model or disagreed with XGBoost at load, `logistic_regression`, ...).
    public var evaluatorName: String {
        if evaluatorFallback.withLock({ $0 }) == nil, case .trees = evaluator { return "native" }
        return version.algorithm
    }

    // MARK: Inputs

    /// Reads one instance (an object of column → value, or an array in column order) into the preprocessed
    /// feature row at `base` of `row` (``width`` values), and into `raw` at `rawBase` the values as given (numbers;
    /// a category's index, -1 when unseen; NaN when missing), for drift.
    /// - Throws: 422 `unknown_feature`, `missing_feature`, `invalid_feature`, `invalid_instance`.
    func features(
        _ instance: JSONValue, allowMissing: Bool, row: inout [Double], at base: Int, raw: inout [Double], rawAt rawBase: Int
    ) throws {
        var seen = [Bool](repeating: false, count: inputs.count)
        switch instance {
        case .object(let fields):
            var unknown: [String] = []
            for (name, value) in fields {
                if let index = inputIndex[name] {
                    seen[index] = true
                    try write(index, Self.scalar(value), row: &row, at: base, raw: &raw, rawAt: rawBase)
                } else if !ignored.contains(name) {
                    unknown.append(name)
                }
            }
            try refuseUnknown(unknown)
        case .array(let values):
            try checkCount(values.count)
            for (index, value) in values.enumerated() {
                seen[index] = true
                try write(index, Self.scalar(value), row: &row, at: base, raw: &raw, rawAt: rawBase)
            }
        default:
            throw Self.notAnInstance(instance.typeName)
        }
        try fillMissing(seen, allowMissing: allowMissing, row: &row, at: base, raw: &raw, rawAt: rawBase)
    }

    /// As ``features(_:allowMissing:row:at:raw:rawAt:)``, reading the instance straight from its JSON bytes
    /// (`range` of `json`), without a parsed tree: the predict path's parser.
    func features(
        json: UnsafeBufferPointer<UInt8>, range: Range<Int>, allowMissing: Bool, row: inout [Double], at base: Int,
        raw: inout [Double], rawAt rawBase: Int
    ) throws {
        var seen = [Bool](repeating: false, count: inputs.count)
        var scanner = JSONScanner(json, at: range.lowerBound)
        if scanner.take(UInt8(ascii: "{")) {
            var unknown: [String] = []
            // Clients mostly send the columns in the schema's order: the next column's name is compared first, as
            // bytes; any other key is looked up by name.
            var guess = 0
            if !scanner.take(UInt8(ascii: "}")) {
                repeat {
                    let (key, escaped) = try scanner.rawString()
                    var index: Int?
                    var name: String?
                    if !escaped, guess < inputs.count, scanner.equals(key, inputNames[guess]) {
                        index = guess
                    } else {
                        var rescan = JSONScanner(json, at: key.lowerBound - 1)
                        let text = escaped ? try rescan.string() : try scanner.text(key)
                        index = inputIndex[text]
                        name = text
                    }
                    try scanner.expect(UInt8(ascii: ":"))
                    if let index {
                        seen[index] = true
                        guess = index + 1
                        try write(index, try scanner.scalar(), row: &row, at: base, raw: &raw, rawAt: rawBase)
                    } else {
                        if let name, !ignored.contains(name) { unknown.append(name) }
                        _ = try scanner.skipValue()
                    }
                } while scanner.take(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "}"))
            }
            try refuseUnknown(unknown)
        } else if scanner.take(UInt8(ascii: "[")) {
            var values: [JSONScanner.Scalar] = []
            if !scanner.take(UInt8(ascii: "]")) {
                repeat { values.append(try scanner.scalar()) } while scanner.take(UInt8(ascii: ","))
                try scanner.expect(UInt8(ascii: "]"))
            }
            try checkCount(values.count)
            for (index, value) in values.enumerated() {
                seen[index] = true
                try write(index, value, row: &row, at: base, raw: &raw, rawAt: rawBase)
            }
        } else {
            throw Self.notAnInstance(try JSONValue.parse(UnsafeBufferPointer(rebasing: json[range])).typeName)
        }
        try fillMissing(seen, allowMissing: allowMissing, row: &row, at: base, raw: &raw, rawAt: rawBase)
    }

    private func refuseUnknown(_ unknown: [String]) throws {
        guard !unknown.isEmpty else { return }
        let names = unknown.sorted()
        throw NeuroplexError(
            .invalidInput, code: "unknown_feature",
            "unknown feature\(names.count == 1 ? "" : "s") \(names.map { "'\($0)'" }.joined(separator: ", ")); version \(version.version) of '\(modelName)' takes \(inputs.map(\.name).joined(separator: ", "))",
            field: names[0])
    }

    private func checkCount(_ count: Int) throws {
        guard count == inputs.count else {
            throw NeuroplexError(
                .invalidInput, code: "invalid_instance",
                "an instance given as an array needs \(inputs.count) values, in the order \(inputs.map(\.name).joined(separator: ", ")); it has \(count)",
                field: "instances")
        }
    }

    static func notAnInstance(_ type: String) -> NeuroplexError {
        NeuroplexError(
            .invalidInput, code: "invalid_instance",
            "each instance is an object of feature values or an array of them, not \(type)", field: "instances")
    }

    private func fillMissing(
        _ seen: [Bool], allowMissing: Bool, row: inout [Double], at base: Int, raw: inout [Double], rawAt rawBase: Int
    ) throws {
        guard seen.contains(false) else { return }
        let absent = inputs.indices.filter { !seen[$0] }
        guard allowMissing else {
            let names = absent.map { "'\(inputs[$0].name)'" }.joined(separator: ", ")
            throw NeuroplexError(
                .invalidInput, code: "missing_feature",
                "missing feature\(absent.count == 1 ? "" : "s") \(names); send them, or set allowMissing to fill them as in training",
                field: inputs[absent[0]].name)
        }
        for index in absent { try write(index, .null, row: &row, at: base, raw: &raw, rawAt: rawBase) }
    }

    static func scalar(_ value: JSONValue) -> JSONScanner.Scalar {
        switch value {
        case .int(let integer): .number(Double(integer))
        case .double(let real): .number(real)
        case .string(let text): .string(text)
        case .bool(let flag): .bool(flag)
        case .null: .null
        case .array, .object: .other(value.typeName)
        }
    }

    private func write(
        _ index: Int, _ value: JSONScanner.Scalar, row: inout [Double], at base: Int, raw: inout [Double], rawAt rawBase: Int
    ) throws {
        let column = inputs[index]
        let offset = base + offsets[index]
        switch column.kind {
        case .numeric:
            let number: Double
            var missing = false
            switch value {
            case .number(let real): number = real
            case .bool(let flag): number = flag ? 1 : 0
            case .null:
                number = column.fill ?? .nan
                missing = true
            case .string: throw Self.wrongType(column.name, "a number", "string")
            case .other(let type): throw Self.wrongType(column.name, "a number", type)
            }
            raw[rawBase + index] = missing ? .nan : number
            row[offset] = (number - (column.center ?? 0)) / (column.scale ?? 1)
        case .onehot, .ordinal:
            let category: String?
            switch value {
            case .string(let text): category = text
            case .number(let real): category = real == real.rounded() && abs(real) < 1e15 ? String(Int64(real)) : String(real)
            case .bool(let flag): category = flag ? "true" : "false"
            case .null: category = column.fillCategory
            case .other(let type): throw Self.wrongType(column.name, "a category (a string)", type)
            }
            let position = category.flatMap { categoryIndex[index][$0] }
            if case .null = value { raw[rawBase + index] = .nan } else { raw[rawBase + index] = Double(position ?? -1) }
            if column.kind == .onehot {
                let count = column.categories?.count ?? 0
                for k in 0..<count { row[offset + k] = 0 }
                if let position { row[offset + position] = 1 }
            } else {
                row[offset] = position.map(Double.init) ?? -1
            }
        }
    }

    static func wrongType(_ name: String, _ expected: String, _ type: String) -> NeuroplexError {
        NeuroplexError(.invalidInput, code: "invalid_feature", "feature '\(name)' must be \(expected), not \(type)", field: name)
    }

    // MARK: Predicting

    /// The predictions of `count` preprocessed rows.
    func outputs(rows: [Double], count: Int) throws -> [PredictionOutput] {
        let values = try predict(rows: rows, count: count)
        let width = values.count / max(1, count)
        return (0..<count).map { output(values[$0 * width..<($0 + 1) * width]) }
    }

    /// The raw outputs of `count` preprocessed rows, row-major (one value per class, or one).
    func predict(rows: [Double], count: Int) throws -> [Double] {
        if let fallback = evaluatorFallback.withLock({ $0 }) {
            return try fallback.predict(FeatureMatrix(rows: count, columns: width, values: rows)).flatMap { $0 }
        }
        switch evaluator {
        case .trees(let trees):
            if count == 1 {
                var output = [Double](repeating: 0, count: trees.outputCount)
                rows.withUnsafeBufferPointer { row in
                    output.withUnsafeMutableBufferPointer { trees.predict(row: row, into: $0) }
                }
                return output
            }
            return try trees.predictFlat(FeatureMatrix(rows: count, columns: width, values: rows), threads: count >= 20_000 ? 2 : 1)
        case .model(let model):
            return try model.predict(FeatureMatrix(rows: count, columns: width, values: rows)).flatMap { $0 }
        }
    }

    /// What one row of raw outputs means.
    func output(_ values: ArraySlice<Double>) -> PredictionOutput {
        switch version.task {
        case .classification:
            let classes = version.label?.classes ?? []
            let probabilities = Array(values)
            let best = DriftStatistics.argmax(probabilities)
            return PredictionOutput(
                label: best < classes.count ? classes[best] : String(best), probabilities: probabilities,
                confidence: probabilities.isEmpty ? nil : probabilities[best])
        case .regression:
            return PredictionOutput(value: values.first)
        case .anomaly:
            return PredictionOutput(anomalyScore: values.first)
        }
    }

    /// Explains preprocessed rows: XGBoost's exact TreeSHAP, or coefficient × value for logistic regression.
    /// - Throws: 422 `explanation_unsupported` for other algorithms.
    func explain(rows: [Double], count: Int, outputs: [PredictionOutput]) throws -> [Explanation] {
        let classes = version.label?.classes
        let matrix = FeatureMatrix(rows: count, columns: width, values: rows)
        if let xgboost = explainer.withLock({ $0 }) {
            let all = try xgboost.contributions(matrix)
            return all.enumerated().map { r, groups in
                // Binary and regression models have one margin; a multi-class one has one per class: explain the
                // predicted class.
                var group = 0
                var outcome = classes.flatMap { $0.count == 2 ? $0[1] : nil }
                if groups.count > 1, let label = outputs[r].label, let index = classes?.firstIndex(of: label) {
                    group = index
                    outcome = label
                }
                let values = groups[min(group, groups.count - 1)]
                return self.explanation(values.dropLast(), bias: values.last ?? 0, outcome: outcome)
            }
        }
        if case .model(let model) = evaluator, let logistic = model as? LogisticRegressionModel {
            return (0..<count).map { r in
                let x = rows[r * width..<(r + 1) * width]
                var k = 0
                var outcome = classes.flatMap { $0.count == 2 ? $0[1] : nil }
                if logistic.classCount > 2, let label = outputs[r].label, let index = classes?.firstIndex(of: label) {
                    k = index
                    outcome = label
                }
                let coefficients = logistic.coefficients(k)
                let values = zip(coefficients, x).map { $0 * $1 }
                return explanation(values[...], bias: logistic.intercept(k), outcome: outcome)
            }
        }
        throw NeuroplexError(
            .invalidInput, code: "explanation_unsupported",
            "explanations are given for XGBoost and logistic regression models, not \(version.algorithm)", field: "explain")
    }

    /// Sums feature contributions back to input columns.
    private func explanation(_ values: ArraySlice<Double>, bias: Double, outcome: String?) -> Explanation {
        let start = values.startIndex
        var contributions: [(name: String, value: Double)] = []
        for (index, column) in inputs.enumerated() {
            let count = column.kind == .onehot ? (column.categories?.count ?? 0) : 1
            var sum = 0.0
            for k in 0..<count { sum += values[start + offsets[index] + k] }
            contributions.append((column.name, sum))
        }
        return Explanation(outcome: outcome, bias: bias, contributions: contributions)
    }
}

extension ServedModel {
    /// One input column's share in the model.
    public struct Importance: Sendable {
        public var feature: String
        /// XGBoost: splits on the column's features, their total gain and total cover.
        public var splits: Double?
        public var totalGain: Double?
        public var totalCover: Double?
        /// The mean absolute contribution to the margin over the rows explained.
        public var meanAbsoluteContribution: Double?
    }

    /// Importance per input column: XGBoost's split counts, gain and cover (one-hot features summed back to their
    /// column), and the mean |SHAP| (or |coefficient × value|) over `rows`, instances as ``features(_:allowMissing:row:at:raw:rawAt:)`` reads them.
    func importance(over rows: [JSONValue]) throws -> [Importance] {
        var result = inputs.map { Importance(feature: $0.name) }
        func column(of feature: Int) -> Int? {
            inputs.indices.last { offsets[$0] <= feature }
        }
        if let xgboost = explainer.withLock({ $0 }) {
            for (type, path) in [("weight", \Importance.splits), ("total_gain", \.totalGain), ("total_cover", \.totalCover)] {
                for index in result.indices { result[index][keyPath: path] = 0 }
                for (feature, score) in try xgboost.importance(type) {
                    guard let index = column(of: feature) else { continue }
                    result[index][keyPath: path] = (result[index][keyPath: path] ?? 0) + score
                }
            }
        }
        guard !rows.isEmpty else { return result }
        var matrix = [Double](repeating: 0, count: rows.count * width)
        var raw = [Double](repeating: 0, count: rows.count * inputs.count)
        for (index, row) in rows.enumerated() {
            try features(row, allowMissing: true, row: &matrix, at: index * width, raw: &raw, rawAt: index * inputs.count)
        }
        let outputs = try outputs(rows: matrix, count: rows.count)
        guard let explanations = try? explain(rows: matrix, count: rows.count, outputs: outputs) else { return result }
        for index in result.indices {
            let total = explanations.reduce(0) { $0 + abs($1.contributions[index].value) }
            result[index].meanAbsoluteContribution = total / Double(explanations.count)
        }
        return result
    }

    /// An instance (an array in column order) from the values kept for drift: numbers, or a category's index.
    func instance(fromRaw raw: [Double]) -> JSONValue {
        .array(inputs.enumerated().map { index, column -> JSONValue in
            let value = index < raw.count ? raw[index] : .nan
            if value.isNaN { return .null }
            switch column.kind {
            case .numeric: return .double(value)
            case .onehot, .ordinal:
                let categories = column.categories ?? []
                return Int(value) >= 0 && Int(value) < categories.count ? .string(categories[Int(value)]) : .string("")
            }
        })
    }
}

extension ServedModel {
    /// Where each of this version's input columns is in a caller's rows of numbers (an index, or -1 when the caller
    /// has no such column: it is filled as missing).
    public struct NumericLayout: Sendable {
        let sources: [Int]
        let stride: Int
        /// This version's inputs that the caller's columns lack.
        public let missing: [String]
        /// Per input, where its feature goes and how it is scaled, when every input is numeric (no categories): then
        /// rows are preprocessed without going through ``ServedModel/write(_:_:row:at:raw:rawAt:)`` cell by cell.
        let scaling: [(offset: Int, fill: Double, center: Double, scale: Double)]?
    }

    /// Maps `columns` (the names of the caller's values, in row order) onto this version's inputs.
    public func layout(for columns: [String]) -> NumericLayout {
        let position = Dictionary(columns.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let sources = inputs.map { position[$0.name] ?? -1 }
        let scaling = inputs.allSatisfy { $0.kind == .numeric }
            ? inputs.indices.map { (offsets[$0], inputs[$0].fill ?? .nan, inputs[$0].center ?? 0, inputs[$0].scale ?? 1) }
            : nil
        return NumericLayout(
            sources: sources, stride: columns.count, missing: zip(inputs, sources).filter { $1 < 0 }.map(\.0.name),
            scaling: scaling)
    }

    /// Predicts `count` rows of numbers laid out as `layout` says (row-major, `columns.count` values a row), through
    /// the version's preprocessing: the path for callers that already hold numeric features (Sentinel's flows).
    /// - Returns: the predictions, and the preprocessed rows (for ``explain(preprocessed:rows:outputs:)``).
    public func predict(numeric values: [Double], count: Int, layout: NumericLayout) throws -> (outputs: [PredictionOutput], preprocessed: [Double]) {
        var rows = [Double](repeating: 0, count: count * width)
        if let scaling = layout.scaling {
            // The same arithmetic as `write` for numeric inputs (a missing value takes the fill, else NaN).
            for r in 0..<count {
                let base = r * layout.stride, out = r * width
                for (index, source) in layout.sources.enumerated() {
                    let input = scaling[index]
                    let number = source >= 0 ? values[base + source] : input.fill
                    rows[out + input.offset] = (number - input.center) / input.scale
                }
            }
            return (try outputs(rows: rows, count: count), rows)
        }
        var raw = [Double](repeating: 0, count: inputs.count)
        for r in 0..<count {
            let base = r * layout.stride
            for (index, source) in layout.sources.enumerated() {
                let value: JSONScanner.Scalar = source >= 0 ? .number(values[base + source]) : .null
                try write(index, value, row: &rows, at: r * width, raw: &raw, rawAt: 0)
            }
        }
        return (try outputs(rows: rows, count: count), rows)
    }

    /// Explains some of the rows that ``predict(numeric:count:layout:)`` preprocessed (by index).
    public func explain(preprocessed: [Double], rows: [Int], outputs: [PredictionOutput]) throws -> [Explanation] {
        guard !rows.isEmpty else { return [] }
        var picked: [Double] = []
        picked.reserveCapacity(rows.count * width)
        for r in rows { picked += preprocessed[r * width..<(r + 1) * width] }
        return try explain(rows: picked, count: rows.count, outputs: rows.map { outputs[$0] })
    }
}
