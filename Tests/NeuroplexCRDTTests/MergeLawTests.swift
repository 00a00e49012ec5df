import NeuroplexCRDT
import NeuroplexCore
import PropertyBased
import Testing

/// Property tests: random operation histories on three replicas, then the lattice laws.
@Suite("Merge laws", .timeLimit(.minutes(3)))
struct MergeLawTests {
    @Test("PNCounter")
    func counter() async {
        await propertyCheck(count: 200, input: histories, Gen.uint64()) { steps, seed in
            let history = replay(steps) { (state: inout PNCounter, step, replica) -> PNCounter? in
                switch step.action % 3 {
                case 0: state.increment(by: Int64(step.first % 20 - 5), at: replica)
                case 1: state.decrement(by: Int64(step.first % 7), at: replica)
                default: step.second % 5 == 0 ? state.reset(at: replica) : state.increment(at: replica)
                }
            }
            try expectLattice(history, seed: seed)
            let joined = history.states.reduce(PNCounter()) { $0.merging($1) }
            let changes = history.deltas.reduce(PNCounter()) { $0.merging($1) }
            #expect(joined.value == changes.value)
        }
    }

    @Test("ORSet")
    func set() async {
        await propertyCheck(count: 200, input: histories, Gen.uint64()) { steps, seed in
            let history = replay(steps) { (state: inout ORSet<Int>, step, replica) -> ORSet<Int>? in
                switch step.action % 7 {
                case 0...3: state.add(step.first % 6, at: replica)
                case 4, 5: state.remove(step.first % 6)
                default: state.clear()
                }
            }
            try expectLattice(history, seed: seed)
        }
    }

    @Test("ORMap")
    func map() async {
        await propertyCheck(count: 200, input: histories, Gen.uint64()) { steps, seed in
            let history = replay(steps) { (state: inout ORMap, step, replica) -> ORMap? in
                let key = "k\(step.first % 4)"
                switch step.action % 9 {
                case 0...4:
                    return state.set(
                        key: key, value: .int(Int64(step.second % 3)), timestamp: Int64(step.second % 5), at: replica)
                case 5: return state.resolve(key: key, value: "resolved", timestamp: 9, at: replica)
                case 6, 7: return state.remove(key: key)
                default: return state.clear()
                }
            }
            try expectLattice(history, seed: seed)
            let joined = history.states.reduce(ORMap()) { $0.merging($1) }
            for (key, writes) in joined.conflicts {
                #expect(Set(writes.map(\.value)).count > 1)
                #expect(joined.value(for: key) == writes.first?.value)
            }
        }
    }

    @Test("GraphCRDT")
    func graph() async {
        await propertyCheck(count: 200, input: histories, Gen.uint64()) { steps, seed in
            let history = replay(steps) { (state: inout GraphCRDT, step, replica) -> GraphCRDT? in
                let vertex = "v\(step.first % 4)"
                let other = "v\(step.second % 4)"
                switch step.action % 7 {
                case 0, 1, 2:
                    return state.addVertex(vertex, data: .int(Int64(step.second % 3)), timestamp: 1, at: replica)
                case 3: return state.removeVertex(vertex)
                case 4, 5:
                    return try? state.addEdge(
                        from: vertex, to: other, data: .int(Int64(step.first % 2)), timestamp: Int64(step.second % 3),
                        at: replica)
                default: return state.removeEdge(from: vertex, to: other)
                }
            }
            try expectLattice(history, seed: seed)
            let joined = history.states.reduce(GraphCRDT()) { $0.merging($1) }
            for edge in joined.edges {
                #expect(joined.vertex(edge.from) != nil && joined.vertex(edge.to) != nil)
            }
        }
    }

    @Test("TextCRDT")
    func text() async {
        await propertyCheck(count: 300, input: histories, Gen.uint64()) { steps, seed in
            let history = replay(steps) { (state: inout TextCRDT, step, replica) -> TextCRDT? in
                textEdit(&state, step, replica)
            }
            try expectLattice(history, seed: seed)
        }
    }
}

/// A random text edit: mostly short inserts (some of several scalars), sometimes a deletion.
enum TextEdit {
    case insert(String, at: Int)
    case delete(at: Int, length: Int)

    /// The edit `step` makes on a document of `length` scalars.
    init(_ step: HistoryStep, length: Int) {
        if step.action % 4 == 3, length > 0 {
            let position = step.first % length
            self = .delete(at: position, length: 1 + step.second % min(4, length - position))
        } else {
            let alphabet = Array("abcdefgh".unicodeScalars)
            let scalars = (0..<(1 + step.second % 3)).map { alphabet[(step.second / 3 + $0) % alphabet.count] }
            self = .insert(String(String.UnicodeScalarView(scalars)), at: step.first % (length + 1))
        }
    }

    /// Applies the edit; returns the delta.
    func apply(to document: inout TextCRDT, by replica: ReplicaID) throws -> TextCRDT {
        switch self {
        case .insert(let text, let position): try document.insert(text, at: position, by: replica)
        case .delete(let position, let length): try document.delete(at: position, length: length, by: replica)
        }
    }
}

func textEdit(_ state: inout TextCRDT, _ step: HistoryStep, _ replica: ReplicaID) -> TextCRDT? {
    try? TextEdit(step, length: state.length).apply(to: &state, by: replica)
}
