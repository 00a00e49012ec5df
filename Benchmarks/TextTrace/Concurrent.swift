// A concurrent trace ("kind": "concurrent") replayed as one TextCRDT replica per agent that exchange deltas.
//
// Each transaction names its agent and its parents (earlier transactions it was made on top of); its patch
// positions are against the document as that agent saw it, the merge of its parents. The format requires one
// agent's transactions to be totally ordered, so an agent's previous transaction is always an ancestor of its
// next one, and the set of transactions below any version is, per agent, a prefix of that agent's
// transactions: a version is a version vector. One replica per agent therefore suffices if it only ever
// merges what the next transaction's parents cover: before an agent's transaction, its replica merges the
// deltas of the other agents' transactions up to the parents' version vector (never more), then applies the
// patches as local edits; the deltas those edits return are what the others merge later. At the end every
// replica merges every other's full state, and each must equal `endContent`.
import Foundation
import NeuroplexCRDT
import NeuroplexCore

/// One transaction of a concurrent trace, with the merges its agent's replica needs before it.
struct ConcurrentStep {
    var agent: Int
    var patches: [Patch]
    /// (other agent, how many of its transactions must be merged): only those not merged already.
    var catchUp: [(agent: Int, through: Int)]
}

/// Plans a concurrent trace: checks the parents and finds, per transaction, what its agent must merge first.
func planConcurrent(_ transactions: [JSONValue], agents: Int) -> [ConcurrentStep] {
    var versions: [[Int]] = []  // per transaction: how many transactions of each agent are at or below it
    versions.reserveCapacity(transactions.count)
    var merged = Array(repeating: Array(repeating: 0, count: agents), count: agents)  // [replica][agent]
    var steps: [ConcurrentStep] = []
    steps.reserveCapacity(transactions.count)
    for (index, transaction) in transactions.enumerated() {
        guard case .int(let number)? = transaction["agent"], number >= 0, number < agents,
            case .array(let parentList)? = transaction["parents"]
        else { fail("transaction \(index): no agent in 0..<\(agents) or no parents") }
        let agent = Int(number)
        var version = Array(repeating: 0, count: agents)
        for parent in parentList {
            guard case .int(let parent) = parent, parent >= 0, parent < index else {
                fail("transaction \(index): a parent is not an earlier transaction")
            }
            for other in 0..<agents { version[other] = max(version[other], versions[Int(parent)][other]) }
        }
        // The agent's replica holds all its own earlier transactions; its view must be exactly the parents'.
        guard version[agent] == merged[agent][agent] else {
            fail("transaction \(index): agent \(agent)'s previous transaction is not among its ancestors; "
                + "this replay keeps one replica per agent and needs each agent's transactions in one line")
        }
        var catchUp: [(agent: Int, through: Int)] = []
        for other in 0..<agents where other != agent {
            guard version[other] >= merged[agent][other] else {
                fail("transaction \(index): agent \(agent) already merged more of agent \(other) than its parents")
            }
            if version[other] > merged[agent][other] {
                catchUp.append((other, version[other]))
                merged[agent][other] = version[other]
            }
        }
        merged[agent][agent] += 1
        version[agent] += 1
        versions.append(version)
        steps.append(ConcurrentStep(agent: agent, patches: patches(of: transaction), catchUp: catchUp))
    }
    return steps
}

