import Foundation
import NeuroplexCore
@testable import NeuroplexML
import Testing

/// Profiles a CSV text.
func profile(_ text: String, label: String?) throws -> DatasetProfiler {
    try profile(Array(text.utf8), label: label)
}

func profile(_ bytes: [UInt8], label: String?) throws -> DatasetProfiler {
    var profiler = DatasetProfiler(label: label)
    var parser = CSVParser()
    try bytes.withUnsafeBufferPointer { buffer in try parser.consume(buffer) { try profiler.add(&$0) } }
    try parser.finish { try profiler.add(&$0) }
    return profiler
}

@Suite("Dataset profiler", .timeLimit(.minutes(3)))
struct DatasetProfilerTests {
    @Test("schema inference on a realistic traffic log")
    func inference() throws {
        var text = "id,timestamp,bytes,duration,proto,suspicious,note,day\n"
        for i in 0..<200 {
            let proto = ["tcp", "udp", "icmp"][i % 3]
            let bytes = i % 17 == 0 ? "NA" : String(i * 37 % 1500)
            let note = "session \(i) from host-\(i * 7919 % 1000).example.net"
            text += "\(i),2024-03-\(String(format: "%02d", i % 28 + 1))T12:\(String(format: "%02d", i % 60)):00Z,\(bytes),"
            text += "\(Double(i) * 0.25),\(proto),\(i % 5 == 0 ? "True" : "false"),\"\(note)\",2024-03-01\n"
        }
        let profiler = try profile(text, label: "suspicious")
        let types = Dictionary(uniqueKeysWithValues: profiler.schema().map { ($0.name, $0.type) })
        #expect(types == [
            "id": .integer, "timestamp": .datetime, "bytes": .integer, "duration": .numeric, "proto": .categorical,
            "suspicious": .boolean, "note": .text, "day": .datetime,
        ])
        let statistics = profiler.statistics()
        #expect(statistics.rows == 200)
        #expect(statistics.columns.first { $0.name == "bytes" }?.missing == 12)
        #expect(statistics.labelDistribution == ["True": 40, "false": 160])
    }

    @Test("statistics of a small dataset, against values worked out by hand")
    func handComputed() throws {
        let text = """
            x,score,color,label
            1,0.5,red,a
            2,1.5,blue,b
            3,,red,a
            4,3.5,green,b
            ,4.5,red,a
            """
        let statistics = try profile(text, label: "label").statistics()
        #expect(statistics.rows == 5)
        #expect(statistics.labelDistribution == ["a": 3, "b": 2])
        let columns = Dictionary(uniqueKeysWithValues: statistics.columns.map { ($0.name, $0) })
        let x = try #require(columns["x"])
        #expect(x.type == .integer && x.missing == 1 && x.distinct == 4 && x.distinctExact)
        #expect(x.min == 1 && x.max == 4 && x.mean == 2.5)
        #expect(abs((x.std ?? 0) - (5.0 / 3).squareRoot()) < 1e-12)
        // Linear interpolation between order statistics, as NumPy's default.
        let q = try #require(x.quantiles)
        for (got, want) in [(q.p1, 1.03), (q.p25, 1.75), (q.p50, 2.5), (q.p75, 3.25), (q.p99, 3.97)] {
            #expect(abs(got - want) < 1e-12)
        }
        // η of x by label: classes a = {1, 3}, b = {2, 4}; between 1, within 4.
        #expect(x.labelCorrelationMethod == .correlationRatio)
        #expect(abs((x.labelCorrelation ?? 0) - (1.0 / 5).squareRoot()) < 1e-12)
        let score = try #require(columns["score"])
        #expect(score.type == .numeric && score.missing == 1 && score.mean == 2.5)
        #expect(abs((score.std ?? 0) - (10.0 / 3).squareRoot()) < 1e-12)
        let color = try #require(columns["color"])
        #expect(color.type == .categorical && color.distinct == 3 && color.min == nil && color.quantiles == nil)
        #expect(color.top.map(\.value) == ["red", "blue", "green"] && color.top.map(\.count) == [3, 1, 1])
        // Colour decides the label exactly (red → a, blue and green → b): Cramér's V is 1.
        #expect(color.labelCorrelationMethod == .cramersV)
        #expect(abs((color.labelCorrelation ?? 0) - 1) < 1e-12)
        #expect(columns["label"]?.labelCorrelation == nil)
    }

    @Test("top values: the ten most frequent, ties in value order, as a full sort would give")
    func topValuesMatchASortOfEveryCount() throws {
        var generator = SystemRandomNumberGenerator()
        var counts: [String: Int] = [:]
        var text = "tag\n"
        for _ in 0..<3000 {
            // Skewed counts with many ties among 200 tags.
            let tag = "t\(Int.random(in: 0..<200, using: &generator) % (Int.random(in: 1...200, using: &generator)))"
            counts[tag, default: 0] += 1
            text += tag + "\n"
        }
        let statistics = try profile(text, label: nil).statistics()
        let tag = try #require(statistics.columns.first { $0.name == "tag" })
        let expected = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(10)
        #expect(tag.top.map(\.value) == expected.map(\.key) && tag.top.map(\.count) == expected.map(\.value))
    }

    @Test("a numeric column's distinct values, top values and label counts: by text, as a hash table counts them")
    func numericColumnsCountedByText() throws {
        var generator = SystemRandomNumberGenerator()
        // `few` repeats at most 32 texts (counted as they come, after the kept sample); `many` is mostly distinct
        // (kept, counted at the end).
        var counts: [String: [String: Int]] = ["few": [:], "many": [:]]
        var labels: [String: Int] = [:]
        var text = "few,many,label\n"
        for _ in 0..<2500 {
            var cells: [String] = []
            for (name, range) in [("few", 8), ("many", 20_000)] {
                // Equal numbers written differently ("7", "7.0", "07") are different values, as their text differs.
                let number = Int.random(in: 0..<range, using: &generator) % Int.random(in: 1...range, using: &generator)
                let spelling = Int.random(in: 0..<4, using: &generator) % 3 == 0 ? Int.random(in: 0..<4, using: &generator) : 0
                let cell = ["\(number)", "\(number).0", "0\(number)", "-\(number)"][spelling]
                counts[name]![cell, default: 0] += 1
                cells.append(" \(cell) ")
            }
            let label = "\(Int.random(in: 0..<3, using: &generator))"
            labels[label, default: 0] += 1
            text += cells.joined(separator: ",") + ",\(label)\n"
        }
        let statistics = try profile(text, label: "label").statistics()
        for name in ["few", "many"] {
            let column = try #require(statistics.columns.first { $0.name == name })
            let counted = counts[name]!
            #expect(column.type == .numeric && column.distinct == counted.count && column.distinctExact, "\(name)")
            let expected = counted.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(10)
            #expect(column.top.map(\.value) == expected.map(\.key) && column.top.map(\.count) == expected.map(\.value), "\(name)")
        }
        #expect(statistics.labelDistribution == labels)
    }

    @Test("a column of numbers that turns to text is counted from its first row, as one of text from the start")
    func numbersThenText() throws {
        var generator = SystemRandomNumberGenerator()
        // The same cells with their labels, in two orders: words last (the column is numbers until then), and
        // words first. Both must count every cell and relate it to the label alike.
        var rows: [(cell: String, label: Int)] = []
        // Fewer numbers than the kept sample (``ColumnProfile/keptSample``): they are kept until the words come.
        for row in 0..<70 {
            let label = Int.random(in: 0..<3, using: &generator)
            rows.append((row >= 60 ? ["x", "y"][label % 2] : "\(label * 10 + Int.random(in: 0..<3, using: &generator))", label))
        }
        // Labels as numbers (η of the label by value) and as words (Cramér's V of the value × class table).
        for (prefix, method) in [("", CorrelationMethod.correlationRatio), ("class-", .cramersV)] {
            func statistics(_ rows: [(cell: String, label: Int)]) throws -> ColumnStatistics {
                let text = "c,label\n" + rows.map { "\($0.cell),\(prefix)\($0.label)\n" }.joined()
                return try #require(try profile(text, label: "label").statistics().columns.first)
            }
            let wordsLast = try statistics(rows)
            var wordsFirst = try statistics(Array(rows[60...] + rows[..<60]))
            #expect(wordsLast.type == .categorical && wordsLast.labelCorrelationMethod == method)
            #expect(wordsLast.distinct == Set(rows.map(\.cell)).count)
            #expect(abs((wordsFirst.labelCorrelation ?? 0) - (wordsLast.labelCorrelation ?? 1)) < 1e-12)
            wordsFirst.labelCorrelation = wordsLast.labelCorrelation
            #expect(wordsFirst == wordsLast)
        }
    }

    @Test("profiled a batch at a time, with a helper task, as an upload is, the statistics are the same")
    func batchesInTwoGroups() async throws {
        var generator = SystemRandomNumberGenerator()
        // About 1.5 MB: several batches, with numbers, integers, categories, free text, missing cells and a label.
        var text = "x,n,kind,note,y,label\n"
        for row in 0..<30_000 {
            let x = Double.random(in: -1000...1000, using: &generator)
            let kind = ["alpha", "beta", "gamma", "delta"][Int.random(in: 0..<4, using: &generator)]
            let y = row % 13 == 0 ? "" : String(format: "%.3f", Double.random(in: 0..<1, using: &generator))
            text += "\(x),\(row % 977),\(kind),\"note \(row), seen\",\(y),\(["a", "b", "c"][row % 3])\n"
        }
        let bytes = Array(text.utf8)
        let expected = try profile(bytes, label: "label")
        var profiler = DatasetProfiler(label: "label")
        var parser = CSVParser()
        var batches = 0
        for start in stride(from: 0, to: bytes.count, by: 65_536) {
            try bytes[start..<min(start + 65_536, bytes.count)].withUnsafeBufferPointer { chunk in
                try parser.consume(chunk) { try profiler.add(&$0) }
            }
            if profiler.batchIsFull {
                await profiler.profileBatch()
                batches += 1
            }
        }
        try parser.finish { try profiler.add(&$0) }
        await profiler.finish()
        #expect(batches >= 4)
        #expect(profiler.rows == 30_000)
        #expect(profiler.schema() == expected.schema())
        #expect(profiler.statistics() == expected.statistics())
        #expect(profiler.statistics().columns.map(\.missing) == [0, 0, 0, 0, 2308, 0])
    }

    @Test("Cramér's V from the value × class table, classes first seen late and in any order")
    func cramersVWithManyClasses() throws {
        // Six classes, the later ones first met after many values were counted (the table grows wider as they
        // come): the profile's V must equal the one computed from every pair's count.
        var generator = SystemRandomNumberGenerator()
        var pairs: [String: [String: Int]] = [:]
        var text = "colour,label\n"
        for row in 0..<2000 {
            let colour = "c\(Int.random(in: 0..<40, using: &generator))"
            let label = "k\(Int.random(in: 0...min(5, row / 300), using: &generator) + (colour.hasSuffix("7") ? 1 : 0))"
            pairs[colour, default: [:]][label, default: 0] += 1
            text += "\(colour),\(label)\n"
        }
        let labels = Set(pairs.values.flatMap(\.keys)).sorted()
        let table = pairs.keys.sorted().map { colour in labels.map { pairs[colour]?[$0] ?? 0 } }
        let computed: Double? = cramersV(table)
        let expected = try #require(computed)
        let statistics = try profile(text, label: "label").statistics()
        let colour = try #require(statistics.columns.first { $0.name == "colour" })
        #expect(colour.labelCorrelationMethod == .cramersV)
        #expect(abs((colour.labelCorrelation ?? -1) - expected) < 1e-12, "\(String(describing: colour.labelCorrelation)) vs \(expected)")
    }

    @Test("Pearson's r against a numeric label")
    func pearson() throws {
        let statistics = try profile("a,b,y\n1,4,2\n2,3,4\n3,2,6\n4,1,8\n", label: "y").statistics()
        #expect(abs((statistics.columns[0].labelCorrelation ?? 0) - 1) < 1e-12)
        #expect(abs((statistics.columns[1].labelCorrelation ?? 0) + 1) < 1e-12)
        #expect(statistics.columns[0].labelCorrelationMethod == .pearson)
        #expect(statistics.labelDistribution == ["2": 1, "4": 1, "6": 1, "8": 1])
    }

    @Test("ragged rows, invalid UTF-8, duplicate names and an unknown label are refused")
    func refusals() throws {
        #expect(throws: DatasetFormatError(
            line: 5, column: 3, "the row has 2 fields but the header has 3 ('label' is missing)"
        )) { try profile("a,b,label\n1,2,x\n3,4,y\n5,6,x\n7,y\n8,9,x\n", label: "label") }
        #expect(throws: DatasetFormatError(line: 2, column: 3, "the row has 3 fields but the header has 2")) {
            try profile("a,b\n1,2,3\n", label: nil)
        }
        // 0xC3 0x28: a lead byte followed by an ASCII byte.
        #expect(throws: DatasetFormatError(line: 3, column: 2, "the field is not valid UTF-8")) {
            try profile(Array("a,b\n1,é\n2,".utf8) + [0xC3, 0x28] + Array("\n".utf8), label: nil)
        }
        #expect(throws: DatasetFormatError(line: 1, column: 3, "the column name 'a' is used twice")) {
            try profile("a,b,a\n1,2,3\n", label: nil)
        }
        #expect(throws: NeuroplexError.self) { try profile("a,b\n1,2\n", label: "missing_col") }
    }
}

