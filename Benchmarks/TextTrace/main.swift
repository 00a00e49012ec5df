// Replays a text-editing trace (josephg/editing-traces format, decompressed JSON) through TextCRDT and reports
// the time and the document's memory; bench/text-trace.sh runs it beside pycrdt (the Rust y-crdt engine).
//   text-trace TRACE.json
import Foundation
import NeuroplexCRDT
import NeuroplexCore

func residentBytes() -> Int {
    guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = statm.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

guard CommandLine.arguments.count > 1, let data = FileManager.default.contents(atPath: CommandLine.arguments[1]) else {
    FileHandle.standardError.write(Data("usage: text-trace TRACE.json (decompressed)\n".utf8))
    exit(2)
}
let trace = try JSONValue.parse(Array(data))
guard case .array(let transactions)? = trace["txns"], case .string(let start)? = trace["startContent"],
    case .string(let end)? = trace["endContent"]
else {
    FileHandle.standardError.write(Data("not an editing trace\n".utf8))
    exit(2)
}
// Flatten the patches first, so that only the CRDT is timed.
var patches: [(position: Int, deleted: Int, inserted: String)] = []
for transaction in transactions {
    guard case .array(let list)? = transaction["patches"] else { continue }
    for patch in list {
        guard case .array(let parts) = patch, parts.count == 3, case .int(let position) = parts[0],
            case .int(let deleted) = parts[1], case .string(let inserted) = parts[2]
        else { continue }
        patches.append((Int(position), Int(deleted), inserted))
    }
}
let replica = ReplicaID("trace")
let before = residentBytes()
let clock = ContinuousClock()
var document = TextCRDT()
let elapsed = try clock.measure {
    if !start.isEmpty { try document.insert(start, at: 0, by: replica) }
    for patch in patches {
        if patch.deleted > 0 { try document.delete(at: patch.position, length: patch.deleted, by: replica) }
        if !patch.inserted.isEmpty { try document.insert(patch.inserted, at: patch.position, by: replica) }
    }
}
let after = residentBytes()
let matches = document.text == end
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print(String(format: "neuroplex TextCRDT: %d patches in %.3f s, document +%.1f MB resident, result %@",
    patches.count, seconds, Double(after - before) / 1_048_576, matches ? "equals endContent" : "DIFFERS"))
exit(matches ? 0 : 1)
