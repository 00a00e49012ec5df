#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
public import NeuroplexCore
import Synchronization

/// Reads a dataset's records (the header first), checks them, infers each column's type and computes the
/// statistics, all in one pass and in memory bounded by the number of columns (not rows).
///
/// ```swift
/// var profiler = DatasetProfiler(label: "label")
/// var parser = CSVParser()
/// try parser.consume(chunk) { try profiler.add(&$0) }     // for every chunk
/// try parser.finish { try profiler.add(&$0) }
/// let statistics = profiler.statistics()
/// ```
///
/// Rows are checked as they come (field count, UTF-8, the label's class) and gathered into a batch; the columns'
/// statistics are computed a batch at a time, column by column. An uploader that awaits ``profileBatch()`` after
/// each chunk (and ``finish()`` at the end) has each batch's columns profiled by a helper task while it reads the
/// next batch; when that is read, it takes the columns the helper has not started, so the two share the work
/// whatever it costs. Otherwise a full batch is profiled where ``add(_:)`` is called, and the last one when the
/// statistics are asked for.
///
/// Bounds: distinct values are counted exactly up to ``exactDistinctLimit`` a column (then estimated, and `top`
/// is the most frequent of the values counted — for a column of numbers, counting stops at the limit, so its `top`
/// comes from the rows read until then); label classes are tracked up to ``maximumClasses`` (beyond, no
/// class-based correlations); a categorical column's cross-table with the label is kept up to
/// ``maximumContingencyValues`` values. Each numeric column holds a quantile sketch of at most about 1 MiB.
public struct DatasetProfiler: Sendable {
    public static let exactDistinctLimit = 10_000
    public static let maximumClasses = 100
    public static let maximumContingencyValues = 1000
    /// The bytes of fields a batch gathers before ``profileBatch()`` takes it.
    static let batchBytes = 256 * 1024

    /// The label column's name, if the dataset has one.
    public let label: String?
    /// The column names, once the header is read.
    public private(set) var header: [String]?
    /// Data rows read so far.
    public private(set) var rows = 0
    private var labelIndex: Int?
    /// Every column's profile, in order; away (held by ``profiling``) while a batch is being profiled.
    private var profiles: [ColumnProfile]? = []
    private var profiling: (work: BatchWork, helper: Task<Void, Never>)?
    /// Rows checked but not profiled yet.
    private var batch = RowBatch(width: 0)
    /// The label's classes (its values, untrimmed), numbered as first seen.
    private var classes = ValueIndex()
    private var classesOverflowed = false

    public init(label: String?) {
        self.label = label
    }

    /// Takes the next record: the header, then the rows.
    /// - Throws: ``DatasetFormatError`` for a row whose field count differs from the header's, invalid UTF-8 or a
    ///   duplicate column name; `unknown_column` (``NeuroplexError``) when the label is not a column.
    public mutating func add(_ record: inout Record) throws {
        guard let header else { return try readHeader(record) }
        guard record.count == header.count else {
            if record.count < header.count {
                throw DatasetFormatError(
                    line: record.line, column: record.count + 1,
                    "the row has \(record.count) fields but the header has \(header.count) ('\(header[record.count])' is missing)")
            }
            throw DatasetFormatError(
                line: record.line, column: header.count + 1,
                "the row has \(record.count) fields but the header has \(header.count)")
        }
        let line = record.line
        // Most files are ASCII: then no field needs its UTF-8 checked.
        let ascii = record.isASCII
        let (classIndex, labelNumber) = try record.withUnsafeFields { fields -> (Int?, Double?) in
            if !ascii {
                for index in 0..<fields.count { try Self.validateUTF8(fields[index], line: line, column: index) }
            }
            guard let labelIndex else { return (nil, nil) }
            let raw = fields[labelIndex]
            let labelCell = Cell(trimmed: Cell.trimmed(raw))
            guard labelCell.kind != .missing else { return (nil, nil) }
            let number = labelCell.kind != .other && labelCell.kind != .datetime ? labelCell.number : nil
            return (self.classIndex(of: raw), number)
        }
        rows += 1
        batch.append(record, classIndex: classIndex, labelNumber: labelNumber)
        // Nobody takes batches (see `profileBatch()`): profiled here, so that memory stays bounded.
        if batch.byteCount >= 4 * Self.batchBytes { profileHere() }
    }

