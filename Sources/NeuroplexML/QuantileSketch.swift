/// Quantiles of a stream of numbers in bounded memory: exact up to ``capacity`` values, then a compactor sketch
/// (the Manku–Rajagopalan–Lindsay scheme that KLL refines).
///
/// Values go into level 0. When a level holds ``capacity`` values it is sorted and every other value (starting
/// at alternating offsets) moves up a level, where each value stands for twice as many. The rank error is at
/// most `levels / capacity` of the count (0.09 % for a million values, about 0.25 % for a billion) and memory
/// at most `levels × capacity` doubles (8192 × 8 bytes = 64 KiB a level; about 20 levels for a billion values).
struct QuantileSketch: Sendable {
    /// Values per level (and the count up to which answers are exact).
    static let capacity = 8192

    private var levels: [[Double]] = [[]]
    private var offsets: [Bool] = [false]

    mutating func add(_ value: Double) {
        levels[0].append(value)
        if levels[0].count >= Self.capacity { compact(0) }
    }

    /// Whether every value is still held (answers are then exact).
    var isExact: Bool { levels.count == 1 }

    private mutating func compact(_ level: Int) {
        if level + 1 == levels.count {
            levels.append([])
            offsets.append(false)
        }
        // Levels above 0 are kept sorted (each compaction merges its sorted half in), so only level 0 is sorted.
        if level == 0 { Self.radixSort(&levels[0]) }
        let offset = offsets[level] ? 1 : 0
        offsets[level].toggle()
        var moved: [Double] = []
        moved.reserveCapacity(levels[level].count / 2 + 1)
        var index = offset
        while index < levels[level].count {
            moved.append(levels[level][index])
            index += 2
        }
        levels[level].removeAll(keepingCapacity: true)
        levels[level + 1] = Self.merge(levels[level + 1], moved)
        if levels[level + 1].count >= Self.capacity { compact(level + 1) }
    }

    /// The values of two sorted arrays, sorted.
    private static func merge(_ first: [Double], _ second: [Double]) -> [Double] {
        if first.isEmpty { return second }
        var result: [Double] = []
        result.reserveCapacity(first.count + second.count)
        var i = 0, j = 0
        while i < first.count, j < second.count {
            if second[j] < first[i] {
                result.append(second[j])
                j += 1
            } else {
                result.append(first[i])
                i += 1
            }
        }
        result.append(contentsOf: first[i...])
        result.append(contentsOf: second[j...])
        return result
    }

    /// Sorts finite numbers in ascending order by their bit patterns, mapped so that unsigned order is numeric
    /// order: an LSD radix sort of the keys' high four bytes (a pass in which every key has the same byte is
    /// skipped), then each run of keys whose high halves are equal is sorted on its low half — by insertion when
    /// short, by the same radix sort of the low four bytes when long (values close together, such as timestamps).
    /// Distinct measurements rarely share a high half (20 bits of mantissa), so most arrays take four passes
    /// instead of eight. A compaction sorts ``capacity`` values for each ``capacity`` / 2 it passes up, the
    /// sketch's main cost; this is several times faster than the standard library's comparison sort there.
    /// (`-0.0` sorts before `0.0`; they are equal numbers.)
    static func radixSort(_ values: inout [Double]) {
        let count = values.count
        guard count > 1 else { return }
        let sign: UInt64 = 1 << 63
        let keys = UnsafeMutablePointer<UInt64>.allocate(capacity: count * 2)
        defer { keys.deallocate() }
        values.withUnsafeBufferPointer { values in
            for index in 0..<count {
                let bits = values[index].bitPattern
                // Negative numbers: all bits flipped (larger magnitude, smaller key); others: sign set.
                keys[index] = bits ^ (UInt64(bitPattern: Int64(bitPattern: bits) >> 63) | sign)
            }
        }
        var sorted = keys
        radixSort(&sorted, spare: keys + count, count: count, bytes: 4..<8)
        // Runs of equal high halves, in their original order: sorted on the low half.
        let spare = sorted == keys ? keys + count : keys
        var start = 0
        while start < count {
            let high = sorted[start] >> 32
            var end = start + 1
            while end < count, sorted[end] >> 32 == high { end += 1 }
            let length = end - start
            if length > 32 {
                var run = sorted + start
                radixSort(&run, spare: spare + start, count: length, bytes: 0..<4)
                if run != sorted + start { (sorted + start).update(from: run, count: length) }
            } else if length > 1 {
                for index in (start + 1)..<end {
                    let key = sorted[index]
                    var slot = index
                    while slot > start, sorted[slot - 1] > key {
                        sorted[slot] = sorted[slot - 1]
                        slot -= 1
                    }
                    sorted[slot] = key
                }
            }
            start = end
        }
        values.withUnsafeMutableBufferPointer { values in
            for index in 0..<count {
                let key = sorted[index]
                values[index] = Double(bitPattern: key & sign != 0 ? key ^ sign : ~key)
            }
        }
    }

