import Foundation
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NeuroplexCore
import NeuroplexMemory
import Synchronization

/// Live SSE watches (`GET /memory/watch` without `since`) share one feed per pattern: the feed is the engine's
/// only watcher of that pattern and encodes each change into its SSE frame once; every client of the pattern
/// sends the bytes it has not sent yet from the feed's sealed chunks, many frames per write, without a copy.
///
/// So a change costs the engine one delivery and one encoding per watched pattern, whatever the number of
/// clients; a client costs a write per batch. A client more than `behindLimit` bytes behind the feed
/// ends with one `watcher_lagged` error frame (it resumes with `since`, which streams on its own).
final class WatchHub: Sendable {
    private let memory: Memory
    /// Change frames, encoded once for every watcher of this engine.
    let frames: ChangeFrameCache
    private let behindLimit: Int
    private let feeds = Mutex<[String: Feed]>([:])

    init(memory: Memory, frames: ChangeFrameCache, behindLimit: Int) {
        self.memory = memory
        self.frames = frames
        self.behindLimit = behindLimit
    }

    /// A client's stream of SSE bytes for `pattern`, from now on.
    func join(_ pattern: String) -> FeedReader {
        let feed = feed(pattern)
        return FeedReader(feed: feed, cursor: feed.end, leave: { [weak self] in self?.leave(pattern, feed) })
    }

    /// A stream of `pattern` from now on, written to the connection of `context` on its event loop (see
    /// ``LoopWatchStream``); it starts with the next wake-up of the feed.
    func stream(_ pattern: String, to context: ChannelHandlerContext) -> LoopWatchStream {
        let feed = feed(pattern)
        let loop = context.eventLoop
        let (feedLoop, cursor) = feed.attach(loop) { FeedLoop(loop: loop) }
        let stream = LoopWatchStream(
            feed: feed, feedLoop: feedLoop, cursor: cursor, context: context,
            leave: { [weak self] in self?.leave(pattern, feed) })
        feedLoop.add(stream)
        return stream
    }

    /// The feed of `pattern` (made for the first reader), counting one more reader.
    private func feed(_ pattern: String) -> Feed {
        feeds.withLock { feeds in
            let feed = feeds[pattern] ?? Feed(memory: memory, pattern: pattern, frames: frames, behindLimit: behindLimit)
            feeds[pattern] = feed
            feed.readers += 1
            return feed
        }
    }

    /// How many patterns have a feed (for tests and stats).
    var feedCount: Int { feeds.withLock { $0.count } }

    private func leave(_ pattern: String, _ feed: Feed) {
        let last = feeds.withLock { feeds -> Bool in
            feed.readers -= 1
            guard feed.readers == 0, feeds[pattern] === feed else { return false }
            feeds[pattern] = nil
            return true
        }
        if last { feed.stop() }
    }
}

/// One pattern's encoded change stream: a window of SSE bytes that clients read at their own pace.
///
/// Frames are appended to an open buffer; a wake-up (or a reader that finds nothing else to read) seals it into an
/// immutable chunk. Readers get slices of sealed chunks, which share the chunk's storage: a thousand clients send
/// the same bytes without a copy each.
final class Feed: @unchecked Sendable {
    /// How far behind (in bytes) a client may fall before it is ended with `watcher_lagged`.
    let behindLimit: Int
    /// The size at which open frames are sealed whether a reader is woken or not.
    private let chunkLimit: Int

    /// A sealed chunk, stored framed as a chunk of an HTTP/1.1 chunked body (`<size in hex>\r\n<frames>\r\n`), so
    /// that a stream on an event loop writes it as it is, below the HTTP encoder.
    struct Chunk {
        var framed: ByteBuffer
        var headerLength: Int
        /// The SSE bytes (without the framing).
        var count: Int

        /// The SSE bytes from `offset` on (a slice: no copy).
        func frames(from offset: Int = 0) -> ByteBuffer {
            framed.getSlice(at: framed.readerIndex + headerLength + offset, length: count - offset)!
        }
    }

    private struct State {
        /// Sealed chunks, oldest first: the SSE bytes from `sealedStart` to `sealedStart + sealedBytes`.
        var sealed = CircularBuffer<Chunk>()
        var sealedStart = 0
        var sealedBytes = 0
        /// Frames not sealed yet; they follow the sealed chunks.
        var open = ByteBuffer()
        /// The frame every reader gets after the last byte when the feed has ended (`nil` while it runs).
        var closing: [UInt8]?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
        /// Event loops with streams of this feed, each woken once per wake-up.
        var loops: [FeedLoop] = []
        /// When readers were last woken, and whether a wake-up is already scheduled.
        var lastWake: ContinuousClock.Instant?
        var wakeScheduled = false