    /// Whether a batch is ready for ``profileBatch()``.
    public var batchIsFull: Bool { batch.byteCount >= Self.batchBytes }

    /// Hands the rows gathered so far to a helper task, which profiles them column by column; first, the batch
    /// handed over before is finished here (the columns the helper has not started) and taken back.
    public mutating func profileBatch() async {
        await settle()
        guard batch.rows > 0, let columns = profiles.take() else { return }
        let work = BatchWork(columns, batch: batch, labelIndex: labelIndex)
        batch = RowBatch(width: batch.width)
        profiling = (work, Task { work.run() })
    }

    /// Profiles the rows not profiled yet, helping the helper: after the last record, before the statistics,
    /// when ``profileBatch()`` was used.
    public mutating func finish() async {
        await profileBatch()
        await settle()
    }

    /// Takes the columns back from the batch handed over last, profiling on this task what is left of it.
    private mutating func settle() async {
        guard let (work, helper) = profiling.take() else { return }
        work.run()
        await helper.value
        profiles = work.finish()
    }

    /// Profiles the gathered rows on this thread.
    private mutating func profileHere() {
        precondition(profiling == nil, "profileBatch() is awaited before the profiler is used without it")
        guard batch.rows > 0, let columns = profiles.take() else { return }
        let work = BatchWork(columns, batch: batch, labelIndex: labelIndex)
        work.run()
        profiles = work.finish()
        batch.removeAll()
    }

    /// The profiler with every gathered row profiled.
    private var finished: DatasetProfiler {
        if batch.rows == 0 { return self }
        var copy = self
        copy.profileHere()
        return copy
    }

    /// Every column's profile, in order.
    private var columns: [ColumnProfile] {
        guard let profiles else { preconditionFailure("the statistics are asked for before finish() returned") }
        return profiles
    }

    /// The columns with their inferred types (after the last record).
    public func schema() -> [DatasetColumn] {
        zip(header ?? [], finished.columns).map { DatasetColumn(name: $0, type: $1.type) }
    }

    /// The statistics of everything read (after the last record).
    public func statistics() -> DatasetStatistics {
        let names = header ?? []
        let columns = finished.columns
        let labelType = labelIndex.map { columns[$0].type }
        var result: [ColumnStatistics] = []
        for (index, column) in columns.enumerated() {
            var statistics = column.statistics(name: names[index])
            if let labelType, index != labelIndex {
                (statistics.labelCorrelation, statistics.labelCorrelationMethod) =
                    column.correlation(labelType: labelType, classesComplete: !classesOverflowed)
            }
            result.append(statistics)
        }
        var distribution: [String: Int]?
        if let labelIndex, [.categorical, .boolean, .integer].contains(columns[labelIndex].type),
            let counts = columns[labelIndex].exactCounts
        {
            distribution = counts
        }
        return DatasetStatistics(rows: rows, columns: result, labelDistribution: distribution)
    }

    private mutating func readHeader(_ record: Record) throws {
        var names: [String] = []
        for index in 0..<record.count {
            var name = try Self.text(record[index], line: record.line, column: index)
            if name.isEmpty { name = "column_\(index + 1)" }
            if names.contains(name) {
                throw DatasetFormatError(line: record.line, column: index + 1, "the column name '\(name)' is used twice")
            }
            names.append(name)
        }
        if let label {
            guard let index = names.firstIndex(of: label) else {
                throw NeuroplexError(
                    .invalidInput, code: .unknownColumn,
                    "the label '\(label)' is not a column of the dataset (columns: \(names.joined(separator: ", ")))",
                    field: "label")
            }
            labelIndex = index
        }
        header = names
        profiles = Array(repeating: ColumnProfile(), count: names.count)
        batch = RowBatch(width: names.count)
    }

