/// The inferred type of a dataset column.
///
/// Inference looks at every non-missing cell: `boolean` when all are `true`/`false`/`yes`/`no` (any case),
/// `integer` when all are whole numbers, `numeric` when all are decimal numbers, `datetime` when all are ISO 8601
/// dates or date-times; otherwise `categorical` when the column has at most 50 distinct values, or at most 1000
/// that are also at most 5 % of its cells, and `text` beyond that. A column with no values at all is `text`.
public enum ColumnType: String, Sendable, Codable, CaseIterable {
    case numeric
    case integer
    case boolean
    case categorical
    case datetime
    case text

    /// Whether the column's values are numbers (booleans count as 0 and 1).
    public var isNumeric: Bool { self == .numeric || self == .integer || self == .boolean }
}

/// A column of a dataset: its name and inferred type.
public struct DatasetColumn: Sendable, Equatable, Codable {
    public var name: String
    public var type: ColumnType

    public init(name: String, type: ColumnType) {
        self.name = name
        self.type = type
    }
}

/// What one cell holds, read from its bytes without building a string.
struct Cell {
    enum Kind { case missing, integer, number, boolean, datetime, other }

    var kind: Kind
    /// The number, for integers, numbers and booleans (1 for true, 0 for false).
    var number: Double = 0

    /// The spellings of a missing value (pandas' defaults, less the rare ones): empty, `NA`, `N/A`, `n/a`,
    /// `NaN`, `nan`, `null`, `NULL`, `None`, `#N/A`. Surrounding spaces are ignored.
    static let missingSpellings: [[UInt8]] =
        ["NA", "N/A", "n/a", "NaN", "nan", "null", "NULL", "None", "#N/A"].map { Array($0.utf8) }

    init(kind: Kind, number: Double = 0) {
        self.kind = kind
        self.number = number
    }

    /// Classifies `raw` (the field's bytes).
    init(_ raw: ArraySlice<UInt8>) {
        self = raw.withUnsafeBufferPointer { Cell(trimmed: Cell.trimmed($0)) }
    }

    /// Classifies a field's bytes already stripped of surrounding spaces and tabs (see `trimmed`).
    init(trimmed bytes: UnsafeBufferPointer<UInt8>) {
        if Self.isMissing(trimmed: bytes) {
            self.init(kind: .missing)
        } else if let (value, isInteger) = Self.number(bytes) {
            self.init(kind: isInteger ? .integer : .number, number: value)
        } else if let flag = Self.boolean(bytes) {
            self.init(kind: .boolean, number: flag ? 1 : 0)
        } else if Self.isDatetime(bytes) {
            self.init(kind: .datetime)
        } else {
            self.init(kind: .other)
        }
    }

    /// Whether a field's bytes, stripped of surrounding spaces and tabs, spell a missing value (without
    /// classifying the rest).
    static func isMissing(trimmed bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.isEmpty || (bytes.count <= 4 && isMissingSpelling(bytes))
    }

    private static func isMissingSpelling(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        // Every spelling starts with one of these; numbers never do, so they skip the comparisons.
        switch bytes[0] {
        case UInt8(ascii: "N"), UInt8(ascii: "n"), UInt8(ascii: "#"):
            return missingSpellings.contains { $0.elementsEqual(bytes) }
        default:
            return false
        }
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice.removeFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 { slice.removeLast() }
        return slice
    }

    static func trimmed(_ bytes: UnsafeBufferPointer<UInt8>) -> UnsafeBufferPointer<UInt8> {
        var start = 0
        var end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return start == 0 && end == bytes.count ? bytes : UnsafeBufferPointer(rebasing: bytes[start..<end])
    }

