/// The set of writes (dots) a state has seen: a version vector plus a cloud of out-of-order dots.
///
/// The version vector says "every dot of replica `r` up to `n`"; the dot cloud holds the dots seen beyond a
/// gap, as a delta carries them. The context is kept compact at all times: a cloud dot that closes a gap is
/// folded into the vector, so two contexts with the same dots are equal (`==`) and encode alike.
/// (Almeida et al., arXiv 1603.01529, section 7.1; Bieniusa et al., arXiv 1210.3368.)
public struct CausalContext: Sendable, Equatable {
    /// For each replica, the highest counter `n` such that all of its dots `1...n` are in the context.
    public private(set) var versionVector: [ReplicaID: UInt64]
    /// Dots in the context that are not covered by ``versionVector``.
    public private(set) var dotCloud: Set<Dot>

    /// An empty context.
    public init() {
        versionVector = [:]
        dotCloud = []
    }

    /// A context holding the dots of `versionVector` and `dotCloud`, compacted.
    public init(versionVector: [ReplicaID: UInt64], dotCloud: Set<Dot> = []) {
        self.versionVector = versionVector.filter { $0.value > 0 }
        self.dotCloud = dotCloud
        compact()
    }

    /// A context holding exactly `dots`, compacted.
    public init(dots: some Sequence<Dot>) {
        self.init(versionVector: [:], dotCloud: Set(dots))
    }

    /// Whether the context holds no dot at all.
    public var isEmpty: Bool { versionVector.isEmpty && dotCloud.isEmpty }

    /// Whether the write named by `dot` has been seen.
    public func contains(_ dot: Dot) -> Bool {
        dot.counter <= (versionVector[dot.replica] ?? 0) || dotCloud.contains(dot)
    }

    /// The highest counter of `replica` in the context, 0 if none.
    public func maxCounter(of replica: ReplicaID) -> UInt64 {
        var highest = versionVector[replica] ?? 0
        for dot in dotCloud where dot.replica == replica && dot.counter > highest {
            highest = dot.counter
        }
        return highest
    }

    /// Mints the next dot of `replica` and adds it to the context.
    ///
    /// Only the replica itself should call this, with the context of its own full state.
    public mutating func makeDot(for replica: ReplicaID) -> Dot {
        let dot = Dot(replica: replica, counter: maxCounter(of: replica) + 1)
        insert(dot)
        return dot
    }

    /// Adds one dot.
    public mutating func insert(_ dot: Dot) {
        let covered = versionVector[dot.replica] ?? 0
        if dot.counter <= covered { return }
        if dot.counter == covered + 1 {
            var top = dot.counter
            while !dotCloud.isEmpty, dotCloud.remove(Dot(replica: dot.replica, counter: top + 1)) != nil {
                top += 1
            }
            versionVector[dot.replica] = top
        } else {
            dotCloud.insert(dot)
        }
    }

    /// Adds every dot of `other`.
    ///
    /// Complexity: O(size of `other` + size of this dot cloud).
    public mutating func formUnion(_ other: CausalContext) {
        for (replica, counter) in other.versionVector where counter > (versionVector[replica] ?? 0) {
            versionVector[replica] = counter
        }
        if other.dotCloud.isEmpty && dotCloud.isEmpty { return }
        dotCloud.formUnion(other.dotCloud)
        compact()
    }

    /// The union of two contexts.
    public func union(_ other: CausalContext) -> CausalContext {
        var result = self
        result.formUnion(other)
        return result
    }

    /// Folds cloud dots that extend the version vector into it and drops cloud dots it already covers.
    ///
    /// Every mutating method leaves the context compact; this is for contexts built by hand.
    public mutating func compact() {
        guard !dotCloud.isEmpty else { return }
        var byReplica: [ReplicaID: [UInt64]] = [:]
        for dot in dotCloud { byReplica[dot.replica, default: []].append(dot.counter) }
        var remaining = Set<Dot>()
        for (replica, counters) in byReplica {
            var top = versionVector[replica] ?? 0
            for counter in counters.sorted() {
                if counter <= top { continue }
                if counter == top + 1 {
                    top = counter
                } else {
                    remaining.insert(Dot(replica: replica, counter: counter))
                }
            }
            if top > 0 { versionVector[replica] = top }
        }
        dotCloud = remaining
    }
}

extension CausalContext: Codable {
    private enum CodingKeys: String, CodingKey {
        case versionVector, dotCloud
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let vector = try container.decode([ReplicaID: UInt64].self, forKey: .versionVector)
        let cloud = try container.decodeIfPresent([Dot].self, forKey: .dotCloud) ?? []
        self.init(versionVector: vector, dotCloud: Set(cloud))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(versionVector, forKey: .versionVector)
        try container.encode(dotCloud.sorted(), forKey: .dotCloud)
    }
}