    private mutating func classIndex(of value: UnsafeBufferPointer<UInt8>) -> Int? {
        let hash = DistinctEstimator.hash(value)
        if let index = classes.position(of: value, hash: hash) { return index }
        guard classes.count < Self.maximumClasses else {
            classesOverflowed = true
            return nil
        }
        return classes.insert(value, hash: hash).position
    }

    private static func validateUTF8(_ bytes: UnsafeBufferPointer<UInt8>, line: Int, column: Int) throws {
        if bytes.allSatisfy({ $0 < 0x80 }) { return }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw DatasetFormatError(line: line, column: column + 1, "the field is not valid UTF-8")
        }
    }

    private static func text(_ bytes: ArraySlice<UInt8>, line: Int, column: Int) throws -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DatasetFormatError(line: line, column: column + 1, "the field is not valid UTF-8")
        }
        return text
    }
}

/// Checked rows waiting to be profiled: their fields' bytes one after the other, and for each row its label's
/// class and number (as every column's correlation with the label needs them).
struct RowBatch: Sendable {
    /// Fields a row.
    let width: Int
    private(set) var bytes: [UInt8] = []
    /// Where each field ends in ``bytes``, after a leading 0: field `j` of row `r` is `ends[r·width + j] ..<
    /// ends[r·width + j + 1]`.
    private(set) var ends: [Int] = [0]
    private(set) var classIndexes: [Int?] = []
    private(set) var labelNumbers: [Double?] = []

    init(width: Int) {
        self.width = width
        bytes.reserveCapacity(DatasetProfiler.batchBytes + 4096)
    }

    var rows: Int { classIndexes.count }
    var byteCount: Int { bytes.count }

    mutating func append(_ record: Record, classIndex: Int?, labelNumber: Double?) {
        let base = bytes.count
        record.withUnsafeFields { fields in
            bytes.append(contentsOf: fields.bytes)
            for end in fields.ends { ends.append(base + end) }
        }
        classIndexes.append(classIndex)
        labelNumbers.append(labelNumber)
    }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
        ends.append(0)
        classIndexes.removeAll(keepingCapacity: true)
        labelNumbers.removeAll(keepingCapacity: true)
    }
}

/// One batch's profiling, shared by the tasks that ``run()`` it: each takes the next column not yet taken (an atomic
/// counter) and adds the batch's cells to it, so no column is touched by two at once and whoever is free works.
/// The columns are moved in and out (``finish()``), never copied: a copy would make their storage shared, and
/// their next change copy it all.
final class BatchWork: @unchecked Sendable {
    private let columns: UnsafeMutableBufferPointer<ColumnProfile>
    private let batch: RowBatch
    private let labelIndex: Int?
    private let next = Atomic<Int>(0)
    /// The columns were moved out (else they go with this object: an upload that failed midway).
    private var movedOut = false

    init(_ profiles: consuming [ColumnProfile], batch: RowBatch, labelIndex: Int?) {
        columns = .allocate(capacity: profiles.count)
        var index = 0
        while let profile = profiles.popLast() {
            (columns.baseAddress! + (columns.count - 1 - index)).initialize(to: profile)
            index += 1
        }
        self.batch = batch
        self.labelIndex = labelIndex
    }

    /// Profiles columns until none is left to take.
    func run() {
        let width = batch.width, rows = batch.rows
        batch.bytes.withUnsafeBufferPointer { bytes in
            batch.ends.withUnsafeBufferPointer { ends in
                batch.classIndexes.withUnsafeBufferPointer { classes in
                    batch.labelNumbers.withUnsafeBufferPointer { labels in
                        while case let index = next.wrappingAdd(1, ordering: .relaxed).oldValue, index < columns.count {
                            let isLabel = index == labelIndex
                            for row in 0..<rows {
                                let at = row * width + index
                                let trimmed = Cell.trimmed(UnsafeBufferPointer(rebasing: bytes[ends[at]..<ends[at + 1]]))
                                columns[index].add(
                                    trimmed, Cell(trimmed: trimmed), classIndex: isLabel ? nil : classes[row],
                                    labelNumber: isLabel ? nil : labels[row])
                            }
                        }
                    }
                }
            }
        }
    }

