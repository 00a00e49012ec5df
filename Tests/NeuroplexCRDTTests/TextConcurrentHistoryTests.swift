import NeuroplexCRDT
import Testing

/// A small concurrent editing history in the format of the concurrent editing traces (josephg/editing-traces):
/// each transaction names its agent and its parents, and its patch positions are against the merge of its
/// parents. Replayed as `Benchmarks/TextTrace` replays `friendsforever-concurrent`: one replica per agent
/// which, before each of the agent's transactions, merges the other agent's deltas up to the parents.
@Suite("TextCRDT concurrent history", .timeLimit(.minutes(3)))
struct TextConcurrentHistoryTests {
    struct Transaction {
        var agent: Int
        var parents: [Int]
        /// `(position, deleted, inserted)`, applied in order.
        var patches: [(Int, Int, String)]
        /// The agent's text after the transaction.
        var view: String
    }

    /// Two agents. Agent 0 deletes the "." that agent 1 is typing after, and types where it was (2, 3): the
    /// two insertions touch the same visible place but not the same place in the list, since the deleted "."
    /// stays between them; transactions 4 and 7 are merges of two parents.
    static let history: [Transaction] = [
        Transaction(agent: 0, parents: [], patches: [(0, 0, "Hello world.")], view: "Hello world."),
        Transaction(agent: 1, parents: [0], patches: [(12, 0, " Bye.")], view: "Hello world. Bye."),
        Transaction(agent: 0, parents: [0], patches: [(11, 1, "")], view: "Hello world"),
        Transaction(agent: 0, parents: [2], patches: [(11, 0, "!"), (12, 0, "!")], view: "Hello world!!"),
        Transaction(agent: 1, parents: [1, 3], patches: [(0, 0, "Oh. ")], view: "Oh. Hello world!! Bye."),
        Transaction(agent: 0, parents: [3], patches: [(5, 0, ",")], view: "Hello, world!!"),
        Transaction(agent: 1, parents: [4], patches: [(18, 4, "Ciao.")], view: "Oh. Hello world!! Ciao."),
        Transaction(agent: 0, parents: [5, 6], patches: [(24, 0, "\n")], view: "Oh. Hello, world!! Ciao.\n"),
        Transaction(agent: 1, parents: [6], patches: [(0, 0, "<")], view: "<Oh. Hello world!! Ciao."),
    ]

    /// Replays `history` on one replica per agent, then merges every replica's full state into every other.
    static func replay(_ history: [Transaction], ids: [ReplicaID]) throws -> [TextCRDT] {
        let agents = ids.count
        var replicas = Array(repeating: TextCRDT(), count: agents)
        var versions: [[Int]] = []  // per transaction: how many transactions of each agent it covers
        var merged = Array(repeating: Array(repeating: 0, count: agents), count: agents)  // [replica][agent]
        var deltas = Array(repeating: [[TextCRDT]](), count: agents)  // [agent][its transaction] -> deltas
        for transaction in history {
            let agent = transaction.agent
            var version = Array(repeating: 0, count: agents)
            for parent in transaction.parents {
                version = zip(version, versions[parent]).map { max($0, $1) }
            }
            #expect(version[agent] == merged[agent][agent], "an agent's transactions form one line")
            for other in 0..<agents where other != agent {
                #expect(version[other] >= merged[agent][other], "a replica never holds more than the parents")
                for delta in deltas[other][merged[agent][other]..<version[other]].joined() {
                    replicas[agent].merge(delta)
                }
                merged[agent][other] = max(merged[agent][other], version[other])
            }
            var made: [TextCRDT] = []
            for (position, deleted, inserted) in transaction.patches {
                if deleted > 0 {
                    made.append(try replicas[agent].delete(at: position, length: deleted, by: ids[agent]))
                }
                if !inserted.isEmpty {
                    made.append(try replicas[agent].insert(inserted, at: position, by: ids[agent]))
                }
            }
            #expect(replicas[agent].text == transaction.view)
            deltas[agent].append(made)
            merged[agent][agent] += 1
            version[agent] += 1
            versions.append(version)
        }
        for agent in 0..<agents {
            for other in 0..<agents where other != agent { replicas[agent].merge(replicas[other]) }
        }
        return replicas
    }

    @Test("two agents with interleaved parents converge on the expected text, whichever replica id is lower",
        arguments: [["a", "b"], ["b", "a"]] as [[ReplicaID]])
    func converges(ids: [ReplicaID]) throws {
        let replicas = try Self.replay(Self.history, ids: ids)
        #expect(replicas[0].text == "<Oh. Hello, world!! Ciao.\n")
        #expect(replicas[1] == replicas[0])
    }
}
