public import Foundation
import NeuroplexCore

/// The rows of a stored dataset as text cells (`nil` for a missing value), read with the parser of its format.
public struct DataTable: Sendable {
    public private(set) var header: [String]
    public private(set) var rows: [[String?]]
    /// Each cell's number as read with the file, row-major and header-wide; NaN where the byte parser found none
    /// (a missing cell, text, a form only the standard library reads). Fitting, transforming and profiling each
    /// read every number: parsed once here instead of from the text each time (a third of a digits job's
    /// preparation). Empty for a table made from text, which is parsed as it is read.
    private var parsed: [Double] = []

    public init(header: [String], rows: [[String?]]) {
        self.header = header
        self.rows = rows
    }

    /// The number in a cell, as ``FittedPreprocessing/number(_:)`` reads its text; `nil` when it is missing or
    /// holds no number.
    func number(row: Int, column: Int) -> Double? {
        if !parsed.isEmpty {
            let value = parsed[row &* header.count &+ column]
            if !value.isNaN { return value }
        }
        return text(row: row, column: column).flatMap(FittedPreprocessing.number)
    }

    /// The text of a cell; `nil` when it is missing (a short row misses its last cells).
    func text(row: Int, column: Int) -> String? {
        let cells = rows[row]
        return column < cells.count ? cells[column] : nil
    }

    /// Reads the file at `url` (CSV or NDJSON) into memory.
    public static func read(_ url: URL, format: DatasetFormat) throws -> DataTable {
        switch format {
        case .csv: try read(url, parser: CSVParser())
        case .ndjson: try read(url, parser: NDJSONParser())
        }
    }

    static func read<Parser: RecordParser>(_ url: URL, parser: Parser) throws -> DataTable {
        var parser = parser
        var table = DataTable(header: [], rows: [])
        var sawHeader = false
        let emit: (inout Record) throws -> Void = { record in
            if !sawHeader {
                sawHeader = true
                table.header = record.fields
                return
            }
            var row: [String?] = []
            row.reserveCapacity(record.count)
            for index in 0..<record.count {
                let text = record[index].withUnsafeBufferPointer { raw -> String? in
                    let trimmed = Cell.trimmed(raw)
                    guard !Cell.isMissing(trimmed: trimmed) else { return nil }
                    if index < table.header.count, let (value, _) = Cell.number(trimmed) { table.parsed.append(value) }
                    else if index < table.header.count { table.parsed.append(.nan) }
                    return String(decoding: trimmed, as: UTF8.self)
                }
                if text == nil && index < table.header.count { table.parsed.append(.nan) }
                row.append(text)
            }
            // Short rows padded, so that every row has a cell a column.
            for _ in min(record.count, table.header.count)..<table.header.count { table.parsed.append(.nan) }
            table.rows.append(row)
        }
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            try chunk.withUnsafeBytes { raw in
                try parser.consume(raw.bindMemory(to: UInt8.self), emit)
            }
        }
        try parser.finish(emit)
        return table
    }

    /// The index of the column `name`.
    /// - Throws: `unknown_column` (422).
    public func column(_ name: String) throws -> Int {
        guard let index = header.firstIndex(of: name) else {
            throw NeuroplexError(
                .invalidInput, code: "unknown_column", "the dataset has no column '\(name)'", field: "label")
        }
        return index
    }
}

/// How features are prepared: given with a model (`preprocessing`), fitted on the training split, saved with each
/// version and applied identically at validation and prediction.
public struct PreprocessingOptions: Sendable, Codable, Equatable {
    public enum Imputation: String, Sendable, Codable {
        case mean, median, mostFrequent = "most_frequent", constant
    }

    public enum CategoricalEncoding: String, Sendable, Codable {
        case onehot, ordinal
    }

