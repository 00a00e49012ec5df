/// An incremental RFC 4180 CSV parser over raw bytes.
///
/// - Fields are separated by `,`; records end with LF, CRLF or a lone CR. Blank lines are skipped.
/// - A field that starts with `"` is quoted: it may hold commas, line breaks and doubled quotes (`""` is one `"`).
///   After its closing quote only a comma or the end of the line may follow.
/// - A quote inside an unquoted field is an error (it is almost always a field that should have been quoted), as
///   is a quoted field that is still open at the end of the file.
/// - A UTF-8 byte order mark at the start is dropped. Bytes are not decoded here: separators are ASCII, so a
///   multi-byte character is never split, and the consumer validates each field's UTF-8.
///
/// Memory is bounded by the longest record, whatever the size of the file.
public struct CSVParser: RecordParser {
    private enum State {
        case fieldStart
        case unquoted
        case quoted
        /// A `"` inside a quoted field: the closing quote, or the first half of `""`.
        case quoteInQuoted
    }

    private static let comma = UInt8(ascii: ","), quote = UInt8(ascii: "\""), lf = UInt8(ascii: "\n"),
        cr = UInt8(ascii: "\r")

    private var state = State.fieldStart
    private var record = Record()
    /// The current physical line (1-based).
    private var line = 1
    /// The line on which the open quoted field started.
    private var quoteLine = 1
    /// A CR just ended a record, so an LF right after it belongs to the same line break.
    private var skipLF = false
    /// Bytes of a possible byte order mark seen so far (the mark is 3 bytes and may span chunks).
    private var bomBytesSeen = 0
    private var bomChecked = false

    public init() {}

    public mutating func consume(
        _ chunk: UnsafeBufferPointer<UInt8>, _ emit: (inout Record) throws -> Void
    ) throws {
        var index = skipByteOrderMark(chunk)
        let end = chunk.count
        while index < end {
            let byte = chunk[index]
            if skipLF {
                skipLF = false
                if byte == Self.lf {
                    index += 1
                    continue
                }
            }
            switch state {
            case .fieldStart:
                switch byte {
                case Self.quote:
                    state = .quoted
                    quoteLine = line
                case Self.comma:
                    record.endField()
                case Self.lf, Self.cr:
                    if record.count > 0 { record.endField() }
                    try endRecord(crlf: byte == Self.cr, emit)
                default:
                    state = .unquoted
                    continue  // the run below takes this byte
                }
                index += 1
            case .unquoted:
                // Take the whole run up to the next special byte at once.
                let start = index
                // Eight bytes at a time: the lowest marked byte of a word is the first special one. The last few
                // bytes of the chunk byte by byte.
                let base = UnsafeRawPointer(chunk.baseAddress!)
                while index + 8 <= end {
                    let marks = Self.specialMarks(base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
                    if marks != 0 {
                        index += marks.trailingZeroBitCount >> 3
                        break
                    }
                    index += 8
                }
                while index < end, !Self.isSpecial(chunk[index]) { index += 1 }
                record.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<index]))
                guard index < end else { break }
                let special = chunk[index]
                index += 1
                switch special {
                case Self.comma:
                    record.endField()
                    state = .fieldStart
                case Self.quote:
                    throw DatasetFormatError(
                        line: line, column: record.count + 1,
                        "a quote inside an unquoted field (quote the whole field and double the quotes in it)")
                default:
                    record.endField()
                    state = .fieldStart
                    try endRecord(crlf: special == Self.cr, emit)
                }
            case .quoted:
                let start = index
                while index < end, chunk[index] != Self.quote {
                    if chunk[index] == Self.lf { line += 1 }
                    index += 1
                }
                record.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<index]))
                if index < end {
                    state = .quoteInQuoted
                    index += 1
                }
            case .quoteInQuoted:
                switch byte {
                case Self.quote:
                    record.append(Self.quote)
                    state = .quoted
                case Self.comma:
                    record.endField()
                    state = .fieldStart
                case Self.lf, Self.cr:
                    record.endField()
                    state = .fieldStart
                    try endRecord(crlf: byte == Self.cr, emit)
                default:
                    throw DatasetFormatError(
                        line: line, column: record.count + 1,
                        "a closing quote must be followed by a comma or the end of the line")
                }
                index += 1
            }
        }
    }

    public mutating func finish(_ emit: (inout Record) throws -> Void) throws {
        switch state {
        case .quoted:
            throw DatasetFormatError(
                line: quoteLine, column: record.count + 1, "a quoted field is not closed before the end of the file")
        case .unquoted, .quoteInQuoted:
            record.endField()
        case .fieldStart:
            if record.count > 0 { record.endField() }
        }
        state = .fieldStart
        if record.count > 0 {
            record.line = recordLine
            try emit(&record)
            record.removeAll()
        }
    }

    /// The line the record being built started on.
    private var recordLine: Int { record.line }

    private mutating func endRecord(crlf: Bool, _ emit: (inout Record) throws -> Void) throws {
        if crlf { skipLF = true }
        if record.count > 0 { try emit(&record) }
        line += 1
        record.removeAll()
        record.line = line
    }

    /// The high bit of each byte of `word` (little-endian) that may be a comma, quote, LF or CR: a byte equal to
    /// the pattern's is a zero byte of `word ^ pattern`, which `(x - 0x01…) & ~x & 0x80…` marks. The lowest mark
    /// is always right (a borrow only reaches bytes above a zero byte), so it is the first special byte; marks
    /// above it may be false.
    private static func specialMarks(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        func marks(_ byte: UInt8) -> UInt64 {
            let x = word ^ (ones &* UInt64(byte))
            return (x &- ones) & ~x & highs
        }
        return marks(comma) | marks(quote) | marks(lf) | marks(cr)
    }

    private static func isSpecial(_ byte: UInt8) -> Bool {
        byte == comma || byte == quote || byte == lf || byte == cr
    }

    /// Skips a UTF-8 byte order mark at the very start of the file; returns the index to start parsing at.
    private mutating func skipByteOrderMark(_ chunk: UnsafeBufferPointer<UInt8>) -> Int {
        guard !bomChecked else { return 0 }
        let mark: [UInt8] = [0xEF, 0xBB, 0xBF]
        var index = 0
        while bomBytesSeen < 3, index < chunk.count {
            guard chunk[index] == mark[bomBytesSeen] else {
                bomChecked = true
                // A partial mark from an earlier chunk was not a mark after all: those bytes are data.
                if bomBytesSeen > 0 { record.append(contentsOf: mark[0..<bomBytesSeen]); state = .unquoted }
                return index
            }
            bomBytesSeen += 1
            index += 1
        }
        if bomBytesSeen == 3 { bomChecked = true }
        return index
    }
}
