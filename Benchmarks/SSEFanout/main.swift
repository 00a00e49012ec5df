// Watch fan-out over SSE (issue 3), measured from a client that can keep up: WATCHERS connections watch
// `fan:*` over `GET /memory/watch` while a Redis-protocol writer sets `fan:<n>` RATE times a second for SECONDS.
// Each SET's value is the writer's send time (µs on this process's monotonic clock), so a watcher's delivery
// latency is its receipt time minus the value. Every watcher must receive every change exactly once, in order:
// the changes are the only writes, so their sequence numbers (the SSE `id:`) must be consecutive.
//
//   sse-fanout-bench <http port> <resp port> <api key> <watchers> <rate> <seconds>
//
// One event loop thread runs all the watchers and the writer (pin it beside the server with taskset).
import Foundation
import NIOCore
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count == 7, let httpPort = Int(arguments[1]), let respPort = Int(arguments[2]),
    let watcherCount = Int(arguments[4]), let rate = Int(arguments[5]), let seconds = Double(arguments[6])
else {
    print("usage: sse-fanout-bench <http port> <resp port> <api key> <watchers> <rate> <seconds>")
    exit(2)
}
let apiKey = arguments[3]

/// Microseconds on the monotonic clock.
func now() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1000
}

/// What one watcher saw. Touched only on the event loop.
final class WatcherStats: @unchecked Sendable {
    var events = 0
    var outOfOrder = 0
    var ended = false
    var latencies: [Int64] = []
}