        var sealedEnd: Int { sealedStart + sealedBytes }
        var end: Int { sealedEnd + open.readableBytes }

        /// Makes the open frames readable as one chunk and forgets chunks far behind every reader.
        mutating func seal(behindLimit: Int) {
            guard open.readableBytes > 0 else { return }
            let size = open.readableBytes
            let header = String(size, radix: 16) + "\r\n"
            var framed = ByteBufferAllocator().buffer(capacity: header.utf8.count + size + 2)
            framed.writeString(header)
            framed.writeBuffer(&open)
            framed.writeStaticString("\r\n")
            sealed.append(Chunk(framed: framed, headerLength: header.utf8.count, count: size))
            sealedBytes += size
            open.clear()
            // Keep a window of about twice the limit, dropping the oldest chunks down to the limit.
            guard sealedBytes > 2 * behindLimit else { return }
            while sealed.count > 1, sealedBytes > behindLimit {
                let dropped = sealed.removeFirst().count
                sealedStart += dropped
                sealedBytes -= dropped
            }
        }
    }

    private let state = Mutex(State())
    /// Readers of the feed; changed only under the hub's lock.
    var readers = 0
    private let pump = Mutex<Task<Void, Never>?>(nil)

    init(memory: Memory, pattern: String, frames: ChangeFrameCache, behindLimit: Int) {
        self.behindLimit = behindLimit
        self.chunkLimit = min(64 * 1024, max(1024, behindLimit / 4))
        // Registered with the engine before the first reader gets its position: no change after it is missed.
        let changes = memory.watch(GlobPattern(pattern))
        let task = Task { [weak self] in
            do {
                for try await event in changes {
                    guard let self else { return }
                    append(try frames.frame(for: event))
                }
                self?.close(with: [])
            } catch {
                let problem = error as? NeuroplexError ?? NeuroplexError(.internal, code: .internal, "\(error)")
                self?.close(with: sseErrorFrame(problem))
            }
        }
        pump.withLock { $0 = task }
    }

    /// The position just after the last byte.
    var end: Int { state.withLock { $0.end } }

    /// The `watcher_lagged` frame that ends a stream fallen more than ``behindLimit`` bytes behind.
    var laggedFrame: [UInt8] {
        sseErrorFrame(NeuroplexError(
            .conflict, code: .watcherLagged,
            "this stream fell more than \(behindLimit) bytes behind; resume with since= the last id received"))
    }

    func stop() {
        pump.withLock { $0?.cancel() }
        close(with: [])
    }

    /// Adds a frame. Waiting readers are woken at once when the feed has been quiet for ``sseGatherInterval``,
    /// else together at the end of that interval: one timer for the feed, however many readers, and each reader
    /// then sends all the frames of the interval in one write.
    private func append(_ frame: [UInt8]) {
        let (wake, wakeAt) = state.withLock { state -> (WakeUp?, ContinuousClock.Instant?) in
            state.open.writeBytes(frame)
            // Sealed (and so the window trimmed) at a bounded size even when no reader asks: a stalled reader
            // must find itself lagged, not hold up the window.
            if state.open.readableBytes >= chunkLimit { state.seal(behindLimit: behindLimit) }
            guard !state.waiters.isEmpty || !state.loops.isEmpty, !state.wakeScheduled else { return (nil, nil) }
            let now = ContinuousClock.now
            if let last = state.lastWake, now - last < sseGatherInterval {
                state.wakeScheduled = true
                return (nil, last + sseGatherInterval)
            }
            state.lastWake = now
            return (takeWakeUp(&state), nil)
        }
        wake?.run()
        if let wakeAt {
            Task {
                try? await Task.sleep(until: wakeAt, clock: .continuous)
                self.wakeReaders()
            }
        }
    }

    /// Wakes every waiting reader (for a reader that is being stopped).
    func wakeAll() { wakeReaders() }

    private func wakeReaders() {
        let wake = state.withLock { state in
            state.wakeScheduled = false
            state.lastWake = .now
            return takeWakeUp(&state)
        }
        wake.run()
    }

    private func close(with frame: [UInt8]) {
        let wake = state.withLock { state -> WakeUp? in
            guard state.closing == nil else { return nil }
            state.closing = frame
            return takeWakeUp(&state)
        }
        wake?.run()
    }

    /// Who to wake: the waiting async readers and every event loop with streams; the open frames are sealed first.
    private struct WakeUp {
        var waiters: [CheckedContinuation<Void, Never>]
        var loops: [FeedLoop]