    /// A decimal number (`-12`, `3.5`, `.5`, `1e-3`; no `inf`, `nan` or hex), and whether it is a whole number
    /// written without a point or exponent.
    ///
    /// The value is the one `strtod` gives (correctly rounded). The common case — at most 19 significant digits
    /// forming a mantissa below 2^53, and a decimal exponent within ±22 — is computed directly: mantissa and
    /// power of ten are both exact doubles, so one multiplication or division rounds correctly (Clinger's fast
    /// path). Anything else falls back to the standard library's parser.
    static func number(_ bytes: UnsafeBufferPointer<UInt8>) -> (Double, Bool)? {
        let count = bytes.count
        guard count > 0, count < 64 else { return nil }
        var index = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") {
            negative = true
            index = 1
        } else if bytes[0] == UInt8(ascii: "+") {
            index = 1
        }
        var digits = 0
        var isInteger = true
        var mantissa: UInt64 = 0
        // The mantissa stops taking digits at 10^18 (so it cannot overflow); a non-zero digit left out makes the
        // fast path inexact.
        var truncated = false
        var exponent = 0
        while index < count {
            let digit = bytes[index] &- 48
            guard digit < 10 else { break }
            if mantissa < 1_000_000_000_000_000_000 {
                mantissa = mantissa &* 10 &+ UInt64(digit)
            } else {
                exponent += 1
                if digit != 0 { truncated = true }
            }
            index += 1
            digits += 1
        }
        if index < count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            while index < count {
                let digit = bytes[index] &- 48
                guard digit < 10 else { break }
                if mantissa < 1_000_000_000_000_000_000 {
                    mantissa = mantissa &* 10 &+ UInt64(digit)
                    exponent -= 1
                } else if digit != 0 {
                    truncated = true
                }
                index += 1
                digits += 1
            }
        }
        guard digits > 0 else { return nil }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            var exponentDigits = 0
            var written = 0
            while index < count {
                let digit = bytes[index] &- 48
                guard digit < 10 else { break }
                // Saturates far beyond any double's range (the fast path needs ±22; the fallback reads the text).
                if written < 100_000 { written = written * 10 + Int(digit) }
                index += 1
                exponentDigits += 1
            }
            guard exponentDigits > 0 else { return nil }
            exponent += exponentNegative ? -written : written
        }
        guard index == count else { return nil }
        let value: Double
        if !truncated, mantissa <= 1 << 53, exponent >= -22, exponent <= 22 {
            // Exact powers of ten: every one up to 10^22 is a `Double` without rounding. (A literal, not a static,
            // so that no lazy initialisation is checked a cell.)
            let powersOfTen: [Double] = [
                1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
                1e19, 1e20, 1e21, 1e22,
            ]
            let magnitude =
                exponent < 0
                ? Double(mantissa) / powersOfTen[-exponent] : Double(mantissa) * powersOfTen[exponent]
            value = negative ? -magnitude : magnitude
        } else {
            guard let parsed = Double(String(decoding: bytes, as: UTF8.self)), parsed.isFinite else { return nil }
            value = parsed
        }
        return (value, isInteger && digits <= 18)
    }

    static func boolean(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool? {
        guard (2...5).contains(bytes.count) else { return nil }
        // ASCII letters only: setting bit 5 lower-cases them (and leaves other bytes unequal to the words).
        let lower = bytes.lazy.map { $0 | 0x20 }
        if lower.elementsEqual("true".utf8) || lower.elementsEqual("yes".utf8) { return true }
        if lower.elementsEqual("false".utf8) || lower.elementsEqual("no".utf8) { return false }
        return nil
    }

    /// `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM`, `:SS`, fractional seconds, and `Z` or an
    /// offset `±HH:MM` / `±HHMM`.
    static func isDatetime(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count >= 10, digits(b, 0, 4), b[4] == UInt8(ascii: "-"), digits(b, 5, 2), b[7] == UInt8(ascii: "-"),
            digits(b, 8, 2)
        else { return false }
        let month = Int(b[5] - 48) * 10 + Int(b[6] - 48)
        let day = Int(b[8] - 48) * 10 + Int(b[9] - 48)
        guard (1...12).contains(month), (1...31).contains(day) else { return false }
        if b.count == 10 { return true }
        guard b.count >= 16, b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: " "), digits(b, 11, 2),
            b[13] == UInt8(ascii: ":"), digits(b, 14, 2)
        else { return false }
        var index = 16
        if index < b.count, b[index] == UInt8(ascii: ":") {
            guard digits(b, index + 1, 2) else { return false }
            index += 3
            if index < b.count, b[index] == UInt8(ascii: ".") {
                index += 1
                let start = index
                while index < b.count, isDigit(b[index]) { index += 1 }
                guard index > start else { return false }
            }
        }
        if index == b.count { return true }
        if b[index] == UInt8(ascii: "Z") { return index + 1 == b.count }
        guard b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-"), digits(b, index + 1, 2) else {
            return false
        }
        index += 3
        if index < b.count, b[index] == UInt8(ascii: ":") { index += 1 }
        return digits(b, index, 2) && index + 2 == b.count
    }

    private static func digits(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ count: Int) -> Bool {
        guard start + count <= bytes.count else { return false }
        return bytes[start..<(start + count)].allSatisfy(isDigit)
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 48 && byte <= 57 }
}