    /// The columns, moved out (once every task that ran this has returned).
    func finish() -> [ColumnProfile] {
        var profiles: [ColumnProfile] = []
        profiles.reserveCapacity(columns.count)
        for index in 0..<columns.count { profiles.append((columns.baseAddress! + index).move()) }
        movedOut = true
        return profiles
    }

    deinit {
        if !movedOut { columns.baseAddress?.deinitialize(count: columns.count) }
        columns.deallocate()
    }
}

extension NeuroplexError.Code {
    /// A column named in the request (such as the label) is not in the dataset.
    public static let unknownColumn: Self = "unknown_column"
    /// The uploaded file is not well-formed CSV or NDJSON; the message names the line and column.
    public static let malformedDataset: Self = "malformed_dataset"
    /// The dataset is read by a training job that has not finished.
    public static let datasetInUse: Self = "dataset_in_use"
}

/// What is accumulated for one column.
struct ColumnProfile: Sendable {
    /// While every present cell is a number (up to ``DatasetProfiler/exactDistinctLimit`` of them), the cells are
    /// kept rather than counted: counting a small numeric file's mostly distinct numbers one by one in a hash
    /// table, with their label classes, was most of its profile, and counting them once at the end gives the same
    /// counts. A cell of another kind, one more than the limit, or a sample of mostly repeated values replays them
    /// into the counter, which goes on from there.
    private var kept: NumericCells? = NumericCells()
    /// After this many kept cells, a column with at most half as many distinct values goes to the counter.
    static let keptSample = 64
    private var missing = 0
    private var present = 0
    private var integers = 0
    private var numbers = 0
    private var booleans = 0
    private var datetimes = 0
    private var moments = Moments()
    private var minimum = Double.infinity
    private var maximum = -Double.infinity
    private var sketch = QuantileSketch()
    private var counter = ValueCounter()
    /// The column passed the exact-count limit with numbers only: its values are no longer counted (nearly all
    /// would be new, and looking each up is a large share of the work); the estimator still sees them all.
    private var countingStopped = false
    private var estimator = DistinctEstimator()
    /// Against a numeric label.
    private var pair = PairMoments()
    /// The column's numbers by label class.
    private var byClass: [Moments] = []

    /// Takes one cell: its bytes without surrounding spaces (`Cell.trimmed`) and what they hold.
    mutating func add(_ trimmed: UnsafeBufferPointer<UInt8>, _ cell: Cell, classIndex: Int?, labelNumber: Double?) {
        guard cell.kind != .missing else {
            missing += 1
            return
        }
        present += 1
        switch cell.kind {
        case .integer: integers += 1; numbers += 1
        case .number: numbers += 1
        case .boolean: booleans += 1
        case .datetime: datetimes += 1
        case .other, .missing: break
        }
        if kept != nil {
            if (cell.kind == .integer || cell.kind == .number) && kept!.count < DatasetProfiler.exactDistinctLimit {
                kept!.add(trimmed, value: cell.number, classIndex: classIndex, label: labelNumber)
                // Few values, many repeats (codes, small counts): the counter finds a repeat without growing, and
                // is then cheaper than keeping every cell.
                if kept!.count == Self.keptSample, kept!.groups().count * 2 <= Self.keptSample { replayKept() }
            } else {
                replayKept()
                count(trimmed, classIndex: classIndex, labelNumber: labelNumber)
            }
        } else {
            count(trimmed, classIndex: classIndex, labelNumber: labelNumber)
        }
        switch cell.kind {
        case .integer, .number, .boolean: break
        case .datetime, .other, .missing: return
        }
        let value = cell.number
        moments.add(value)
        minimum = Swift.min(minimum, value)
        maximum = Swift.max(maximum, value)
        sketch.add(value)
        if let labelNumber { pair.add(value, labelNumber) }
        if let classIndex {
            while byClass.count <= classIndex { byClass.append(Moments()) }
            byClass[classIndex].add(value)
        }
    }

    /// Counts a cell's value (and feeds the distinct estimate).
    private mutating func count(_ trimmed: UnsafeBufferPointer<UInt8>, classIndex: Int?, labelNumber: Double?) {
        let hash = DistinctEstimator.hash(trimmed)
        estimator.add(hash: hash)
        if !countingStopped {
            counter.add(trimmed, hash: hash, classIndex: classIndex, label: labelNumber)
            if counter.overflowed && numbers == present { countingStopped = true }
        }
    }