@Suite("Bounded-memory summaries", .timeLimit(.minutes(3)))
struct SketchTests {
    @Test("quantiles of a million values stay within the documented rank error")
    func quantiles() {
        var sketch = QuantileSketch()
        // A permutation of 0..<n (a multiplicative step coprime with n), so that order is not sorted.
        let n = 1_000_000
        for i in 0..<n { sketch.add(Double(i &* 7_919 % n)) }
        #expect(!sketch.isExact)
        for p in [0.01, 0.25, 0.5, 0.75, 0.99] {
            let rank = (sketch.quantile(p) ?? -1) / Double(n)
            #expect(abs(rank - p) < 0.002, "p\(p): rank \(rank)")
        }
    }

    @Test("the sketch's radix sort orders numbers as a comparison sort does")
    func radixSort() {
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1, 2, 7, 8192] {
            var values = (0..<size).map { _ -> Double in
                switch Int.random(in: 0..<5, using: &generator) {
                case 0: Double(Int.random(in: -3...3, using: &generator))
                case 1: Double.random(in: -1e300...1e300, using: &generator)
                case 2: Double.random(in: -1e-300...1e-300, using: &generator)
                case 3: [Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, .greatestFiniteMagnitude][size % 3]
                default: Double.random(in: -4...4, using: &generator)
                }
            }
            let expected = values.sorted()
            QuantileSketch.radixSort(&values)
            #expect(values == expected, "\(size) values")
        }
        // Keys whose high halves are equal in runs: timestamps a fraction of a second apart (one long run, sorted
        // on the low half by radix), and values that come in near pairs and small clusters (short runs, by insertion).
        for make in [
            { (g: inout SystemRandomNumberGenerator) in 1_700_000_000 + Double.random(in: 0..<500, using: &g) },
            { (g: inout SystemRandomNumberGenerator) in
                let base = Double(Int.random(in: -200...200, using: &g)) / 7
                return base + Double(Int.random(in: 0..<40, using: &g)) * base.ulp
            },
        ] {
            var values = (0..<8192).map { _ in make(&generator) }
            let expected = values.sorted()
            QuantileSketch.radixSort(&values)
            #expect(values == expected)
        }
        // Whole numbers and halves of both signs: most digits are the same in every key, and those passes skipped.
        var signs: [Double] = [1, -1, 2, -2, 0.5, -0.5]
        QuantileSketch.radixSort(&signs)
        #expect(signs == [-2, -1, -0.5, 0.5, 1, 2])
    }

    @Test("the distinct estimate is within a few per cent")
    func distinct() {
        var estimator = DistinctEstimator()
        for i in 0..<100_000 { estimator.add(ArraySlice("value-\(i % 50_000)".utf8)) }
        #expect(abs(Double(estimator.estimate) - 50_000) / 50_000 < 0.05)
    }
}

