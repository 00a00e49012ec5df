/// Per-column statistics of a dataset, computed in one pass while it is uploaded and kept with it.
public struct DatasetStatistics: Sendable, Equatable, Codable {
    /// Data rows (the header is not counted).
    public var rows: Int
    public var columns: [ColumnStatistics]
    /// How often each class of the label occurs, for a label that is categorical, boolean or integer (missing
    /// labels are not counted); `nil` for a numeric label or a dataset without one.
    public var labelDistribution: [String: Int]?

    public init(rows: Int, columns: [ColumnStatistics], labelDistribution: [String: Int]?) {
        self.rows = rows
        self.columns = columns
        self.labelDistribution = labelDistribution
    }
}

/// The statistics of one column.
///
/// Numeric summaries (`min` … `quantiles`) are given for numeric, integer and boolean columns (booleans as 0/1).
public struct ColumnStatistics: Sendable, Equatable, Codable {
    public var name: String
    public var type: ColumnType
    /// Cells that are empty or spell a missing value (see ``ColumnType``).
    public var missing: Int
    /// Distinct non-missing values: exact up to ``DatasetProfiler/exactDistinctLimit``, a HyperLogLog estimate
    /// (about 1.6 % typical error) beyond, as `distinctExact` says.
    public var distinct: Int
    public var distinctExact: Bool
    public var min: Double?
    public var max: Double?
    public var mean: Double?
    /// The sample standard deviation (n − 1).
    public var std: Double?
    public var quantiles: Quantiles?
    /// The most frequent values, most frequent first (ties in value order), at most 10. Past
    /// ``DatasetProfiler/exactDistinctLimit`` distinct values, only values already seen are counted; a column of
    /// numbers stops counting there, so its `top` comes from the rows read until then.
    public var top: [ValueCount]
    /// How strongly the column goes with the label (see ``CorrelationMethod``); `nil` for the label itself, when
    /// there is no label, or when the measure does not apply.
    public var labelCorrelation: Double?
    public var labelCorrelationMethod: CorrelationMethod?

    /// Quantiles at 1, 25, 50, 75 and 99 %: exact (linear interpolation) up to 8192 values, then from a sketch
    /// whose rank error is well under 1 % (see `QuantileSketch`).
    public struct Quantiles: Sendable, Equatable, Codable {
        public var p1: Double
        public var p25: Double
        public var p50: Double
        public var p75: Double
        public var p99: Double
    }

    public struct ValueCount: Sendable, Equatable, Codable {
        public var value: String
        public var count: Int
    }
}

/// The measure behind a ``ColumnStatistics/labelCorrelation``.
public enum CorrelationMethod: String, Sendable, Codable {
    /// Pearson's r (−1 … 1): a numeric column against a numeric label.
    case pearson
    /// The correlation ratio η (0 … 1): a numeric column against a categorical label, or a categorical column
    /// against a numeric label.
    case correlationRatio
    /// Cramér's V (0 … 1): a categorical column against a categorical label.
    case cramersV
}