    /// Counts the kept cells, in the order they came, as if each had been counted on arrival.
    private mutating func replayKept() {
        guard let cells = kept else { return }
        kept = nil
        for index in 0..<cells.count {
            cells.withText(index) { text in
                count(text, classIndex: cells.classIndex(index), labelNumber: cells.label(index))
            }
        }
    }

    var type: ColumnType {
        guard present > 0 else { return .text }
        if booleans == present { return .boolean }
        if integers == present { return .integer }
        if numbers == present { return .numeric }
        if datetimes == present { return .datetime }
        if !counter.overflowed {
            let distinct = counter.valueCount
            if distinct <= 50 || (distinct <= 1000 && distinct * 20 <= present) { return .categorical }
        }
        return .text
    }

    /// Every value's count, when all were counted.
    var exactCounts: [String: Int]? {
        if let kept { return kept.counts(of: kept.groups()) }
        return counter.overflowed ? nil : Dictionary(uniqueKeysWithValues: zip(counter.values, counter.counts))
    }

    func statistics(name: String) -> ColumnStatistics {
        let type = type
        let numeric = type.isNumeric && moments.count > 0
        var quantiles: ColumnStatistics.Quantiles?
        if numeric {
            let q = sketch.quantiles([0.01, 0.25, 0.5, 0.75, 0.99]).map { $0 ?? 0 }
            quantiles = .init(p1: q[0], p25: q[1], p50: q[2], p75: q[3], p99: q[4])
        }
        let groups = kept?.groups()
        let distinct = groups.map { $0.count } ?? (
            counter.overflowed ? Swift.max(estimator.estimate, counter.valueCount) : counter.valueCount)
        return ColumnStatistics(
            name: name, type: type, missing: missing, distinct: distinct, distinctExact: !counter.overflowed,
            min: numeric ? minimum : nil, max: numeric ? maximum : nil, mean: numeric ? moments.mean : nil,
            std: numeric ? moments.standardDeviation : nil, quantiles: quantiles,
            top: groups.map { kept!.top(10, of: $0) } ?? counter.top(10),
            labelCorrelation: nil, labelCorrelationMethod: nil)
    }

    /// The column's association with the label, by the measure that fits both types.
    func correlation(labelType: ColumnType, classesComplete: Bool) -> (Double?, CorrelationMethod?) {
        let type = type
        switch (type.isNumeric, labelType.isNumeric, type == .categorical, labelType == .categorical) {
        case (true, true, _, _):
            return (pair.correlation, .pearson)
        case (true, false, _, true):
            return classesComplete ? (correlationRatio(byClass), .correlationRatio) : (nil, nil)
        case (false, true, true, _):
            return counter.tracksLabel ? (correlationRatio(counter.labelMoments), .correlationRatio) : (nil, nil)
        case (false, false, true, true):
            return counter.tracksLabel && classesComplete ? (cramersV(counter.contingency), .cramersV) : (nil, nil)
        default:
            return (nil, nil)
        }
    }
}

/// Exact counts of a column's values up to ``DatasetProfiler/exactDistinctLimit`` distinct ones, with, for up to
/// ``DatasetProfiler/maximumContingencyValues`` of them, their counts by label class and the label's moments.
struct ValueCounter: Sendable {
    private var index = ValueIndex()
    private(set) var counts: [Int] = []
    /// The counts by label class of the first ``tracked`` values, `classStride` a value (one flat array: an
    /// array a value cost an allocation for every distinct number of a column).
    private var classTable: [Int] = []
    private var classStride = 0
    /// One more than the highest class index counted.
    private var classWidth = 0
    private(set) var labelMoments: [Moments] = []
    /// A value arrived after the limit: from then on only the values already known are counted.
    private(set) var overflowed = false
    /// The number of distinct values counted.
    var valueCount: Int { index.count }
    /// The values counted, in the order first seen.
    var values: [String] { index.strings }
    /// Whether the cross-table with the label is complete.
    var tracksLabel: Bool { index.count <= DatasetProfiler.maximumContingencyValues }
    /// The values with a row in the class table: the first ones, up to the limit.
    private var tracked: Int { Swift.min(index.count, DatasetProfiler.maximumContingencyValues) }

