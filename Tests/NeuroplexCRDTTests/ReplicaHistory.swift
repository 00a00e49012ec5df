import NeuroplexCRDT
import PropertyBased
import Testing

/// One step of a random history: a replica either edits (with two random parameters) or merges another
/// replica's full state.
struct HistoryStep: Sendable, CustomStringConvertible {
    var replica: Int
    var action: Int
    var first: Int
    var second: Int

    /// One step in eight is a sync.
    var isSync: Bool { action % 8 == 0 }

    var description: String { "r\(replica) a\(action) \(first) \(second)" }

    static let replicaIDs: [ReplicaID] = ["r0", "r1", "r2"]
}

/// Random histories of 1–60 steps on three replicas, and a seed for shuffling deltas.
let histories = zip(Gen.int(in: 0...2), Gen.int(in: 0...63), Gen.int(in: 0...999), Gen.int(in: 0...999))
    .map { HistoryStep(replica: $0, action: $1, first: $2, second: $3) }
    .array(of: 1...60)

/// What a history produced: each replica's final state and every delta a mutator returned.
struct ReplayedHistory<State: DeltaCRDT> {
    var states: [State]
    var deltas: [State]
}

/// Plays `steps` on three replicas starting empty; `edit` applies one editing step and returns its delta
/// (`nil` when the step does not apply, as an edge to a missing vertex).
func replay<State: DeltaCRDT>(
    _ steps: [HistoryStep], edit: (inout State, HistoryStep, ReplicaID) -> State?
) -> ReplayedHistory<State> {
    var states = [State(), State(), State()]
    var deltas: [State] = []
    for step in steps {
        if step.isSync {
            let source = (step.replica + 1 + step.first % 2) % 3
            states[step.replica].merge(states[source])
        } else if let delta = edit(&states[step.replica], step, HistoryStep.replicaIDs[step.replica]) {
            deltas.append(delta)
        }
    }
    return ReplayedHistory(states: states, deltas: deltas)
}

/// Checks the laws every delta-state CRDT must satisfy on the outcome of a random history:
/// merge is commutative, associative and idempotent; the deltas, shuffled and some repeated, join to the
/// same state as the replicas' full states; every replica converges whatever order it merges in; and the
/// joined state survives encoding.
func expectLattice<State: DeltaCRDT>(
    _ history: ReplayedHistory<State>, seed: UInt64, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let (a, b, c) = (history.states[0], history.states[1], history.states[2])
    #expect(a.merging(b) == b.merging(a), "commutative", sourceLocation: sourceLocation)
    #expect(a.merging(b).merging(c) == a.merging(b.merging(c)), "associative", sourceLocation: sourceLocation)
    #expect(a.merging(a) == a, "idempotent", sourceLocation: sourceLocation)

    let joined = a.merging(b).merging(c)
    #expect(joined.merging(b) == joined, "absorbs a part", sourceLocation: sourceLocation)
    #expect(b.merging(c).merging(a) == joined, "converges", sourceLocation: sourceLocation)
    #expect(c.merging(a).merging(b) == joined, "converges", sourceLocation: sourceLocation)

    var random = SplitMix64(seed: seed)
    var deliveries = history.deltas
    deliveries += history.deltas.filter { _ in Bool.random(using: &random) }
    deliveries.shuffle(using: &random)
    var fromDeltas = State()
    for delta in deliveries { fromDeltas.merge(delta) }
    #expect(fromDeltas == joined, "deltas in any order, with repeats", sourceLocation: sourceLocation)

    #expect(try roundTrip(joined) == joined, "encoding", sourceLocation: sourceLocation)
}
