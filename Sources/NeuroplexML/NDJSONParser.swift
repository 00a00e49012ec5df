import NeuroplexCore

/// An incremental parser of newline-delimited JSON: one object per line, whose members are the row's cells.
///
/// The first object's keys, in the order they are written, are the columns (its first line is the "header": the
/// parser emits them as the first record). Later lines may leave keys out or set them to `null` (missing values),
/// but a key the first line did not have is an error, so the schema is fixed once the first line is read. Values
/// must be strings, numbers, booleans or `null`; nested arrays and objects are refused. Blank lines are skipped.
/// A line may be at most ``maximumLineBytes`` long, which bounds memory.
public struct NDJSONParser: RecordParser {
    /// The longest line accepted (16 MiB).
    public static let maximumLineBytes = 16 * 1024 * 1024

    private var pending: [UInt8] = []
    private var line = 1
    private var columns: [String: Int]?
    private var columnNames: [String] = []
    private var record = Record()
    private var cells: [JSONValue?] = []

    public init() {}

    public mutating func consume(
        _ chunk: UnsafeBufferPointer<UInt8>, _ emit: (inout Record) throws -> Void
    ) throws {
        var start = 0
        while let newline = chunk[start...].firstIndex(of: UInt8(ascii: "\n")) {
            pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start..<newline]))
            try parseLine(emit)
            pending.removeAll(keepingCapacity: true)
            line += 1
            start = newline + 1
        }
        pending.append(contentsOf: UnsafeBufferPointer(rebasing: chunk[start...]))
        if pending.count > Self.maximumLineBytes {
            throw DatasetFormatError(line: line, "the line is longer than \(Self.maximumLineBytes) bytes")
        }
    }

    public mutating func finish(_ emit: (inout Record) throws -> Void) throws {
        try parseLine(emit)
        pending.removeAll()
    }

    private mutating func parseLine(_ emit: (inout Record) throws -> Void) throws {
        guard pending.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return }
        let object: [String: JSONValue]
        do {
            guard case .object(let members) = try JSONValue.parse(pending) else {
                throw DatasetFormatError(line: line, "each line must be a JSON object")
            }
            object = members
        } catch let error as JSONParseError {
            throw DatasetFormatError(line: line, "not valid JSON at byte \(error.offset + 1) of the line: \(error.reason)")
        }
        if columns == nil { try readHeader(object, emit) }
        try fill(object)
        record.line = line
        try emit(&record)
    }

    /// Takes the columns from the first object, in the order its keys are written, and emits them as the header.
    private mutating func readHeader(_ object: [String: JSONValue], _ emit: (inout Record) throws -> Void) throws {
        columnNames = Self.keysInOrder(pending)
        if Set(columnNames).count != object.count { columnNames = object.keys.sorted() }
        columns = Dictionary(uniqueKeysWithValues: columnNames.enumerated().map { ($1, $0) })
        record.removeAll()
        for name in columnNames {
            record.append(contentsOf: name.utf8)
            record.endField()
        }
        record.line = line
        try emit(&record)
    }

    private mutating func fill(_ object: [String: JSONValue]) throws {
        guard let columns else { return }
        cells = Array(repeating: nil, count: columns.count)
        for (key, value) in object {
            guard let index = columns[key] else {
                throw DatasetFormatError(
                    line: line, "key '\(key)' is not one of the first line's keys (\(columnNames.joined(separator: ", ")))")
            }
            cells[index] = value
        }
        record.removeAll()
        for (index, value) in cells.enumerated() {
            switch value {
            case nil, .null?: break
            case .string(let text)?: record.append(contentsOf: text.utf8)
            case .bool(let flag)?: record.append(contentsOf: (flag ? "true" : "false").utf8)
            case .int(let number)?: record.append(contentsOf: String(number).utf8)
            case .double(let number)?: record.append(contentsOf: "\(number)".utf8)
            case .array?, .object?:
                throw DatasetFormatError(
                    line: line, column: index + 1,
                    "'\(columnNames[index])' holds an array or object; cells must be strings, numbers, booleans or null")
            }
            record.endField()
        }
    }

    /// The keys of a flat JSON object in the order they are written (the parsed object does not keep order).
    static func keysInOrder(_ bytes: [UInt8]) -> [String] {
        var keys: [String] = []
        var depth = 0
        var index = 0
        var expectingKey = false
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                expectingKey = depth == 1 && byte == UInt8(ascii: "{")
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
            case UInt8(ascii: ","):
                expectingKey = depth == 1
            case UInt8(ascii: "\""):
                // Find the end of the string, honouring escapes.
                var end = index + 1
                while end < bytes.count, bytes[end] != UInt8(ascii: "\"") {
                    end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1
                }
                if expectingKey, end < bytes.count, case .string(let key)? = try? JSONValue.parse(bytes[index...end]) {
                    keys.append(key)
                }
                expectingKey = false
                index = end
            default:
                break
            }
            index += 1
        }
        return keys
    }
}