    /// Counts `value` (a cell's trimmed bytes, with their ``DistinctEstimator/hash(_:)``).
    mutating func add(_ value: UnsafeBufferPointer<UInt8>, hash: UInt64, classIndex: Int?, label: Double?) {
        let position: Int
        if let known = index.position(of: value, hash: hash) {
            position = known
        } else {
            guard index.count < DatasetProfiler.exactDistinctLimit else {
                overflowed = true
                return
            }
            position = index.insert(value, hash: hash).position
            counts.append(0)
            if tracksLabel {
                classTable.append(contentsOf: repeatElement(0, count: classStride))
                labelMoments.append(Moments())
            }
        }
        counts[position] += 1
        guard tracksLabel, position < tracked else { return }
        if let classIndex {
            if classIndex >= classStride { widen(to: Swift.max(classIndex + 1, classStride * 2)) }
            classWidth = Swift.max(classWidth, classIndex + 1)
            classTable[position * classStride + classIndex] += 1
        }
        if let label { labelMoments[position].add(label) }
    }

    /// Lays the class table out again with room for `stride` classes a value.
    private mutating func widen(to stride: Int) {
        var wider = [Int](repeating: 0, count: tracked * stride)
        for position in 0..<tracked {
            for column in 0..<classStride { wider[position * stride + column] = classTable[position * classStride + column] }
        }
        classTable = wider
        classStride = stride
    }

    /// The value × class table (a row a value, as many columns as classes were counted).
    var contingency: [[Int]] {
        (0..<tracked).map { position in
            Array(classTable[(position * classStride)..<(position * classStride + classWidth)])
        }
    }

    /// The `limit` most frequent values, most frequent first, ties in value order (of their UTF-8 bytes).
    func top(_ limit: Int) -> [ColumnStatistics.ValueCount] {
        guard limit > 0 else { return [] }
        // One pass keeping the best `limit` positions in order (sorting every distinct value cost more than the
        // rest of a small upload's profile); a value less frequent than the last kept one is passed over at once,
        // and only the values kept become strings.
        func before(_ a: Int, _ b: Int) -> Bool {
            counts[a] != counts[b] ? counts[a] > counts[b] : index.keyPrecedes(a, b)
        }
        var best: [Int] = []
        best.reserveCapacity(limit + 1)
        for position in counts.indices {
            if best.count == limit {
                let last = best[limit - 1]
                if counts[position] < counts[last] || !before(position, last) { continue }
            }
            best.insert(position, at: best.firstIndex { before(position, $0) } ?? best.count)
            if best.count > limit { best.removeLast() }
        }
        return best.map {
            ColumnStatistics.ValueCount(value: String(decoding: index.key(at: $0), as: UTF8.self), count: counts[$0])
        }
    }
}

/// A numeric column's cells as they came (each value, its text and its row's label class and value), counted
/// once they are all in.
struct NumericCells: Sendable {
    private var values: [Double] = []
    /// Where each cell's text ends in ``texts``.
    private var ends: [Int32] = []
    private var texts: [UInt8] = []
    private var classes: [Int32] = []
    private var labels: [Double] = []
    private var hasLabels = false

    var count: Int { values.count }

    mutating func add(_ text: UnsafeBufferPointer<UInt8>, value: Double, classIndex: Int?, label: Double?) {
        values.append(value)
        texts.append(contentsOf: text)
        ends.append(Int32(truncatingIfNeeded: texts.count))
        classes.append(Int32(truncatingIfNeeded: classIndex ?? -1))
        if let label {
            if !hasLabels {
                labels = [Double](repeating: .nan, count: values.count - 1)
                hasLabels = true
            }
            labels.append(label)
        } else if hasLabels {
            labels.append(.nan)
        }
    }

    func classIndex(_ index: Int) -> Int? { classes[index] < 0 ? nil : Int(classes[index]) }

