/// A delta-state CRDT: a join-semilattice whose mutators return small deltas of the same type.
///
/// Following Almeida, Shoker and Baquero, *Delta State Replicated Data Types* (arXiv 1603.01529), every
/// mutator changes the value it is called on and returns a delta `d` such that merging `d` into the state
/// before the change gives the state after it. Deltas and full states are values of one type, so a replica
/// ships either and the receiver calls ``merge(_:)``. Merging is commutative, associative and idempotent:
/// deltas may arrive in any order, more than once, or be joined into intervals before shipping.
public protocol DeltaCRDT: Codable, Equatable, Sendable {
    /// The empty state (no writes), the identity of ``merge(_:)``.
    init()

    /// Joins another state or delta into this one.
    mutating func merge(_ other: Self)
}

extension DeltaCRDT {
    /// The join of this state and another, leaving both unchanged.
    public func merging(_ other: Self) -> Self {
        var result = self
        result.merge(other)
        return result
    }
}