/// Replays a concurrent trace and prints the report; returns the exit status.
///
/// Agent `i`'s replica id is `agent<i>`; with `reverseIDs`, `agent<n-1-i>`, which flips every tie between
/// concurrent insertions that FugueMax breaks by replica id (the result should not change: the trace format
/// promises no concurrent insertions at one place).
func replayConcurrent(_ trace: JSONValue, reverseIDs: Bool = false) -> Int32 {
    guard case .array(let transactions)? = trace["txns"], case .string(let end)? = trace["endContent"],
        case .int(let agentCount)? = trace["numAgents"], agentCount > 0
    else { fail("not a concurrent editing trace (txns, endContent, numAgents)") }
    let agents = Int(agentCount)
    let steps = planConcurrent(transactions, agents: agents)
    let patchCount = steps.reduce(0) { $0 + $1.patches.count }
    let mergeCount = steps.reduce(0) { $0 + $1.catchUp.count }
    let ids = (0..<agents).map { ReplicaID("agent\(reverseIDs ? agents - 1 - $0 : $0)") }

    let before = residentBytes()
    let clock = ContinuousClock()
    var replicas = Array(repeating: TextCRDT(), count: agents)
    // Per agent: the deltas its edits returned, and where each of its transactions' deltas start.
    var deltas = Array(repeating: [TextCRDT](), count: agents)
    var transactionStarts = Array(repeating: [0], count: agents)
    var merged = Array(repeating: Array(repeating: 0, count: agents), count: agents)  // [replica][agent]
    var released = Array(repeating: 0, count: agents)  // per agent: its deltas dropped, the first of `deltas`
    var deltasMerged = 0
    var finalMerge = Duration.zero
    var failure: (step: Int, error: any Error)?

    let elapsed = clock.measure {
        for (index, step) in steps.enumerated() {
            let agent = step.agent
            for (other, through) in step.catchUp {
                let range = transactionStarts[other][merged[agent][other]]..<transactionStarts[other][through]
                let first = released[other]
                for delta in deltas[other][(range.lowerBound - first)..<(range.upperBound - first)] {
                    replicas[agent].merge(delta)
                }
                deltasMerged += range.count
                merged[agent][other] = through
                // A delta every other replica has merged is not needed any more (a network would drop it).
                let everyone = (0..<agents).filter { $0 != other }.map { merged[$0][other] }.min() ?? 0
                let done = transactionStarts[other][everyone]
                if done > released[other] {
                    deltas[other].removeFirst(done - released[other])
                    released[other] = done
                }
            }
            do {
                for patch in step.patches {
                    if patch.deleted > 0 {
                        deltas[agent].append(
                            try replicas[agent].delete(at: patch.position, length: patch.deleted, by: ids[agent]))
                    }
                    if !patch.inserted.isEmpty {
                        deltas[agent].append(
                            try replicas[agent].insert(patch.inserted, at: patch.position, by: ids[agent]))
                    }
                }
            } catch {
                failure = (index, error)
                return
            }
            transactionStarts[agent].append(released[agent] + deltas[agent].count)
            merged[agent][agent] += 1
        }
        // Every replica merges every other's full state (for two: a merges b, then b merges a).
        finalMerge = clock.measure {
            for agent in 0..<agents {
                for other in 0..<agents where other != agent { replicas[agent].merge(replicas[other]) }
            }
        }
    }
    let after = residentBytes()
    if let failure {
        print("neuroplex TextCRDT: transaction \(failure.step) failed: \(failure.error)")
        return 1
    }

    // What the two documents alone hold: drop the deltas and hand freed memory back before measuring again.
    deltas = []
    releaseFreedMemory()
    let documentsOnly = residentBytes()

    var problems: [String] = []
    for agent in 0..<agents {
        if let difference = firstDifference(replicas[agent].text, end) {
            problems.append("agent \(agent)'s replica differs from endContent: \(difference)")
        }
        if agent > 0, replicas[agent] != replicas[0] {
            problems.append("agent \(agent)'s replica is not equal to agent 0's (ids, order or tombstones)")
        }
    }
    let megabytes = { (bytes: Int) in Double(bytes) / 1_048_576 }
    print(String(
        format: "neuroplex TextCRDT concurrent%@: %d agents, %d txns, %d patches, %d catch-up merges of %d deltas; "
            + "%.3f s total, final merge %.4f s; resident +%.1f MB over the replay (deltas in flight included), "
            + "+%.1f MB for the %d documents; result %@",
        reverseIDs ? " (replica ids reversed)" : "", agents, steps.count, patchCount, mergeCount, deltasMerged,
        seconds(elapsed), seconds(finalMerge), megabytes(after - before), megabytes(documentsOnly - before), agents,
        problems.isEmpty ? "OK, equals endContent" : "MISMATCH"))
    for problem in problems { print(problem) }
    return problems.isEmpty ? 0 : 1
}
