import Foundation
import Synchronization

/// Counts and latency histograms per operation, kept with atomics so that recording never takes a lock.
///
/// Every call is counted; one in ``sampleEvery`` is timed. Latencies go into power-of-two microsecond buckets (1 µs … ~1 s); percentiles are read off the buckets, so they
/// are upper bounds within a factor of two — enough to see a p99 move, cheap enough to record on every call.
public final class MemoryStatistics: Sendable {
    /// The operations counted.
    public enum Operation: String, Sendable, CaseIterable {
        case get, set, delete, increment, compareAndSwap, scan, batch, transaction, watch
    }

    /// What one operation has done since the engine started.
    public struct Summary: Sendable, Equatable {
        public var operation: String
        public var count: Int
        public var errors: Int
        public var averageMs: Double
        public var p95Ms: Double
        public var p99Ms: Double
    }

    static let buckets = 21
    static let operations = 9
    /// One call in this many has its latency measured (the first one included); every call is counted.
    static let sampleEvery = 8
    private let counts: InlineArray<9, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    private let errors: InlineArray<9, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    private let sampled: InlineArray<9, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    private let totalNanoseconds: InlineArray<9, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    private let histogram: InlineArray<189, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    private let started = ContinuousClock.now

    init() {
        assert(Operation.allCases.count == Self.operations && histogram.count == Self.operations * Self.buckets)
        assert(Operation.allCases.enumerated().allSatisfy { Self.index($0.element) == $0.offset })
    }

    private static func index(_ operation: Operation) -> Int {
        switch operation {
        case .get: 0
        case .set: 1
        case .delete: 2
        case .increment: 3
        case .compareAndSwap: 4
        case .scan: 5
        case .batch: 6
        case .transaction: 7
        case .watch: 8
        }
    }

    /// A call in progress: counted when it began; timed if it is one of the sampled calls.
    public struct Timing: Sendable {
        let slot: Int
        let start: ContinuousClock.Instant?
    }

    /// Counts a call and, for one in ``sampleEvery``, reads the clock (two clock reads per call would cost more
    /// than a lookup in memory does).
    func begin(_ operation: Operation) -> Timing {
        let slot = Self.index(operation)
        let number = counts[slot].add(1, ordering: .relaxed).newValue
        return Timing(slot: slot, start: number % Self.sampleEvery == 1 ? ContinuousClock.now : nil)
    }

    /// Ends a call begun with ``begin(_:)``.
    func end(_ timing: Timing, failed: Bool = false) {
        if failed { errors[timing.slot].add(1, ordering: .relaxed) }
        guard let start = timing.start else { return }
        addSample(slot: timing.slot, since: start)
    }

    /// Records one call that started at `start` (always timed: for calls too rare to sample).
    func record(_ operation: Operation, since start: ContinuousClock.Instant, failed: Bool = false) {
        let slot = Self.index(operation)
        counts[slot].add(1, ordering: .relaxed)
        if failed { errors[slot].add(1, ordering: .relaxed) }
        addSample(slot: slot, since: start)
    }

    private func addSample(slot: Int, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let nanoseconds = Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000)
        sampled[slot].add(1, ordering: .relaxed)
        totalNanoseconds[slot].add(nanoseconds, ordering: .relaxed)
        let microseconds = max(1, nanoseconds / 1000)
        let bucket = min(Self.buckets - 1, Int.bitWidth - microseconds.leadingZeroBitCount - 1)
        histogram[slot * Self.buckets + bucket].add(1, ordering: .relaxed)
    }

    /// Seconds since the engine started (for rates).
    public var uptimeSeconds: Double {
        let elapsed = ContinuousClock.now - started
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }

    /// One summary per operation that has run at least once.
    public var summaries: [Summary] {
        Operation.allCases.compactMap { operation in
            let slot = Self.index(operation)
            let count = counts[slot].load(ordering: .relaxed)
            let samples = sampled[slot].load(ordering: .relaxed)
            guard count > 0, samples > 0 else { return nil }
            let buckets = (0..<Self.buckets).map { histogram[slot * Self.buckets + $0].load(ordering: .relaxed) }
            func percentile(_ fraction: Double) -> Double {
                let target = Int((Double(buckets.reduce(0, +)) * fraction).rounded(.up))
                var seen = 0
                for (bucket, amount) in buckets.enumerated() {
                    seen += amount
                    if seen >= target { return Double(1 << (bucket + 1)) / 1000 }  // the bucket's upper bound, ms
                }
                return Double(1 << Self.buckets) / 1000
            }
            return Summary(
                operation: operation.rawValue, count: count, errors: errors[slot].load(ordering: .relaxed),
                averageMs: Double(totalNanoseconds[slot].load(ordering: .relaxed)) / Double(samples) / 1e6,
                p95Ms: percentile(0.95), p99Ms: percentile(0.99))
        }
    }
}
