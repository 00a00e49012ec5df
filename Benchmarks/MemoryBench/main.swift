// In-process benchmark of the memory engine (issue 3): gets/s, sets/s with async durability, and sets/s with
// sync durability under 64 concurrent writers. Release build only:
//   swift run -c release memory-bench [keys]      (default 100,000 keys)
import Foundation
import Logging
import NeuroplexCore
import NeuroplexMemory

let keyCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
let keys = (0..<keyCount).map { "user:\($0)" }
let value: JSONValue = ["name": "Alice", "age": 30, "tags": ["a", "b"]]

func rate(_ operations: Int, _ start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(operations) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
}

func directory() -> String {
    let path = NSTemporaryDirectory() + "memory-bench-\(UUID().uuidString)"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

// Async durability: sets from one task, then gets from one task and from two.
let asyncDirectory = directory()
let memory = try await Memory(configuration: .init(directory: asyncDirectory, durability: .async), logger: logger)
/// The loops run off the main actor (top-level code is main-actor isolated), so awaiting the engine does not hop
/// threads on every call.
@concurrent func setAll(_ memory: Memory, _ keys: [String], _ value: JSONValue) async throws {
    for key in keys { try await memory.set(key, value) }
}
var start = ContinuousClock.now
try await setAll(memory, keys, value)
let sets = rate(keyCount, start)
let rounds = max(1, 2_000_000 / keyCount)
start = ContinuousClock.now
var found = 0
for _ in 0..<rounds { for key in keys where memory.get(key) != nil { found += 1 } }
let gets = rate(rounds * keyCount, start)
start = ContinuousClock.now
let parallelFound = await withTaskGroup(of: Int.self) { group in
    for _ in 0..<2 {
        group.addTask {
            var hits = 0
            for _ in 0..<rounds { for key in keys where memory.get(key) != nil { hits += 1 } }
            return hits
        }
    }
    var total = 0
    for await hits in group { total += hits }
    return total
}
let parallelGets = rate(2 * rounds * keyCount, start)
try await memory.close()
try? FileManager.default.removeItem(atPath: asyncDirectory)
precondition(found == rounds * keyCount && parallelFound == 2 * rounds * keyCount)

// Sync durability: 64 concurrent writers, every set acknowledged after fdatasync (group commit).
let syncDirectory = directory()
let durable = try await Memory(configuration: .init(directory: syncDirectory, durability: .sync), logger: logger)
let perWriter = max(1, min(keyCount, 200_000) / 64)
start = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    for writer in 0..<64 {
        group.addTask {
            for index in 0..<perWriter { try await durable.set("w\(writer):\(index)", value) }
        }
    }
    try await group.waitForAll()
}
let syncSets = rate(64 * perWriter, start)
try await durable.close()
try? FileManager.default.removeItem(atPath: syncDirectory)

func show(_ name: String, _ value: Double) {
    print(name.padding(toLength: 46, withPad: " ", startingAt: 0) + String(format: "%12.0f /s", value))
}
print("keys: \(keyCount), value: \(String(decoding: value.bytes, as: UTF8.self))")
show("set, async durability, 1 task", sets)
show("get, 1 task", gets)
show("get, 2 tasks", parallelGets)
show("set, sync durability, 64 concurrent writers", syncSets)