    /// How missing numbers are filled (categories are always filled with the most frequent one).
    public var impute: Imputation = .mean
    /// The value for `impute: constant`.
    public var fillValue: Double = 0
    /// Scale numeric features to mean 0 and standard deviation 1.
    public var standardize: Bool = true
    public var categorical: CategoricalEncoding = .onehot
    /// Columns left out besides the identifiers found automatically.
    public var drop: [String] = []
    /// When given, only these columns are features.
    public var features: [String]?
    /// A categorical column with more distinct values than this is dropped.
    public var maxCategories: Int = 200

    public init() {}

    enum CodingKeys: String, CodingKey {
        case impute, fillValue, standardize, categorical, drop, features, maxCategories
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        impute = try container.decodeIfPresent(Imputation.self, forKey: .impute) ?? .mean
        fillValue = try container.decodeIfPresent(Double.self, forKey: .fillValue) ?? 0
        standardize = try container.decodeIfPresent(Bool.self, forKey: .standardize) ?? true
        categorical = try container.decodeIfPresent(CategoricalEncoding.self, forKey: .categorical) ?? .onehot
        drop = try container.decodeIfPresent([String].self, forKey: .drop) ?? []
        features = try container.decodeIfPresent([String].self, forKey: .features)
        maxCategories = try container.decodeIfPresent(Int.self, forKey: .maxCategories) ?? 200
    }
}

/// The train/validation/test split of a training run.
public struct SplitOptions: Sendable, Codable, Equatable {
    /// Fractions of the rows held out for validation (early stopping) and for the final test.
    public var validation: Double = 0.15
    public var test: Double = 0.15
    /// The seed of the random split.
    public var seed: UInt64 = 42
    /// Keep each class's share in every part (classification only).
    public var stratify: Bool = true
    /// When set, no shuffling: rows are ordered by this column, and the latest ones are validated and tested on.
    public var orderBy: String?

    public init() {}

    enum CodingKeys: String, CodingKey { case validation, test, seed, stratify, orderBy }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        validation = try container.decodeIfPresent(Double.self, forKey: .validation) ?? 0.15
        test = try container.decodeIfPresent(Double.self, forKey: .test) ?? 0.15
        seed = try container.decodeIfPresent(UInt64.self, forKey: .seed) ?? 42
        stratify = try container.decodeIfPresent(Bool.self, forKey: .stratify) ?? true
        orderBy = try container.decodeIfPresent(String.self, forKey: .orderBy)
        guard validation >= 0, test >= 0, validation + test < 0.9 else {
            throw NeuroplexError.invalid("split", "validation and test must be fractions that leave at least 10 % for training")
        }
    }

    /// The row indices of each part. Deterministic: the same rows, labels and options give the same split.
    public func split(_ table: DataTable, classes: [Int]?) throws -> (train: [Int], validation: [Int], test: [Int]) {
        var train: [Int] = [], validation: [Int] = [], test: [Int] = []
        func take(_ indices: [Int]) {
            let testCount = Int((Double(indices.count) * self.test).rounded())
            let validationCount = Int((Double(indices.count) * self.validation).rounded())
            let trainCount = max(0, indices.count - testCount - validationCount)
            train += indices[0..<trainCount]
            validation += indices[trainCount..<min(indices.count, trainCount + validationCount)]
            test += indices[min(indices.count, trainCount + validationCount)...]
        }
        if let orderBy {
            let column = try table.column(orderBy)
            let keys = table.rows.map { $0[column] }
            let numbers = keys.map { $0.flatMap(Double.init) }
            let numeric = numbers.allSatisfy { $0 != nil }
            let order = table.rows.indices.sorted { a, b in
                if numeric { return (numbers[a]!, a) < (numbers[b]!, b) }
                return (keys[a] ?? "", a) < (keys[b] ?? "", b)
            }
            take(order)
            return (train, validation, test)
        }
        var generator = SplitMix64(seed: seed)
        if stratify, let classes {
            var groups: [Int: [Int]] = [:]
            for (row, label) in classes.enumerated() { groups[label, default: []].append(row) }
            for key in groups.keys.sorted() {
                var rows = groups[key]!
                rows.shuffle(using: &generator)
                take(rows)
            }
            return (train.sorted(), validation.sorted(), test.sorted())
        }
        var rows = Array(table.rows.indices)
        rows.shuffle(using: &generator)
        take(rows)
        return (train.sorted(), validation.sorted(), test.sorted())
    }
}