/// Reads one watch stream: undoes HTTP/1.1 chunked framing, splits SSE lines with `memchr`, checks each `id:`
/// follows the one before, and takes the latency of one frame in 16 from its `"value":"<µs>"` (parsing every
/// frame's JSON would make this client, not the server, the bottleneck).
final class WatchHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    let stats: WatcherStats
    let connected: EventLoopPromise<Void>
    /// Swapped into a local for each read: the parser's fields, read for every frame, are then a local struct's,
    /// without the run-time exclusivity checks a class's stored properties get (they were a third of this
    /// client's parsing time, and the client was the benchmark's bottleneck).
    private var parser = StreamParser()

    init(stats: WatcherStats, connected: EventLoopPromise<Void>) {
        self.stats = stats
        self.connected = connected
    }

    func channelActive(context: ChannelHandlerContext) {
        let request = "GET /memory/watch?pattern=fan:* HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(apiKey)\r\nAccept: text/event-stream\r\n\r\n"
        context.writeAndFlush(NIOAny(ByteBuffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let received = now()
        var parser = StreamParser()
        swap(&parser, &self.parser)
        let wasConnected = parser.headerDone
        parser.read(buffer, received)
        if !wasConnected && parser.headerDone { connected.succeed(()) }
        stats.events = parser.events
        stats.outOfOrder = parser.outOfOrder
        stats.ended = parser.ended
        if !parser.latencies.isEmpty {
            stats.latencies.append(contentsOf: parser.latencies)
            parser.latencies.removeAll(keepingCapacity: true)
        }
        swap(&parser, &self.parser)
    }
}

/// One watch stream's bytes to frames: the response head, HTTP/1.1 chunks, SSE lines.
struct StreamParser {
    var headerDone = false
    /// Raw bytes held over between reads: an incomplete response head or chunk-size line.
    private var raw: [UInt8] = []
    /// Bytes left in the current chunk; 0 between chunks.
    private var chunkLeft = 0
    /// The CRLF that follows a chunk's data, still to skip.
    private var skipCRLF = 0
    /// A line of the event stream cut by a read or chunk boundary.
    private var line: [UInt8] = []
    private var sampled = 0
    private var lastSequence: UInt64 = 0
    private(set) var events = 0
    private(set) var outOfOrder = 0
    private(set) var ended = false
    /// Latencies (µs) taken since the handler last moved them out.
    var latencies: [Int64] = []

    mutating func read(_ buffer: ByteBuffer, _ received: Int64) {
        if raw.isEmpty {
            buffer.withUnsafeReadableBytes { consume($0, received) }
        } else {
            raw.append(contentsOf: buffer.readableBytesView)
            let bytes = raw
            raw.removeAll(keepingCapacity: true)
            bytes.withUnsafeBytes { consume($0, received) }
        }
    }

    private mutating func consume(_ bytes: UnsafeRawBufferPointer, _ received: Int64) {
        var index = 0
        if !headerDone {
            guard let end = find(Array(bytes), [13, 10, 13, 10], from: 0) else {
                raw.append(contentsOf: bytes)
                return
            }
            headerDone = true
            index = end + 4
        }
        while index < bytes.count {
            if skipCRLF > 0 {
                let skip = min(skipCRLF, bytes.count - index)
                index += skip
                skipCRLF -= skip
                continue
            }
            if chunkLeft == 0 {
                guard let newline = memchr(bytes.baseAddress! + index, 10, bytes.count - index) else {
                    raw.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index...]))
                    return
                }
                let lineEnd = bytes.baseAddress!.distance(to: UnsafeRawPointer(newline))
                var size = 0
                for offset in index..<lineEnd {
                    guard let digit = hexDigit(bytes[offset]) else { break }
                    size = size * 16 + digit
                }
                index = lineEnd + 1
                if size == 0 {
                    ended = true
                    return
                }
                chunkLeft = size
                continue
            }
            let take = min(chunkLeft, bytes.count - index)
            lines(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]), received)
            index += take
            chunkLeft -= take
            if chunkLeft == 0 { skipCRLF = 2 }
        }
    }

    /// Event-stream bytes: handled line by line. Blank lines and whole `id:` lines are read in place; only the
    /// long `data:` lines are searched for their end with `memchr` (a call per short line cost this client, not
    /// the server, the benchmark's time).
    private mutating func lines(_ bytes: UnsafeRawBufferPointer, _ received: Int64) {
        let base = bytes.baseAddress!
        let count = bytes.count
        var index = 0
        while index < count {
            if line.isEmpty {
                let first = bytes[index]
                if first == 10 {  // the blank line that ends a frame
                    index += 1
                    continue
                }
                if first == UInt8(ascii: "i") {  // id: N, read here when the whole line is in this chunk
                    var end = index + 4
                    var sequence: UInt64 = 0
                    while end < count, bytes[end] >= 48, bytes[end] <= 57 {
                        sequence = sequence &* 10 &+ UInt64(bytes[end] &- 48)
                        end += 1
                    }
                    if end < count, bytes[end] == 10 {
                        counted(sequence)
                        index = end + 1
                        continue
                    }
                }
            }
            guard let newline = memchr(base + index, 10, count - index) else {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index...]))
                return
            }
            let end = base.distance(to: UnsafeRawPointer(newline))
            if line.isEmpty {
                handleLine(UnsafeRawBufferPointer(rebasing: bytes[index..<end]), received)
            } else {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                var whole: [UInt8] = []
                swap(&whole, &line)
                whole.withUnsafeBytes { handleLine($0, received) }
                whole.removeAll(keepingCapacity: true)
                swap(&whole, &line)
            }
            index = end + 1
        }
    }

    /// A frame's id: it must follow the one before.
    private mutating func counted(_ sequence: UInt64) {
        if lastSequence != 0 && sequence != lastSequence &+ 1 { outOfOrder += 1 }
        lastSequence = sequence
        events += 1
    }

    private mutating func handleLine(_ text: UnsafeRawBufferPointer, _ received: Int64) {
        guard let first = text.first else { return }
        if first == UInt8(ascii: "d") {  // data: {...}
            sampled &+= 1
            guard sampled & 15 == 1, let value = find(text, valueField) else { return }
            var sent: Int64 = 0
            for byte in text[(value + 9)...] {
                guard byte >= 48, byte <= 57 else { break }
                sent = sent * 10 + Int64(byte - 48)
            }
            latencies.append(received - sent)
        } else if first == UInt8(ascii: "i"), text.count > 4 {  // id: N (cut by a read or chunk boundary)
            var sequence: UInt64 = 0
            for byte in text[4...] {
                guard byte >= 48, byte <= 57 else { break }
                sequence = sequence * 10 + UInt64(byte - 48)
            }
            counted(sequence)
        } else if first == UInt8(ascii: "e") {  // event: error (lagged)
            ended = true
        }
    }
}

let valueField = Array(#""value":""#.utf8)

func hexDigit(_ byte: UInt8) -> Int? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
    case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(byte - UInt8(ascii: "a") + 10)
    case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(byte - UInt8(ascii: "A") + 10)
    default: nil
    }
}

/// Where `needle` first starts in `bytes` (a sampled line: no copy into an array).
func find(_ bytes: UnsafeRawBufferPointer, _ needle: [UInt8]) -> Int? {
    guard needle.count <= bytes.count else { return nil }
    for index in 0...(bytes.count - needle.count) where bytes[index] == needle[0] {
        var matched = true
        for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
            matched = false
            break
        }
        if matched { return index }
    }
    return nil
}

func find(_ bytes: [UInt8], _ needle: [UInt8], from start: Int) -> Int? {
    guard needle.count <= bytes.count else { return nil }
    var index = start
    let last = bytes.count - needle.count
    while index <= last {
        if bytes[index] == needle[0] {
            var matched = true
            for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
                matched = false
                break
            }
            if matched { return index }
        }
        index += 1
    }
    return nil
}

