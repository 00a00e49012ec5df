// Replays a text-editing trace (josephg/editing-traces format, decompressed JSON) through TextCRDT and reports
// the time and the document's memory; bench/text-trace.sh runs it beside pycrdt (the Rust y-crdt engine).
//   text-trace [--reverse-ids] TRACE.json
// A sequential trace is replayed on one replica. A concurrent trace ("kind": "concurrent", each transaction
// naming its agent and parents) is replayed on one replica per agent, merged as it goes and at the end
// (Concurrent.swift); --reverse-ids names the agents' replicas in the opposite order.
import Foundation
import NeuroplexCRDT
import NeuroplexCore

let arguments = CommandLine.arguments.dropFirst()
let reverseIDs = arguments.contains("--reverse-ids")
guard let path = arguments.last(where: { !$0.hasPrefix("--") }), let data = FileManager.default.contents(atPath: path)
else {
    fail("usage: text-trace [--reverse-ids] TRACE.json (decompressed; --reverse-ids: concurrent traces only)")
}
let trace = try JSONValue.parse(Array(data))
if case .string("concurrent")? = trace["kind"] {
    exit(replayConcurrent(trace, reverseIDs: reverseIDs))
}
guard case .array(let transactions)? = trace["txns"], case .string(let start)? = trace["startContent"],
    case .string(let end)? = trace["endContent"]
else {
    fail("not an editing trace")
}
// Flatten the patches first, so that only the CRDT is timed.
let allPatches = transactions.flatMap { patches(of: $0) }
let replica = ReplicaID("trace")
let before = residentBytes()
let clock = ContinuousClock()
var document = TextCRDT()
let elapsed = try clock.measure {
    if !start.isEmpty { try document.insert(start, at: 0, by: replica) }
    for patch in allPatches {
        if patch.deleted > 0 { try document.delete(at: patch.position, length: patch.deleted, by: replica) }
        if !patch.inserted.isEmpty { try document.insert(patch.inserted, at: patch.position, by: replica) }
    }
}
let after = residentBytes()
let difference = firstDifference(document.text, end)
print(String(format: "neuroplex TextCRDT: %d patches in %.3f s, document +%.1f MB resident, result %@",
    allPatches.count, seconds(elapsed), Double(after - before) / 1_048_576,
    difference == nil ? "equals endContent" : "DIFFERS"))
if let difference { print(difference) }
exit(difference == nil ? 0 : 1)