/// A small seeded generator (SplitMix64), so that a split can be recomputed exactly from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The fitted preprocessing of one model version: which columns became which features, with the fill values,
/// scales and categories learned from the training split.
public struct FittedPreprocessing: Sendable, Codable, Equatable {
    public struct Column: Sendable, Codable, Equatable {
        public enum Kind: String, Sendable, Codable { case numeric, onehot, ordinal }
        public var name: String
        public var kind: Kind
        /// Numeric: the fill value for a missing cell, and the centre and scale.
        public var fill: Double?
        public var center: Double?
        public var scale: Double?
        /// Categorical: the categories in feature order, and the fill for a missing cell.
        public var categories: [String]?
        public var fillCategory: String?

        public init(
            name: String, kind: Kind, fill: Double? = nil, center: Double? = nil, scale: Double? = nil,
            categories: [String]? = nil, fillCategory: String? = nil
        ) {
            self.name = name
            self.kind = kind
            self.fill = fill
            self.center = center
            self.scale = scale
            self.categories = categories
            self.fillCategory = fillCategory
        }
    }

    public struct Dropped: Sendable, Codable, Equatable {
        public var name: String
        public var reason: String
    }

    public var options: PreprocessingOptions
    public var columns: [Column]
    public var dropped: [Dropped]
    /// The name of each feature, in matrix order (`proto=tcp` for a one-hot feature).
    public var featureNames: [String]

    /// Fits on the rows `fitRows` of `table`, leaving out `exclude` (the label, a split column).
    public static func fit(
        _ table: DataTable, rows fitRows: [Int], columnTypes: [String: ColumnType], exclude: Set<String>,
        options: PreprocessingOptions
    ) throws -> FittedPreprocessing {
        var columns: [Column] = []
        var dropped: [Dropped] = []
        var names: [String] = []
        for (index, name) in table.header.enumerated() where !exclude.contains(name) {
            if let wanted = options.features, !wanted.contains(name) { continue }
            if options.drop.contains(name) {
                dropped.append(.init(name: name, reason: "dropped by the preprocessing options"))
                continue
            }
            let type = columnTypes[name] ?? .text
            let lower = name.lowercased()
            let identifierName = lower == "id" || lower.hasSuffix("_id") || lower == "uuid" || name.hasSuffix("Id")
            switch type {
            case .numeric, .integer, .boolean:
                if type == .integer && identifierName {
                    dropped.append(.init(name: name, reason: "an identifier"))
                    continue
                }
                let numbers = fitRows.compactMap { table.number(row: $0, column: index) }
                let mean = numbers.isEmpty ? 0 : numbers.reduce(0, +) / Double(numbers.count)
                let fill: Double
                switch options.impute {
                case .mean: fill = mean
                case .median: fill = Self.median(numbers)
                case .mostFrequent: fill = Self.mostFrequent(numbers.map { String($0) }).flatMap { Double($0) } ?? mean
                case .constant: fill = options.fillValue
                }
                var center = 0.0, scale = 1.0
                if options.standardize, numbers.count > 1 {
                    let variance = numbers.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(numbers.count)
                    center = mean
                    scale = variance > 0 ? variance.squareRoot() : 1
                }
                columns.append(.init(name: name, kind: .numeric, fill: fill, center: center, scale: scale))
                names.append(name)
            case .categorical, .text:
                let present = fitRows.compactMap { table.rows[$0][index] }
                let distinct = Set(present)
                if identifierName || (present.count > 20 && distinct.count > present.count / 2) {
                    dropped.append(.init(name: name, reason: "an identifier (nearly every value is distinct)"))
                    continue
                }
                guard distinct.count <= options.maxCategories else {
                    dropped.append(.init(name: name, reason: "more than \(options.maxCategories) categories"))
                    continue
                }
                let categories = distinct.sorted()
                let fill = Self.mostFrequent(present)
                if options.categorical == .onehot {
                    columns.append(.init(name: name, kind: .onehot, categories: categories, fillCategory: fill))
                    names += categories.map { "\(name)=\($0)" }
                } else {
                    columns.append(.init(name: name, kind: .ordinal, categories: categories, fillCategory: fill))
                    names.append(name)
                }
            case .datetime:
                dropped.append(.init(name: name, reason: "a date-time (use it to order the split instead)"))
            }
        }
        guard !columns.isEmpty else {
            throw NeuroplexError(.invalidInput, code: TrainingCodes.trainingFailed, "no column is usable as a feature")
        }
        return FittedPreprocessing(options: options, columns: columns, dropped: dropped, featureNames: names)
    }

