import Foundation
import Synchronization

/// Counts and latency histograms per operation, kept with atomics so that recording never takes a lock.
///
/// Latencies go into power-of-two microsecond buckets (1 µs … ~1 s); percentiles are read off the buckets, so they
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

    /// An atomic in a box, so that arrays can hold them (`Atomic` cannot be copied).
    private final class Counter: Sendable {
        private let atomic = Atomic<Int>(0)
        func add(_ amount: Int) { atomic.add(amount, ordering: .relaxed) }
        var value: Int { atomic.load(ordering: .relaxed) }
    }

    static let buckets = 21
    private let counts: [Counter]
    private let errors: [Counter]
    private let totalNanoseconds: [Counter]
    private let histogram: [Counter]
    private let started = ContinuousClock.now

    init() {
        let operations = Operation.allCases.count
        counts = (0..<operations).map { _ in Counter() }
        errors = (0..<operations).map { _ in Counter() }
        totalNanoseconds = (0..<operations).map { _ in Counter() }
        histogram = (0..<(operations * Self.buckets)).map { _ in Counter() }
    }

    private static func index(_ operation: Operation) -> Int { Operation.allCases.firstIndex(of: operation)! }

    /// Records one call that started at `start`.
    func record(_ operation: Operation, since start: ContinuousClock.Instant, failed: Bool = false) {
        let elapsed = ContinuousClock.now - start
        let nanoseconds = Int(elapsed.components.seconds) * 1_000_000_000 + Int(elapsed.components.attoseconds / 1_000_000_000)
        let slot = Self.index(operation)
        counts[slot].add(1)
        if failed { errors[slot].add(1) }
        totalNanoseconds[slot].add(nanoseconds)
        let microseconds = max(1, nanoseconds / 1000)
        let bucket = min(Self.buckets - 1, Int.bitWidth - microseconds.leadingZeroBitCount - 1)
        histogram[slot * Self.buckets + bucket].add(1)
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
            let count = counts[slot].value
            guard count > 0 else { return nil }
            let buckets = (0..<Self.buckets).map { histogram[slot * Self.buckets + $0].value }
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
                operation: operation.rawValue, count: count, errors: errors[slot].value,
                averageMs: Double(totalNanoseconds[slot].value) / Double(count) / 1e6,
                p95Ms: percentile(0.95), p99Ms: percentile(0.99))
        }
    }
}