        func run() {
            for waiter in waiters { waiter.resume() }
            for loop in loops { loop.wake() }
        }
    }

    private func takeWakeUp(_ state: inout State) -> WakeUp {
        state.seal(behindLimit: behindLimit)
        var wake = WakeUp(waiters: [], loops: state.loops)
        if !state.waiters.isEmpty {
            wake.waiters = Array(state.waiters.values)
            state.waiters.removeAll(keepingCapacity: true)
        }
        return wake
    }

    enum Read {
        /// Slices of sealed chunks (sharing their storage), and the position after them.
        case bytes([ByteBuffer], next: Int)
        case lagged
        case closed([UInt8])
        case nothing
    }

    /// What a reader at `cursor` gets now: every sealed byte after it. With `sealing`, frames not sealed yet are
    /// sealed for it first (an async reader, which no wake-up will call); an event loop's streams get only what a
    /// wake-up sealed. With `framed`, the bytes come as chunks of an HTTP/1.1 chunked body.
    func read(from cursor: Int, sealing: Bool, framed: Bool = false) -> Read {
        state.withLock { state in
            if cursor < state.sealedStart { return .lagged }
            if sealing && cursor >= state.sealedEnd { state.seal(behindLimit: behindLimit) }
            if cursor < state.sealedStart { return .lagged }
            let sealedEnd = state.sealedEnd
            guard cursor < sealedEnd else {
                if let closing = state.closing, state.open.readableBytes == 0 { return .closed(closing) }
                return .nothing
            }
            // The chunk that holds `cursor`, looked for from the newest: a reader is most often one chunk behind.
            var index = state.sealed.count - 1
            var chunkStart = sealedEnd - state.sealed[offset: index].count
            while chunkStart > cursor {
                index -= 1
                chunkStart -= state.sealed[offset: index].count
            }
            var slices: [ByteBuffer] = []
            slices.reserveCapacity(state.sealed.count - index + 2)
            for offset in index..<state.sealed.count {
                let chunk = state.sealed[offset: offset]
                let skip = offset == index ? cursor - chunkStart : 0
                if !framed {
                    slices.append(chunk.frames(from: skip))
                } else if skip == 0 {
                    slices.append(chunk.framed)
                } else {
                    // A stream that starts inside a chunk: its own framing around the rest of it.
                    slices.append(ByteBuffer(string: String(chunk.count - skip, radix: 16) + "\r\n"))
                    slices.append(chunk.frames(from: skip))
                    slices.append(ByteBuffer(string: "\r\n"))
                }
            }
            return .bytes(slices, next: sealedEnd)
        }
    }

    /// Adds an event loop's set of streams (once per loop) and answers the position a new stream starts from.
    func attach(_ loop: any EventLoop, make: () -> FeedLoop) -> (FeedLoop, cursor: Int) {
        state.withLock { state in
            if let existing = state.loops.first(where: { $0.loop === loop }) { return (existing, state.end) }
            let added = make()
            state.loops.append(added)
            return (added, state.end)
        }
    }

    /// Removes an event loop's set of streams once it has none left.
    func detach(_ feedLoop: FeedLoop) {
        state.withLock { state in state.loops.removeAll { $0 === feedLoop } }
    }

    /// Waits until the feed grows past `cursor` or closes (or the task is cancelled).
    func wait(after cursor: Int) async {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil { return true }
                    if state.end > cursor || state.closing != nil { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let waiter = state.waiters.removeValue(forKey: id)
                if waiter == nil { state.cancelled.insert(id) }
                return waiter
            }
            waiter?.resume()
        }
    }
}

/// The live watch streams of one feed on one event loop: a wake-up of the feed is one task on the loop, which
/// writes to every stream there.
final class FeedLoop: @unchecked Sendable {
    let loop: any EventLoop
    /// Touched only on `loop`.
    private var streams: [ObjectIdentifier: LoopWatchStream] = [:]

    init(loop: any EventLoop) { self.loop = loop }

    func wake() { loop.execute { self.deliver() } }

    private func deliver() {
        for stream in Array(streams.values) { stream.deliver() }
    }

    /// On `loop`.
    func add(_ stream: LoopWatchStream) { streams[ObjectIdentifier(stream)] = stream }

    /// On `loop`; answers whether no stream is left.
    func remove(_ stream: LoopWatchStream) -> Bool {
        streams[ObjectIdentifier(stream)] = nil
        return streams.isEmpty
    }
}

