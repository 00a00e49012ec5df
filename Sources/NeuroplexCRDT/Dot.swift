/// One event of one replica: the replica's id and its event counter, starting at 1.
///
/// Every write of a causal CRDT gets a fresh dot from its ``CausalContext``; a dot names that write
/// everywhere, so a remove can say exactly which writes it observed.
public struct Dot: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The replica that made the write.
    public var replica: ReplicaID
    /// The replica's event number, 1 for its first write.
    public var counter: UInt64

    /// The dot numbered `counter` of `replica`.
    public init(replica: ReplicaID, counter: UInt64) {
        self.replica = replica
        self.counter = counter
    }

    /// Orders by replica, then counter: a stable order for output, not a causal one.
    public static func < (a: Dot, b: Dot) -> Bool {
        (a.replica, a.counter) < (b.replica, b.counter)
    }

    public var description: String { "\(replica):\(counter)" }
}
