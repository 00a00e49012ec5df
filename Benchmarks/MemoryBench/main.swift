// In-process benchmark of the memory engine (issue 3): gets/s, sets/s with async durability, and sets/s with
// sync durability under 64 concurrent writers. Release build only:
//   swift run -c release memory-bench [keys]      (default 100,000 keys)
import Foundation
import Logging
import NeuroplexCore
import NeuroplexMemory
import Synchronization

let keyCount = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
/// `memory-bench <keys> sets` stops after the async set phase, `memory-bench <keys> restart` runs only the restart
/// phase (for profiling them alone).
let phase = CommandLine.arguments.count > 2 ? CommandLine.arguments[2] : "all"
let setsOnly = phase == "sets"
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

// Restart with 1M keys: after a crash (a copy of the directory taken while the engine runs: the latest snapshot
// plus the log after it, as `kill -9` leaves them) and after a clean close (one snapshot).
func restartPhase() async throws -> (crash: Double, clean: Double, files: [String]) {
    let restartKeys = 1_000_000
    let restartDirectory = directory()
    let filled = try await Memory(configuration: .init(directory: restartDirectory, durability: .async), logger: logger)
    try await setAll(filled, (0..<restartKeys).map { "user:\($0)" }, value)
    try await filled.flush()
    let crashDirectory = directory()
    // A copy is an image of the files only if none changed while it was taken: a background snapshot may rename
    // its temporary file or retire an old log meanwhile (a real crash image is instantaneous). Retry until clean.
    for attempt in 1...10 {
        do {
            for name in try FileManager.default.contentsOfDirectory(atPath: restartDirectory) where name != "LOCK" {
                try FileManager.default.copyItem(atPath: restartDirectory + "/" + name, toPath: crashDirectory + "/" + name)
            }
            break
        } catch let error as CocoaError where error.code == .fileReadNoSuchFile && attempt < 10 {
            for name in try FileManager.default.contentsOfDirectory(atPath: crashDirectory) {
                try FileManager.default.removeItem(atPath: crashDirectory + "/" + name)
            }
        }
    }
    let crashFiles = try FileManager.default.contentsOfDirectory(atPath: crashDirectory).sorted()
    try await filled.close()
    func timedOpen(_ path: String) async throws -> Double {
        let start = ContinuousClock.now
        let reopened = try await Memory(configuration: .init(directory: path, durability: .async), logger: logger)
        let elapsed = ContinuousClock.now - start
        precondition(reopened.count == restartKeys, "a restart lost keys: \(reopened.count) of \(restartKeys)")
        try await reopened.close()
        return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    }
    let crashRestart = try await timedOpen(crashDirectory)
    let cleanRestart = try await timedOpen(restartDirectory)
    try? FileManager.default.removeItem(atPath: restartDirectory)
    try? FileManager.default.removeItem(atPath: crashDirectory)
    return (crashRestart, cleanRestart, crashFiles)
}
if phase == "restart" {
    let (crash, clean, files) = try await restartPhase()
    print(String(format: "restart with 1M keys: after a crash %.2f s, after a clean close %.2f s", crash, clean), files)
    exit(0)
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
// Two writers (one per core here) on disjoint halves of fresh keys: the engine's shards let writers of different
// keys run side by side, sharing only the short log lock.
let secondKeys = keys.map { "2:" + $0 }
start = ContinuousClock.now
try await withThrowingTaskGroup(of: Void.self) { group in
    let half = secondKeys.count / 2
    group.addTask { try await setAll(memory, Array(secondKeys[..<half]), value) }
    group.addTask { try await setAll(memory, Array(secondKeys[half...]), value) }
    try await group.waitForAll()
}
let parallelSets = rate(keyCount, start)
if setsOnly {
    print("set, async durability, 1 task: \(Int(sets)) /s")
    print("set, async durability, 2 tasks: \(Int(parallelSets)) /s")
    exit(0)
}
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

// Watch fan-out, in process: 1,000 watchers on one pattern while one writer makes 10,000 changes at ~10k/s; every
// watcher must get every change in order. Latency is from the start of the write to each watcher's receipt.
let fanout = try await Memory(configuration: .init(), logger: logger)
let watcherCount = 1000
let changeCount = 10_000
let origin = ContinuousClock.now
let sent = SentTimes(count: changeCount)
@concurrent func collect(_ stream: AsyncThrowingStream<ChangeEvent, any Error>, _ sent: SentTimes, _ origin: ContinuousClock.Instant) async throws -> [Double] {
    var latencies: [Double] = []
    latencies.reserveCapacity(changeCount)
    var expected: UInt64 = 1
    for try await event in stream {
        precondition(event.sequence == expected, "out of order or missing change")
        let received = ContinuousClock.now - origin
        latencies.append(Double(received.components.attoseconds) / 1e15 + Double(received.components.seconds) * 1000 - sent.milliseconds(Int(expected - 1)))
        if expected == UInt64(changeCount) { break }
        expected += 1
    }
    return latencies
}
@concurrent func write(_ memory: Memory, _ sent: SentTimes, _ origin: ContinuousClock.Instant) async throws {
    for index in 0..<changeCount {
        let now = ContinuousClock.now - origin
        sent.set(index, Double(now.components.attoseconds) / 1e15 + Double(now.components.seconds) * 1000)
        try await memory.set("watch:\(index % 100)", .int(Int64(index)))
        if index % 100 == 99 { try await Task.sleep(for: .milliseconds(10)) }  // ~10k changes/s
    }
}
let all = try await withThrowingTaskGroup(of: [Double].self) { group in
    for _ in 0..<watcherCount {
        let stream = fanout.watch(GlobPattern("watch:*"))
        group.addTask { try await collect(stream, sent, origin) }
    }
    group.addTask { try await write(fanout, sent, origin); return [] }
    var latencies: [Double] = []
    for try await part in group { latencies += part }
    return latencies.sorted()
}
try await fanout.close()
precondition(all.count == watcherCount * changeCount, "a watcher missed changes")

let (crashRestart, cleanRestart, crashFiles) = try await restartPhase()

func show(_ name: String, _ value: Double) {
    print(name.padding(toLength: 46, withPad: " ", startingAt: 0) + String(format: "%12.0f /s", value))
}
print("keys: \(keyCount), value: \(String(decoding: value.bytes, as: UTF8.self))")
show("set, async durability, 1 task", sets)
show("set, async durability, 2 tasks", parallelSets)
show("get, 1 task", gets)
show("get, 2 tasks", parallelGets)
show("set, sync durability, 64 concurrent writers", syncSets)
print(String(format: "watch fan-out: %d watchers x %d changes, all delivered in order; latency p50 %.2f ms, p99 %.2f ms, max %.2f ms",
    watcherCount, changeCount, all[all.count / 2], all[all.count * 99 / 100], all[all.count - 1]))
print(String(format: "restart with %d keys: after a crash %.2f s, after a clean close %.2f s", 1_000_000, crashRestart,
    cleanRestart) + " (crash image: \(crashFiles.joined(separator: ", ")))")

/// When each change's write returned, in ms since the origin (written by the writer, read by the watchers).
final class SentTimes: Sendable {
    private let times: Mutex<[Double]>
    init(count: Int) { times = Mutex(Array(repeating: 0, count: count)) }
    func set(_ index: Int, _ value: Double) { times.withLock { $0[index] = value } }
    func milliseconds(_ index: Int) -> Double { times.withLock { $0[index] } }
}