/// A live watch answered on its connection's event loop by ``MemoryKVChannelHandler``: each wake-up of the feed
/// writes the sealed chunks the client has not had — slices sharing the chunks' storage, so no copy per client —
/// as chunks of the HTTP response, with one flush. No task and no hop between threads per write.
///
/// A connection that cannot take more (not writable) is skipped until it can; one that falls behind the feed's
/// window gets the `watcher_lagged` frame and the end of the response, and is closed once that is written.
/// Everything here runs on the connection's event loop.
final class LoopWatchStream {
    private let feed: Feed
    private let feedLoop: FeedLoop
    private var cursor: Int
    private let context: ChannelHandlerContext
    /// The HTTP/1.1 response encoder's context: writes through it reach the socket as they are, so the feed's
    /// pre-framed chunks skip the HTTP handlers (`nil`: written as body parts through them).
    private let below: ChannelHandlerContext?
    private let leave: () -> Void
    private(set) var ended = false

    init(feed: Feed, feedLoop: FeedLoop, cursor: Int, context: ChannelHandlerContext, leave: @escaping () -> Void) {
        self.feed = feed
        self.feedLoop = feedLoop
        self.cursor = cursor
        self.context = context
        self.below = try? context.pipeline.syncOperations.context(handlerType: HTTPResponseEncoder.self)
        self.leave = leave
    }

    /// Writes what the client has not had yet (a wake-up of the feed, or the connection writable again).
    func deliver() {
        guard !ended else { return }
        switch feed.read(from: cursor, sealing: false, framed: below != nil) {
        case .nothing:
            return
        case .bytes(let slices, let next):
            guard context.channel.isWritable else { return }
            // Moved on before writing: a write or flush can change the channel's writability, which calls this
            // again at once.
            cursor = next
            if let below {
                for slice in slices { below.write(NIOAny(IOData.byteBuffer(slice)), promise: nil) }
                below.flush()
            } else {
                for slice in slices { context.write(NIOAny(HTTPResponsePart.body(slice)), promise: nil) }
                context.flush()
            }
        case .lagged:
            end(with: feed.laggedFrame)
        case .closed(let frame):
            end(with: frame)
        }
    }

    /// Ends the response (the server's graceful shutdown, or the feed's end) and closes the connection once the
    /// last bytes are written.
    func end(with frame: [UInt8] = []) {
        guard !ended else { return }
        stop()
        if !frame.isEmpty { context.write(NIOAny(HTTPResponsePart.body(ByteBuffer(bytes: frame))), promise: nil) }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(HTTPResponsePart.end(nil)), promise: written)
        let channel = context.channel
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }

    /// Stops writing and leaves the feed (the connection closed).
    func stop() {
        guard !ended else { return }
        ended = true
        if feedLoop.remove(self) { feed.detach(feedLoop) }
        leave()
    }
}

/// One client's way through a feed: SSE bytes in batches, then (when the feed ends or the client lags) a last
/// frame and the end.
final class FeedReader: AsyncSequence, AsyncIteratorProtocol, @unchecked Sendable {
    typealias Element = ByteBuffer
    let feed: Feed
    private var cursor: Int
    /// Slices read from the feed and not returned yet.
    private var unsent: [ByteBuffer] = []
    private var finished = false
    private let stopped = Atomic<Bool>(false)
    private let leave: @Sendable () -> Void

    init(feed: Feed, cursor: Int, leave: @escaping @Sendable () -> Void) {
        self.feed = feed
        self.cursor = cursor
        self.leave = leave
    }

    deinit { leave() }

    func makeAsyncIterator() -> FeedReader { self }

    /// Ends the stream at the reader's next step (from any task: the server's graceful shutdown).
    func stop() {
        stopped.store(true, ordering: .releasing)
        feed.wakeAll()
    }

    func next() async throws -> ByteBuffer? {
        while !finished && !stopped.load(ordering: .acquiring) {
            if !unsent.isEmpty { return unsent.removeFirst() }
            switch feed.read(from: cursor, sealing: true) {
            case .bytes(let slices, let next):
                cursor = next
                unsent = slices
            case .lagged:
                finished = true
                return ByteBuffer(bytes: feed.laggedFrame)
            case .closed(let frame):
                finished = true
                return frame.isEmpty ? nil : ByteBuffer(bytes: frame)
            case .nothing:
                if Task.isCancelled { return nil }
                await feed.wait(after: cursor)
            }
        }
        return nil
    }
}

/// The `event: error` frame that ends a stream, with the problem's code and detail.
func sseErrorFrame(_ problem: NeuroplexError) -> [UInt8] {
    var frame = Array("event: error\ndata: ".utf8)
    frame += (try? CompactJSONEncoder().encode(["code": problem.code.rawValue, "detail": problem.message])) ?? []
    frame += Array("\n\n".utf8)
    return frame
}