    /// The features of `rows` of `table`. Unseen categories are all zeros (one-hot) or -1 (ordinal).
    /// - Throws: `unknown_column` when a feature column is missing from the table.
    public func transform(_ table: DataTable, rows: [Int]) throws -> FeatureMatrix {
        let indices = try columns.map { try table.column($0.name) }
        let lookups = columns.map { column in
            Dictionary(uniqueKeysWithValues: (column.categories ?? []).enumerated().map { ($1, $0) })
        }
        let width = featureNames.count
        var values = [Double](repeating: 0, count: rows.count * width)
        for (r, row) in rows.enumerated() {
            var offset = r * width
            for (c, column) in columns.enumerated() {
                switch column.kind {
                case .numeric:
                    // No fill (an imported model): XGBoost's missing value.
                    let value = table.number(row: row, column: indices[c]) ?? column.fill ?? .nan
                    values[offset] = (value - (column.center ?? 0)) / (column.scale ?? 1)
                    offset += 1
                case .onehot:
                    let cell = table.text(row: row, column: indices[c])
                    if let category = cell ?? column.fillCategory, let position = lookups[c][category] {
                        values[offset + position] = 1
                    }
                    offset += column.categories?.count ?? 0
                case .ordinal:
                    let cell = table.text(row: row, column: indices[c])
                    let category = cell ?? column.fillCategory
                    values[offset] = category.flatMap { lookups[c][$0] }.map(Double.init) ?? -1
                    offset += 1
                }
            }
        }
        return FeatureMatrix(rows: rows.count, columns: width, values: values)
    }

    static func number(_ text: String) -> Double? {
        // The byte parser of uploads first (strtod's value, without its locale and C string); the standard
        // library's for the rest (`+1`, `inf`, hex).
        if case let value?? = text.utf8.withContiguousStorageIfAvailable({ Cell.number($0)?.0 }) { return value }
        if let value = Double(text) { return value }
        switch text.lowercased() {
        case "true", "yes": return 1
        case "false", "no": return 0
        default: return nil
        }
    }

    static func median(_ values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    static func mostFrequent(_ values: [String]) -> String? {
        var counts: [String: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        return counts.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }?.key
    }
}

/// The label of a training run: class names for classification, numbers for regression.
public struct LabelEncoding: Sendable, Codable, Equatable {
    public var column: String
    /// Classification: the class names in index order.
    public var classes: [String]?

    /// Encodes `rows` of the table; rows without a label are left out of `kept`.
    public func encode(_ table: DataTable, rows: [Int]) throws -> (kept: [Int], labels: [Double]) {
        let index = try table.column(column)
        var kept: [Int] = [], labels: [Double] = []
        let lookup = Dictionary(uniqueKeysWithValues: (classes ?? []).enumerated().map { ($1, Double($0)) })
        for row in rows {
            guard let cell = table.rows[row][index] else { continue }
            if classes != nil {
                guard let value = lookup[cell] else { continue }
                labels.append(value)
            } else {
                guard let value = FittedPreprocessing.number(cell) else { continue }
                labels.append(value)
            }
            kept.append(row)
        }
        return (kept, labels)
    }
}
