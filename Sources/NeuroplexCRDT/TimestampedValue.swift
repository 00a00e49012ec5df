public import NeuroplexCore

/// A value written to a register, with the caller's timestamp and the writing replica.
///
/// Among concurrent writes the one with the greatest `(timestamp, replica)` wins (last writer wins); the
/// replica id breaks ties between equal timestamps, so every replica picks the same winner.
public struct TimestampedValue: Hashable, Sendable, Codable {
    /// The value written.
    public var value: JSONValue
    /// When it was written, in milliseconds since 1970, as the caller's clock said.
    public var timestamp: Int64
    /// The replica that wrote it.
    public var replica: ReplicaID

    /// A write of `value` by `replica` at `timestamp`.
    public init(value: JSONValue, timestamp: Int64, replica: ReplicaID) {
        self.value = value
        self.timestamp = timestamp
        self.replica = replica
    }
}

/// What a register stores for one dot: the value and the caller's timestamp (the dot names the replica).
struct RegisterWrite: Hashable, Sendable, Codable {
    var value: JSONValue
    var timestamp: Int64
}

extension Dictionary where Key == Dot, Value == RegisterWrite {
    /// The standing writes, the last-writer-wins winner first.
    ///
    /// Equal `(timestamp, replica)` pairs (possible only through a buggy clock shared by one replica) fall
    /// back to the higher counter, so the order is the same everywhere.
    var rankedWrites: [TimestampedValue] {
        sorted { a, b in
            (a.value.timestamp, a.key.replica, a.key.counter) > (b.value.timestamp, b.key.replica, b.key.counter)
        }.map { TimestampedValue(value: $0.value.value, timestamp: $0.value.timestamp, replica: $0.key.replica) }
    }

    /// The last-writer-wins winner among the standing writes.
    var winner: RegisterWrite? {
        self.max { a, b in
            (a.value.timestamp, a.key.replica, a.key.counter) < (b.value.timestamp, b.key.replica, b.key.counter)
        }?.value
    }
}