@Suite("Cell numbers", .timeLimit(.minutes(3)))
struct CellNumberTests {
    /// `strtod`'s reading of `text`: what the parser must equal, bit for bit.
    private func strtodValue(_ text: String) -> Double {
        text.withCString { strtod($0, nil) }
    }

    private func parse(_ text: String) -> (Double, Bool)? {
        Array(text.utf8).withUnsafeBufferPointer { Cell.number($0) }
    }

    @Test("numbers read from bytes equal strtod's, bit for bit, on the fast path and off it")
    func equalsStrtod() {
        var cases = [
            "0", "-0", "-0.0", "+1.5", ".5", "5.", "0.1", "4.35", "-0.000001", "1e22", "1e23", "1e-22", "1e-23",
            "9007199254740992", "9007199254740993", "9007199254740995", "123456789012345678", "1234567890123456789",
            "12345678901234567890123", "1.000000000000000000000000", "0.000000000000000000000000001",
            "10000000000000000000000", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
            "0.30000000000000004", "123.456e-5", "7E+3", "-3.14159265358979323846", "1e0", "00000000000000000000012.5",
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<200_000 {
            var text = Bool.random(using: &generator) ? "-" : ""
            let digits = Int.random(in: 1...22, using: &generator)
            let point = Int.random(in: -1...digits, using: &generator)
            for position in 0..<digits {
                if position == point { text += "." }
                text += String(Int.random(in: 0...9, using: &generator))
            }
            if Int.random(in: 0..<4, using: &generator) == 0 { text += "e\(Int.random(in: -40...40, using: &generator))" }
            cases.append(text)
        }
        for text in cases {
            guard let (value, _) = parse(text) else {
                Issue.record("'\(text)' was not read as a number")
                continue
            }
            #expect(value.bitPattern == strtodValue(text).bitPattern, "'\(text)'")
        }
    }

    @Test("what is and is not a number, and which numbers are integers")
    func grammar() {
        for text in ["", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "1,5", "0x10", "inf", "nan", "1 2", "--1", "1e400"] {
            #expect(parse(text) == nil, "'\(text)'")
        }
        #expect(parse("42")?.1 == true && parse("-7")?.1 == true && parse("123456789012345678")?.1 == true)
        #expect(parse("1234567890123456789")?.1 == false && parse("4.0")?.1 == false && parse("1e3")?.1 == false)
    }
}
