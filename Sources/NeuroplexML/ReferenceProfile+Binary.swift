import NeuroplexCore

/// The stored form of a drift reference: a little-endian binary record, kept beside the version's JSON document
/// (column `reference` of `ml_model_versions`) instead of inside it.
///
/// A reference holds up to 512 order statistics per numeric column (breast_cancer's: ~13,000 numbers): as JSON text
/// they took ~2.5 ms of every training job to write and made every version answer of the API ~100 kB long, while
/// only deployment and drift checks read them. Here a number is its 8 bytes.
///
/// Layout: `NXRP`, format 1, rows (u64), the feature count (u32) and each distribution, then a byte saying whether
/// the prediction distribution follows. A distribution: its name, a byte of flags (1 edges, 2 categories, 4 sample),
/// then the edges, categories, shares and sample, each a u32 count and its items (a string: u32 length and UTF-8).
extension ReferenceProfile {
    private static let magic: [UInt8] = Array("NXRP".utf8)
    private static let format: UInt8 = 1

    /// The binary record of this profile.
    public func encoded() -> [UInt8] {
        var size = 32
        for distribution in features + (prediction.map { [$0] } ?? []) {
            size += 32 + distribution.name.utf8.count
            size += 8 * ((distribution.edges?.count ?? 0) + distribution.shares.count + (distribution.sample?.count ?? 0))
            size += (distribution.categories ?? []).reduce(0) { $0 + 4 + $1.utf8.count }
        }
        var writer = Writer(capacity: size)
        writer.bytes.append(contentsOf: Self.magic)
        writer.bytes.append(Self.format)
        writer.integer(UInt64(rows))
        writer.integer(UInt32(features.count))
        for distribution in features { writer.distribution(distribution) }
        writer.bytes.append(prediction == nil ? 0 : 1)
        if let prediction { writer.distribution(prediction) }
        return writer.bytes
    }

    /// Reads a profile written by ``encoded()``.
    /// - Throws: `internal` when the bytes are not such a record (a damaged database row).
    public init(encoded bytes: [UInt8]) throws {
        var reader = Reader(bytes: bytes)
        guard try reader.take(4) == Self.magic[...], try reader.byte() == Self.format else { throw Reader.damaged }
        let rows = try reader.integer(UInt64.self)
        var features: [Distribution] = []
        for _ in 0..<(try reader.count()) { features.append(try reader.distribution()) }
        let prediction = try reader.byte() == 1 ? try reader.distribution() : nil
        guard reader.offset == bytes.count, rows <= UInt64(Int.max) else { throw Reader.damaged }
        self.init(features: features, prediction: prediction, rows: Int(rows))
    }

    private struct Writer {
        var bytes: [UInt8]

        init(capacity: Int) {
            bytes = []
            bytes.reserveCapacity(capacity)
        }

        mutating func integer<T: FixedWidthInteger>(_ value: T) {
            withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
        }

        mutating func string(_ value: String) {
            integer(UInt32(value.utf8.count))
            bytes.append(contentsOf: value.utf8)
        }

        mutating func numbers(_ values: [Double]) {
            integer(UInt32(values.count))
            for value in values { integer(value.bitPattern) }
        }

        mutating func distribution(_ distribution: Distribution) {
            string(distribution.name)
            var flags: UInt8 = 0
            if distribution.edges != nil { flags |= 1 }
            if distribution.categories != nil { flags |= 2 }
            if distribution.sample != nil { flags |= 4 }
            bytes.append(flags)
            if let edges = distribution.edges { numbers(edges) }
            if let categories = distribution.categories {
                integer(UInt32(categories.count))
                for category in categories { string(category) }
            }
            numbers(distribution.shares)
            if let sample = distribution.sample { numbers(sample) }
        }
    }

    private struct Reader {
        static let damaged = NeuroplexError(.internal, code: .internal, "the stored drift reference is damaged")
        let bytes: [UInt8]
        var offset = 0

        mutating func take(_ count: Int) throws -> ArraySlice<UInt8> {
            guard count >= 0, count <= bytes.count - offset else { throw Self.damaged }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        mutating func byte() throws -> UInt8 { try take(1).first! }

        mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
            let slice = try take(MemoryLayout<T>.size)
            var value = T.zero
            withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: slice) }
            return T(littleEndian: value)
        }

        /// A count of items that each take at least `itemBytes`, checked against what is left.
        mutating func count(itemBytes: Int = 1) throws -> Int {
            let count = Int(try integer(UInt32.self))
            guard count <= (bytes.count - offset) / itemBytes else { throw Self.damaged }
            return count
        }

        mutating func string() throws -> String {
            let length = try count()
            guard let text = String(validating: try take(length), as: UTF8.self) else { throw Self.damaged }
            return text
        }

        mutating func numbers() throws -> [Double] {
            let count = try count(itemBytes: 8)
            var values: [Double] = []
            values.reserveCapacity(count)
            for _ in 0..<count { values.append(Double(bitPattern: try integer(UInt64.self))) }
            return values
        }

        mutating func distribution() throws -> Distribution {
            let name = try string()
            let flags = try byte()
            guard flags & ~7 == 0 else { throw Self.damaged }
            let edges = flags & 1 != 0 ? try numbers() : nil
            var categories: [String]?
            if flags & 2 != 0 {
                var names: [String] = []
                for _ in 0..<(try count(itemBytes: 4)) { names.append(try string()) }
                categories = names
            }
            let shares = try numbers()
            let sample = flags & 4 != 0 ? try numbers() : nil
            return Distribution(name: name, edges: edges, categories: categories, shares: shares, sample: sample)
        }
    }
}
