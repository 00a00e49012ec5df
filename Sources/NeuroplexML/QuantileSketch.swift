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

    /// Sorts finite numbers in ascending order: an LSD radix sort (six passes of 11 bits) of their bit patterns,
    /// mapped so that unsigned order is numeric order. A compaction sorts ``capacity`` values for each
    /// ``capacity`` / 2 it passes up, the sketch's main cost; this is several times faster than a comparison sort
    /// there. (`-0.0` sorts before `0.0`; they are equal numbers.)
    static func radixSort(_ values: inout [Double]) {
        let count = values.count
        guard count > 1 else { return }
        let digitBits = 11, buckets = 1 << 11, passes = 6
        let sign: UInt64 = 1 << 63
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: buckets * passes) { histogram in
            histogram.initialize(repeating: 0)
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count * 2) { keys in
                let first = UnsafeMutableBufferPointer(rebasing: keys[0..<count])
                let second = UnsafeMutableBufferPointer(rebasing: keys[count..<(count * 2)])
                values.withUnsafeBufferPointer { values in
                    for index in 0..<count {
                        let bits = values[index].bitPattern
                        // Negative numbers: all bits flipped (larger magnitude, smaller key); others: sign set.
                        let key = bits ^ (UInt64(bitPattern: Int64(bitPattern: bits) >> 63) | sign)
                        first[index] = key
                        for pass in 0..<passes {
                            histogram[pass * buckets + Int(truncatingIfNeeded: key >> UInt64(pass * digitBits)) & (buckets - 1)] += 1
                        }
                    }
                }
                var source = first, target = second
                for pass in 0..<passes {
                    let counts = UnsafeMutableBufferPointer(rebasing: histogram[(pass * buckets)..<((pass + 1) * buckets)])
                    let shift = UInt64(pass * digitBits)
                    // Every key has the same digit here: the pass would not move anything.
                    if counts[Int(truncatingIfNeeded: source[0] >> shift) & (buckets - 1)] == UInt32(count) { continue }
                    var offset: UInt32 = 0
                    for bucket in 0..<buckets {
                        let size = counts[bucket]
                        counts[bucket] = offset
                        offset += size
                    }
                    for key in source {
                        let bucket = Int(truncatingIfNeeded: key >> shift) & (buckets - 1)
                        target[Int(counts[bucket])] = key
                        counts[bucket] += 1
                    }
                    swap(&source, &target)
                }
                values.withUnsafeMutableBufferPointer { values in
                    for index in 0..<count {
                        let key = source[index]
                        let bits = key & sign != 0 ? key ^ sign : ~key
                        values[index] = Double(bitPattern: bits)
                    }
                }
            }
        }
    }

    /// The `p`-quantile (0…1). Exact answers interpolate linearly between the nearest values (as NumPy and
    /// pandas do by default); approximate ones are the value at that weighted rank. `nil` when empty.
    func quantile(_ p: Double) -> Double? {
        if isExact {
            let sorted = levels[0].sorted()
            guard !sorted.isEmpty else { return nil }
            let position = p * Double(sorted.count - 1)
            let lower = Int(position.rounded(.down))
            let upper = min(lower + 1, sorted.count - 1)
            return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
        }
        return weightedQuantiles([p]).first ?? nil
    }

    /// Several quantiles at once (one sort).
    func quantiles(_ ps: [Double]) -> [Double?] {
        isExact ? ps.map { quantile($0) } : weightedQuantiles(ps)
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