/// Discards the writer's replies (+OK each).
final class Sink: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
}

/// Every watcher's figures; read and written on the event loop only.
final class Watchers: @unchecked Sendable {
    var all: [WatcherStats] = []
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let watchers = Watchers()
var connections: [any Channel] = []
var ready: [EventLoopFuture<Void>] = []
for _ in 0..<watcherCount {
    let stats = WatcherStats()
    let connected = loop.makePromise(of: Void.self)
    let channel = try await ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(WatchHandler(stats: stats, connected: connected))
            }
        }
        .connect(host: "127.0.0.1", port: httpPort).get()
    try await loop.submit { watchers.all.append(stats) }.get()
    connections.append(channel)
    ready.append(connected.futureResult)
}
try await EventLoopFuture.andAllSucceed(ready, on: loop).get()

// The writer: RESP SETs, paced in 1 ms ticks.
let writer = try await ClientBootstrap(group: loop)
    .channelOption(.socketOption(.tcp_nodelay), value: 1)
    .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Sink()) }
    }
    .connect(host: "127.0.0.1", port: respPort).get()
try await writer.writeAndFlush(ByteBuffer(string: "*2\r\n$4\r\nAUTH\r\n$\(apiKey.utf8.count)\r\n\(apiKey)\r\n")).get()
let total = Int(Double(rate) * seconds)
/// This process's CPU time (user + system), µs.
func cpuTime() -> Int64 {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Int64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
        + Int64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
}
let cpuAtStart = cpuTime()
let start = now()
/// The writer's progress, touched on the event loop only: the writes are paced by a timer on the loop that runs
/// the watchers, so the client makes no thread switch for them (a task sleeping between batches did, and its
/// wake-ups were 7% of this client's core).
final class Pacer: @unchecked Sendable {
    var sent = 0
}
let pacer = Pacer()
let written = loop.makePromise(of: Void.self)
loop.scheduleRepeatedTask(initialDelay: .zero, delay: .microseconds(500)) { task in
    let due = min(total, Int(Double(now() - start) * Double(rate) / 1_000_000) + 1)
    if due > pacer.sent {
        var batch = ByteBuffer()
        let stamp = String(now())
        for index in pacer.sent..<due {
            let key = "fan:\(index % 1000)"
            batch.writeString("*3\r\n$3\r\nSET\r\n$\(key.utf8.count)\r\n\(key)\r\n$\(stamp.utf8.count)\r\n\(stamp)\r\n")
        }
        writer.writeAndFlush(batch, promise: nil)
        pacer.sent = due
    }
    if pacer.sent >= total {
        task.cancel()
        written.succeed(())
    }
}
try await written.futureResult.get()
let writeSeconds = Double(now() - start) / 1e6
// The client's share of its core while the writes went on: at 100% it, not the server, sets the latency.
let clientCPU = Double(cpuTime() - cpuAtStart) / Double(now() - start) * 100
// Wait until every watcher has every change, or 5 s of silence.
var lastProgress = now()
var lastTotal = -1
while true {
    let (received, complete) = try await loop.submit { () -> (Int, Int) in
        (watchers.all.reduce(0) { $0 + $1.events }, watchers.all.filter { $0.events >= total || $0.ended }.count)
    }.get()
    if complete == watcherCount { break }
    if received != lastTotal {
        lastTotal = received
        lastProgress = now()
    } else if now() - lastProgress > 5_000_000 {
        break
    }
    try await Task.sleep(for: .milliseconds(20))
}
let summary = try await loop.submit { () -> String in
    let complete = watchers.all.filter { $0.events == total && $0.outOfOrder == 0 }.count
    let lagged = watchers.all.filter { $0.ended }.count
    let events = watchers.all.reduce(0) { $0 + $1.events }
    var latencies = watchers.all.flatMap(\.latencies)
    latencies.sort()
    func ms(_ q: Double) -> Double {
        latencies.isEmpty ? .nan : Double(latencies[min(latencies.count - 1, Int(Double(latencies.count) * q))]) / 1000
    }
    return String(
        format: "%d watchers x %d writes/s for %.1f s (writes took %.2f s): %d of %d watchers got all %d changes in order; %d ended (lagged); %d events delivered; latency p50 %.1f ms, p99 %.1f ms, max %.1f ms; client CPU %.0f%%",
        watcherCount, rate, seconds, writeSeconds, complete, watcherCount, total, lagged, events, ms(0.5), ms(0.99),
        latencies.isEmpty ? .nan : Double(latencies.last!) / 1000, clientCPU)
}.get()
print(summary)
for channel in connections { channel.close(promise: nil) }
writer.close(promise: nil)
try await group.shutdownGracefully()