    func label(_ index: Int) -> Double? { hasLabels && !labels[index].isNaN ? labels[index] : nil }

    func withText<T>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let start = index == 0 ? 0 : Int(ends[index - 1])
        return try texts.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[start..<Int(ends[index])])) }
    }

    /// One cell of each distinct text, with how many cells have it.
    struct Group {
        var cell: Int32
        var count: Int
    }

    func groups() -> [Group] {
        // One pass over a hash table of the values' bit patterns; texts are compared only between cells of equal
        // value, where they nearly always agree ("1" and "1.0" do not). Each value's groups are chained.
        var groups: [Group] = []
        groups.reserveCapacity(values.count)
        var nextOfValue: [Int32] = []
        nextOfValue.reserveCapacity(values.count)
        var capacity = 16
        while capacity < values.count * 2 { capacity <<= 1 }
        var slots = [Int32](repeating: -1, count: capacity)
        let shift = UInt64(64 - capacity.trailingZeroBitCount)
        values.withUnsafeBufferPointer { values in
            for cell in 0..<values.count {
                let bits = values[cell].bitPattern
                var slot = Int(truncatingIfNeeded: (bits &* 0x9E37_79B9_7F4A_7C15) >> shift)
                while true {
                    let first = slots[slot]
                    if first < 0 {
                        slots[slot] = Int32(truncatingIfNeeded: groups.count)
                        groups.append(Group(cell: Int32(truncatingIfNeeded: cell), count: 1))
                        nextOfValue.append(-1)
                        break
                    }
                    if values[Int(groups[Int(first)].cell)].bitPattern == bits {
                        var group = Int(first)
                        while !sameText(Int(groups[group].cell), cell) {
                            let next = Int(nextOfValue[group])
                            if next < 0 {
                                nextOfValue[group] = Int32(truncatingIfNeeded: groups.count)
                                group = groups.count
                                groups.append(Group(cell: Int32(truncatingIfNeeded: cell), count: 0))
                                nextOfValue.append(-1)
                                break
                            }
                            group = next
                        }
                        groups[group].count += 1
                        break
                    }
                    slot = (slot + 1) & (capacity - 1)
                }
            }
        }
        return groups
    }

    /// Whether two cells have the same text.
    private func sameText(_ a: Int, _ b: Int) -> Bool { compareTexts(a, b) == 0 }

    /// The order of two cells' texts (of their UTF-8 bytes), as `memcmp`.
    private func compareTexts(_ a: Int, _ b: Int) -> Int {
        texts.withUnsafeBufferPointer { texts in
            let startA = a == 0 ? 0 : Int(ends[a - 1]), startB = b == 0 ? 0 : Int(ends[b - 1])
            let countA = Int(ends[a]) - startA, countB = Int(ends[b]) - startB
            let common = Swift.min(countA, countB)
            let order = common == 0 ? 0 : Int(memcmp(texts.baseAddress! + startA, texts.baseAddress! + startB, common))
            return order != 0 ? order : countA - countB
        }
    }

    /// Every distinct text's count.
    func counts(of groups: [Group]) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: groups.map { group in
            (withText(Int(group.cell)) { String(decoding: $0, as: UTF8.self) }, group.count)
        })
    }

    /// The `limit` most frequent texts, most frequent first, ties in the order of their bytes (as
    /// ``ValueCounter/top(_:)``).
    func top(_ limit: Int, of groups: [Group]) -> [ColumnStatistics.ValueCount] {
        guard limit > 0 else { return [] }
        func before(_ a: Group, _ b: Group) -> Bool {
            a.count != b.count ? a.count > b.count : compareTexts(Int(a.cell), Int(b.cell)) < 0
        }
        var best: [Group] = []
        best.reserveCapacity(limit + 1)
        for group in groups {
            if best.count == limit, !before(group, best[limit - 1]) { continue }
            best.insert(group, at: best.firstIndex { before(group, $0) } ?? best.count)
            if best.count > limit { best.removeLast() }
        }
        return best.map { group in
            .init(value: withText(Int(group.cell)) { String(decoding: $0, as: UTF8.self) }, count: group.count)
        }
    }
}