    /// A stable LSD radix sort of `count` keys at `source` on the given bytes (0 is the lowest), one pass a byte,
    /// using `spare` (as long) as the other buffer; `source` ends up pointing at whichever buffer holds the result.
    private static func radixSort(
        _ source: inout UnsafeMutablePointer<UInt64>, spare: UnsafeMutablePointer<UInt64>, count: Int,
        bytes: Range<Int>
    ) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 4 * 256) { histograms in
            histograms.initialize(repeating: 0)
            let histogram = histograms.baseAddress!
            let low = UInt64(bytes.lowerBound << 3)
            for index in 0..<count {
                let key = source[index] >> low
                for pass in 0..<4 { histogram[pass << 8 | Int(truncatingIfNeeded: key >> UInt64(pass << 3)) & 0xFF] &+= 1 }
            }
            var target = spare
            for pass in 0..<bytes.count {
                let counts = histogram + pass << 8
                let shift = low + UInt64(pass << 3)
                if counts[Int(truncatingIfNeeded: source[0] >> shift) & 0xFF] == UInt32(count) { continue }
                var offset: UInt32 = 0
                for bucket in 0..<256 {
                    let size = counts[bucket]
                    counts[bucket] = offset
                    offset &+= size
                }
                for index in 0..<count {
                    let key = source[index]
                    let bucket = Int(truncatingIfNeeded: key >> shift) & 0xFF
                    target[Int(counts[bucket])] = key
                    counts[bucket] &+= 1
                }
                swap(&source, &target)
            }
        }
    }

    /// The `p`-quantile (0…1). Exact answers interpolate linearly between the nearest values (as NumPy and
    /// pandas do by default); approximate ones are the value at that weighted rank. `nil` when empty.
    func quantile(_ p: Double) -> Double? {
        quantiles([p]).first ?? nil
    }

    /// Several quantiles at once (one sort).
    func quantiles(_ ps: [Double]) -> [Double?] {
        guard isExact else { return weightedQuantiles(ps) }
        var sorted = levels[0]
        guard !sorted.isEmpty else { return ps.map { _ in nil } }
        Self.radixSort(&sorted)
        return ps.map { p in
            let position = p * Double(sorted.count - 1)
            let lower = Int(position.rounded(.down))
            let upper = min(lower + 1, sorted.count - 1)
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
        }
    }

    private func weightedQuantiles(_ ps: [Double]) -> [Double?] {
        var weighted: [(value: Double, weight: Double)] = []
        for (level, values) in levels.enumerated() {
            let weight = Double(1 << level)
            for value in values { weighted.append((value, weight)) }
        }
        guard !weighted.isEmpty else { return ps.map { _ in nil } }
        weighted.sort { $0.value < $1.value }
        let total = weighted.reduce(0.0) { $0 + $1.weight }
        return ps.map { p in
            let target = p * total
            var cumulative = 0.0
            for item in weighted {
                cumulative += item.weight
                if cumulative >= target { return item.value }
            }
            return weighted.last?.value
        }
    }
}
