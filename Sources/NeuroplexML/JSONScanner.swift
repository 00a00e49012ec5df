import NeuroplexCore

/// A forward reader of JSON bytes for the predict path: it reads the scalars of an instance where they are, instead
/// of building a ``JSONValue`` tree (a 40-feature instance was 40 dictionary entries and 40 `strtod` calls; parsing
/// the body was the largest part of a prediction). Anything it does not read itself (escaped strings, nested
/// values) it hands to ``JSONValue/parse(_:maxDepth:)``, so both accept and refuse the same documents.
struct JSONScanner {
    /// A scalar, as an instance's features need it.
    enum Scalar {
        case number(Double)
        case string(String)
        case bool(Bool)
        case null
        /// An array or an object: its JSON type name, for the error.
        case other(String)
    }

    let bytes: UnsafeBufferPointer<UInt8>
    var position: Int

    init(_ bytes: UnsafeBufferPointer<UInt8>, at position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var peek: UInt8? { position < bytes.count ? bytes[position] : nil }

    mutating func skipWhitespace() {
        while position < bytes.count {
            let byte = bytes[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position += 1
        }
    }

    static func malformed(_ offset: Int, _ reason: String) -> NeuroplexError {
        NeuroplexError(.badRequest, code: .invalidJSON, "the body is not valid JSON: at byte \(offset): \(reason)")
    }

    mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard peek == byte else {
            throw Self.malformed(position, "expected '\(Character(Unicode.Scalar(byte)))'")
        }
        position += 1
    }

    /// Consumes `byte` (after whitespace) if it is next.
    mutating func take(_ byte: UInt8) -> Bool {
        skipWhitespace()
        guard peek == byte else { return false }
        position += 1
        return true
    }

    /// The bytes between a string's quotes, and whether it holds an escape (then ``string()`` must decode it).
    mutating func rawString() throws -> (range: Range<Int>, escaped: Bool) {
        skipWhitespace()
        guard peek == UInt8(ascii: "\"") else { throw Self.malformed(position, "expected a string") }
        let start = position
        position += 1
        var escaped = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\\") {
                escaped = true
                position += 2
                continue
            }
            if byte == UInt8(ascii: "\"") {
                position += 1
                return ((start + 1)..<(position - 1), escaped)
            }
            if byte < 0x20 { throw Self.malformed(position, "a control character in a string") }
            position += 1
        }
        throw Self.malformed(start, "the string does not end")
    }

    /// The text of a string's bytes (`range` from ``rawString()``, without escapes): ASCII is taken as it is,
    /// anything else must be valid UTF-8.
    func text(_ range: Range<Int>) throws -> String {
        let slice = UnsafeBufferPointer(rebasing: bytes[range])
        if slice.allSatisfy({ $0 < 0x80 }) { return String(decoding: slice, as: UTF8.self) }
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw Self.malformed(range.lowerBound, "the string is not UTF-8")
        }
        return text
    }

    /// A string; an escaped one is decoded by the full parser.
    mutating func string() throws -> String {
        let start = position
        let (range, escaped) = try rawString()
        if escaped {
            guard case .string(let text) = try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[(range.lowerBound - 1)..<(range.upperBound + 1)])) else {
                throw Self.malformed(start, "expected a string")
            }
            return text
        }
        return try text(range)
    }

    /// Whether the string at `range` (from ``rawString()``, unescaped) is exactly `expected`.
    func equals(_ range: Range<Int>, _ expected: [UInt8]) -> Bool {
        range.count == expected.count && bytes[range].elementsEqual(expected)
    }

    /// The next value as a scalar; arrays and objects are skipped (and checked) and reported by type.
    mutating func scalar() throws -> Scalar {
        skipWhitespace()
        guard let byte = peek else { throw Self.malformed(position, "expected a value") }
        switch byte {
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try word("true"); return .bool(true)
        case UInt8(ascii: "f"): try word("false"); return .bool(false)
        case UInt8(ascii: "n"): try word("null"); return .null
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            let range = try skipValue()
            return .other(try JSONValue.parse(UnsafeBufferPointer(rebasing: bytes[range])).typeName)
        default:
            let start = position
            while position < bytes.count {
                let c = bytes[position]
                guard (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
                else { break }
                position += 1
            }
            let token = UnsafeBufferPointer(rebasing: bytes[start..<position])
            // JSON numbers start with '-' or a digit, and a digit follows a leading '-'.
            let first = token.first ?? 0
            let second = token.count > 1 ? token[1] : 0x30
            guard (first >= 0x30 && first <= 0x39) || (first == UInt8(ascii: "-") && second >= 0x30 && second <= 0x39),
                Self.isJSONNumber(token), let (value, _) = Cell.number(token)
            else { throw Self.malformed(start, "expected a value") }
            return .number(value)
        }
    }

    /// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    static func isJSONNumber(_ token: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        func digits() -> Int {
            let start = i
            while i < token.count, token[i] >= 0x30, token[i] <= 0x39 { i += 1 }
            return i - start
        }
        if i < token.count, token[i] == UInt8(ascii: "-") { i += 1 }
        let leading = i
        let whole = digits()
        guard whole > 0, whole == 1 || token[leading] != 0x30 else { return false }
        if i < token.count, token[i] == UInt8(ascii: ".") {
            i += 1
            guard digits() > 0 else { return false }
        }
        if i < token.count, token[i] == UInt8(ascii: "e") || token[i] == UInt8(ascii: "E") {
            i += 1
            if i < token.count, token[i] == UInt8(ascii: "+") || token[i] == UInt8(ascii: "-") { i += 1 }
            guard digits() > 0 else { return false }
        }
        return i == token.count
    }

    private mutating func word(_ text: String) throws {
        let utf8 = text.utf8
        guard position + utf8.count <= bytes.count, bytes[position..<(position + utf8.count)].elementsEqual(utf8) else {
            throw Self.malformed(position, "expected a value")
        }
        position += utf8.count
    }

    /// Skips the next value (strings, numbers, words, nested arrays and objects) and returns its byte range.
    mutating func skipValue() throws -> Range<Int> {
        skipWhitespace()
        let start = position
        guard let byte = peek else { throw Self.malformed(position, "expected a value") }
        if byte == UInt8(ascii: "[") || byte == UInt8(ascii: "{") {
            var depth = 0
            while position < bytes.count {
                let c = bytes[position]
                if c == UInt8(ascii: "\"") {
                    _ = try string()
                    continue
                }
                if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { depth += 1 }
                if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                    depth -= 1
                    if depth == 0 {
                        position += 1
                        return start..<position
                    }
                }
                position += 1
            }
            throw Self.malformed(start, "the value does not end")
        }
        _ = try scalar()
        return start..<position
    }
}
