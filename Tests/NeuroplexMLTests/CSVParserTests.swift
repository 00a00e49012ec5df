import NeuroplexML
import Testing

/// Parses `text` fed in chunks of `chunkSize` bytes; returns the records' fields and lines.
func parse<P: RecordParser>(_ parser: P, _ text: String, chunkSize: Int = 1 << 20) throws -> [(line: Int, fields: [String])] {
    var parser = parser
    var records: [(Int, [String])] = []
    let bytes = Array(text.utf8)
    var start = 0
    while start < bytes.count {
        let end = min(start + chunkSize, bytes.count)
        try bytes[start..<end].withUnsafeBufferPointer { buffer in
            try parser.consume(buffer) { records.append(($0.line, $0.fields)) }
        }
        start = end
    }
    try parser.finish { records.append(($0.line, $0.fields)) }
    return records
}

@Suite("CSV parser", .timeLimit(.minutes(3)))
struct CSVParserTests {
    @Test("quoted fields hold commas, doubled quotes and line breaks; LF and CRLF both end records")
    func quoting() throws {
        let text = "name,comment,n\r\n\"Smith, Jane\",\"said \"\"hi\"\"\",1\r\nBob,\"two\nlines\",2\nAl,,3\n\"\",\"\",4"
        // The same records whatever the chunking: a quote, a CR or a field may straddle two chunks.
        for chunkSize in [1, 2, 3, 7, 1 << 20] {
            let records = try parse(CSVParser(), text, chunkSize: chunkSize)
            #expect(records.map(\.fields) == [
                ["name", "comment", "n"],
                ["Smith, Jane", "said \"hi\"", "1"],
                ["Bob", "two\nlines", "2"],
                ["Al", "", "3"],
                ["", "", "4"],
            ], "chunk size \(chunkSize)")
            // Each record knows the line it starts on; the quoted line break moves the next record down.
            #expect(records.map(\.line) == [1, 2, 3, 5, 6])
        }
    }

    @Test("blank lines are skipped, a trailing comma is an empty last field, a byte order mark is dropped")
    func edges() throws {
        let records = try parse(CSVParser(), "\u{FEFF}a,b\n\n1,\n\r\n2,3\r\n", chunkSize: 2)
        #expect(records.map(\.fields) == [["a", "b"], ["1", ""], ["2", "3"]])
        #expect(records.map(\.line) == [1, 3, 5])
        #expect(try parse(CSVParser(), "a,b").map(\.fields) == [["a", "b"]])
    }

    @Test("broken quoting is an error naming the line and column")
    func brokenQuoting() throws {
        #expect(throws: DatasetFormatError(
            line: 3, column: 2, "a quote inside an unquoted field (quote the whole field and double the quotes in it)"
        )) { try parse(CSVParser(), "a,b\n1,2\n3,4\"5\n") }
        #expect(throws: DatasetFormatError(
            line: 2, column: 1, "a closing quote must be followed by a comma or the end of the line"
        )) { try parse(CSVParser(), "a,b\n\"x\"y,2\n") }
        // An unclosed quote is reported where it opened, not at the end of the file.
        #expect(throws: DatasetFormatError(line: 2, column: 2, "a quoted field is not closed before the end of the file")) {
            try parse(CSVParser(), "a,b\n1,\"open\n3,4\n5,6\n")
        }
    }
}

@Suite("NDJSON parser", .timeLimit(.minutes(3)))
struct NDJSONParserTests {
    @Test("the first line's keys, in written order, are the columns; absent and null keys are empty cells")
    func columns() throws {
        let text = #"{"b":1,"a":"x","c":true}"# + "\n\n" + #"{"a":"y","b":2.5}"# + "\n" + #"{"c":null,"b":-3,"a":"z, \"q\""}"#
        let records = try parse(NDJSONParser(), text, chunkSize: 5)
        #expect(records.map(\.fields) == [["b", "a", "c"], ["1", "x", "true"], ["2.5", "y", ""], ["-3", "z, \"q\"", ""]])
        #expect(records.map(\.line) == [1, 1, 3, 4])
    }

    @Test("unknown keys, nested values and invalid JSON name the line")
    func errors() throws {
        #expect(throws: DatasetFormatError.self) { try parse(NDJSONParser(), "{\"a\":1}\n{\"a\":2,\"b\":3}\n") }
        do {
            _ = try parse(NDJSONParser(), "{\"a\":1}\n{\"a\":2}\n{\"a\":[1]}\n")
            Issue.record("a nested value was accepted")
        } catch let error as DatasetFormatError {
            #expect(error.line == 3 && error.column == 1)
        }
        do {
            _ = try parse(NDJSONParser(), "{\"a\":1}\n{\"a\":\n")
            Issue.record("a broken line was accepted")
        } catch let error as DatasetFormatError {
            #expect(error.line == 2)
        }
    }
}
