/// A counter that replicas increment and decrement concurrently; its value is the sum of all changes.
///
/// Each replica keeps its own running totals of increments and decrements (two grow-only counters), and a
/// merge takes the larger total per replica. Mutators change the counter and return a delta holding the
/// replica's new totals.
///
/// ```swift
/// var counter = PNCounter()
/// let delta = counter.increment(by: 5, at: "a")   // send `delta` to the other replicas
/// counter.decrement(by: 2, at: "a")
/// counter.value                                  // 3
/// ```
public struct PNCounter: DeltaCRDT {
    /// Total increments per replica.
    public private(set) var increments: [ReplicaID: UInt64]
    /// Total decrements per replica.
    public private(set) var decrements: [ReplicaID: UInt64]

    /// A counter at zero.
    public init() {
        increments = [:]
        decrements = [:]
    }

    /// The current value: all increments minus all decrements.
    ///
    /// Arithmetic wraps around at the bounds of `Int64`, so the value is exact whenever the true sum fits.
    public var value: Int64 {
        let up = increments.values.reduce(0, &+)
        let down = decrements.values.reduce(0, &+)
        return Int64(bitPattern: up &- down)
    }

    /// Adds `amount` (which may be negative) on behalf of `replica`; returns the delta.
    @discardableResult
    public mutating func increment(by amount: Int64 = 1, at replica: ReplicaID) -> PNCounter {
        var delta = PNCounter()
        if amount >= 0 {
            let total = (increments[replica] ?? 0) &+ amount.magnitude
            increments[replica] = total
            delta.increments[replica] = total
        } else {
            let total = (decrements[replica] ?? 0) &+ amount.magnitude
            decrements[replica] = total
            delta.decrements[replica] = total
        }
        return delta
    }

    /// Subtracts `amount` (which may be negative) on behalf of `replica`; returns the delta.
    @discardableResult
    public mutating func decrement(by amount: Int64 = 1, at replica: ReplicaID) -> PNCounter {
        if amount == .min {
            // -Int64.min does not exist; two steps give the same change.
            increment(by: .max, at: replica).merging(increment(by: 1, at: replica))
        } else {
            increment(by: -amount, at: replica)
        }
    }

    /// Brings the value this replica observes to 0; returns the delta.
    ///
    /// The reset is a change by the observed amount, so increments made concurrently elsewhere survive it
    /// (as in an observed-remove reset): after merging, the value is the sum of the changes the reset did not see.
    @discardableResult
    public mutating func reset(at replica: ReplicaID) -> PNCounter {
        decrement(by: value, at: replica)
    }

    /// Takes, per replica, the larger totals of this counter and `other`.
    public mutating func merge(_ other: PNCounter) {
        increments.merge(other.increments, uniquingKeysWith: max)
        decrements.merge(other.decrements, uniquingKeysWith: max)
    }
}
