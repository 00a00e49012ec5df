/// A set of event counters kept as sorted, disjoint, non-adjacent ranges.
///
/// Text CRDT deletions and not-yet-placed insertions of one replica are runs of consecutive counters, so
/// ranges keep them small.
struct CounterRanges: Sendable, Equatable {
    private(set) var ranges: [Range<Int>] = []

    init() {}

    /// The set holding `range`.
    init(_ range: Range<Int>) {
        if !range.isEmpty { ranges = [range] }
    }

    var isEmpty: Bool { ranges.isEmpty }

    /// One past the highest counter in the set, 0 if empty.
    var upperBound: Int { ranges.last?.upperBound ?? 0 }

    /// The index of the first range whose upper bound is at least `counter`.
    private func firstIndex(reaching counter: Int) -> Int {
        var low = 0
        var high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < counter { low = middle + 1 } else { high = middle }
        }
        return low
    }

    func contains(_ counter: Int) -> Bool {
        let index = firstIndex(reaching: counter + 1)
        return index < ranges.count && ranges[index].contains(counter)
    }

    /// Adds `range`, joining the ranges it overlaps or touches.
    mutating func insert(_ range: Range<Int>) {
        guard !range.isEmpty else { return }
        let start = firstIndex(reaching: range.lowerBound)
        var end = start
        var merged = range
        while end < ranges.count, ranges[end].lowerBound <= range.upperBound {
            merged = min(merged.lowerBound, ranges[end].lowerBound)..<max(merged.upperBound, ranges[end].upperBound)
            end += 1
        }
        ranges.replaceSubrange(start..<end, with: [merged])
    }

    /// Removes the counters in `range` and returns those that were in the set, as ranges in order.
    mutating func remove(_ range: Range<Int>) -> [Range<Int>] {
        guard !range.isEmpty else { return [] }
        let start = firstIndex(reaching: range.lowerBound + 1)
        var end = start
        var removed: [Range<Int>] = []
        var kept: [Range<Int>] = []
        while end < ranges.count, ranges[end].lowerBound < range.upperBound {
            let current = ranges[end]
            let overlap = max(current.lowerBound, range.lowerBound)..<min(current.upperBound, range.upperBound)
            removed.append(overlap)
            if current.lowerBound < overlap.lowerBound { kept.append(current.lowerBound..<overlap.lowerBound) }
            if overlap.upperBound < current.upperBound { kept.append(overlap.upperBound..<current.upperBound) }
            end += 1
        }
        if start < end { ranges.replaceSubrange(start..<end, with: kept) }
        return removed
    }
}
