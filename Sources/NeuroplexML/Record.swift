/// One row of a dataset as its parser produced it: the raw bytes of each field, and the line it started on.
///
/// Parsers reuse one record for every row (its storage keeps its capacity), so reading a row allocates nothing.
/// An empty field is a missing value; what else counts as missing is decided by ``CellText``.
public struct Record: Sendable {
    /// The fields' bytes, one after the other.
    private(set) var bytes: [UInt8] = []
    /// Where each field ends in ``bytes``.
    private(set) var ends: [Int] = []
    /// The 1-based line of the file on which this record starts.
    public internal(set) var line: Int = 1

    public init() {}

    /// The number of fields.
    public var count: Int { ends.count }

    /// The bytes of field `index` (0-based).
    public subscript(index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    /// The fields' text (for tests and error messages; invalid UTF-8 is repaired).
    public var fields: [String] { (0..<count).map { String(decoding: self[$0], as: UTF8.self) } }

    /// Whether every byte is ASCII (then every field is valid UTF-8 without checking it).
    var isASCII: Bool {
        bytes.withUnsafeBytes { raw in
            var union: UInt64 = 0
            var offset = 0
            while offset + 8 <= raw.count {
                union |= raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                offset += 8
            }
            while offset < raw.count {
                union |= UInt64(raw[offset])
                offset += 1
            }
            return union & 0x8080_8080_8080_8080 == 0
        }
    }

    /// The fields without copying or reference counting, valid only inside `body`.
    func withUnsafeFields<Result>(_ body: (UnsafeFields) throws -> Result) rethrows -> Result {
        try bytes.withUnsafeBufferPointer { bytes in
            try ends.withUnsafeBufferPointer { ends in try body(UnsafeFields(bytes: bytes, ends: ends)) }
        }
    }

    /// A record's fields as buffers into its storage; see ``Record/withUnsafeFields(_:)``.
    struct UnsafeFields {
        let bytes: UnsafeBufferPointer<UInt8>
        let ends: UnsafeBufferPointer<Int>

        var count: Int { ends.count }

        subscript(index: Int) -> UnsafeBufferPointer<UInt8> {
            let start = index == 0 ? 0 : ends[index - 1]
            return UnsafeBufferPointer(rebasing: bytes[start..<ends[index]])
        }
    }

    mutating func append(_ byte: UInt8) { bytes.append(byte) }

    mutating func append(contentsOf buffer: UnsafeBufferPointer<UInt8>) { bytes.append(contentsOf: buffer) }

    mutating func append(contentsOf other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    /// Ends the field being written.
    mutating func endField() { ends.append(bytes.count) }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        ends.removeAll(keepingCapacity: true)
    }
}

/// A syntax error in an uploaded file, at a line and (when known) a 1-based column.
public struct DatasetFormatError: Error, Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int?
    public var reason: String

    public init(line: Int, column: Int? = nil, _ reason: String) {
        self.line = line
        self.column = column
        self.reason = reason
    }

    public var description: String {
        if let column { return "line \(line), column \(column): \(reason)" }
        return "line \(line): \(reason)"
    }
}

/// A parser of one upload format: fed the file's bytes chunk by chunk, it hands over each complete record.
public protocol RecordParser {
    /// Parses `chunk`, calling `emit` for every record it completes. A record may span chunks.
    /// - Throws: ``DatasetFormatError``, or what `emit` throws.
    mutating func consume(
        _ chunk: UnsafeBufferPointer<UInt8>, _ emit: (inout Record) throws -> Void) throws
    /// Ends the input, emitting the last record if the file does not end with a newline.
    mutating func finish(_ emit: (inout Record) throws -> Void) throws
}
