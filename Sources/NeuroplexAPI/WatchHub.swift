import Foundation
import NIOCore
import NeuroplexCore
import NeuroplexMemory
import Synchronization

/// Live SSE watches (`GET /memory/watch` without `since`) share one feed per pattern: the feed is the engine's
/// only watcher of that pattern and encodes each change into its SSE frame once; every client of the pattern
/// copies the bytes it has not sent yet from the feed's buffer, many frames per write.
///
/// So a change costs the engine one delivery and one encoding per watched pattern, whatever the number of
/// clients; a client costs a copy and a write per batch. A client more than `behindLimit` bytes behind the feed
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
        let feed = feeds.withLock { feeds in
            let feed = feeds[pattern] ?? Feed(memory: memory, pattern: pattern, frames: frames, behindLimit: behindLimit)
            feeds[pattern] = feed
            feed.readers += 1
            return feed
        }
        return FeedReader(feed: feed, cursor: feed.end, leave: { [weak self] in self?.leave(pattern, feed) })
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
final class Feed: @unchecked Sendable {
    /// How far behind (in bytes) a client may fall before it is ended with `watcher_lagged`.
    let behindLimit: Int

    private struct State {
        var bytes: [UInt8] = []
        /// The absolute position of `bytes[0]` in the feed.
        var start = 0
        /// The frame every reader gets after the last byte when the feed has ended (`nil` while it runs).
        var closing: [UInt8]?
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
        /// When waiting readers were last woken, and whether a wake-up is already scheduled.
        var lastWake: ContinuousClock.Instant?
        var wakeScheduled = false
    }

    private let state = Mutex(State())
    /// Readers of the feed; changed only under the hub's lock.
    var readers = 0
    private let pump = Mutex<Task<Void, Never>?>(nil)

    init(memory: Memory, pattern: String, frames: ChangeFrameCache, behindLimit: Int) {
        self.behindLimit = behindLimit
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
    var end: Int { state.withLock { $0.start + $0.bytes.count } }

    func stop() {
        pump.withLock { $0?.cancel() }
        close(with: [])
    }

    /// Adds a frame. Waiting readers are woken at once when the feed has been quiet for ``sseGatherInterval``,
    /// else together at the end of that interval: one timer for the feed, however many readers, and each reader
    /// then sends all the frames of the interval in one write.
    private func append(_ frame: [UInt8]) {
        let (waiting, wakeAt) = state.withLock { state -> ([CheckedContinuation<Void, Never>], ContinuousClock.Instant?) in
            state.bytes += frame
            // Keep a window of about twice the limit, dropping the oldest half at a time.
            if state.bytes.count > 2 * behindLimit {
                let dropped = state.bytes.count - behindLimit
                state.bytes.removeFirst(dropped)
                state.start += dropped
            }
            guard !state.waiters.isEmpty, !state.wakeScheduled else { return ([], nil) }
            let now = ContinuousClock.now
            if let last = state.lastWake, now - last < sseGatherInterval {
                state.wakeScheduled = true
                return ([], last + sseGatherInterval)
            }
            state.lastWake = now
            return (Self.takeWaiters(&state), nil)
        }
        for waiter in waiting { waiter.resume() }
        if let wakeAt {
            Task {
                try? await Task.sleep(until: wakeAt, clock: .continuous)
                self.wakeWaiters()
            }
        }
    }

    /// Wakes every waiting reader (for a reader that is being stopped).
    func wakeAll() { wakeWaiters() }

    private func wakeWaiters() {
        let waiting = state.withLock { state in
            state.wakeScheduled = false
            state.lastWake = .now
            return Self.takeWaiters(&state)
        }
        for waiter in waiting { waiter.resume() }
    }

    private func close(with frame: [UInt8]) {
        let waiting = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.closing == nil else { return [] }
            state.closing = frame
            return Self.takeWaiters(&state)
        }
        for waiter in waiting { waiter.resume() }
    }

    private static func takeWaiters(_ state: inout State) -> [CheckedContinuation<Void, Never>] {
        guard !state.waiters.isEmpty else { return [] }
        defer { state.waiters.removeAll(keepingCapacity: true) }
        return Array(state.waiters.values)
    }

    enum Read {
        case bytes(ByteBuffer, next: Int)
        case lagged
        case closed([UInt8])
        case nothing
    }

    /// What a reader at `cursor` gets now (at most `limit` bytes).
    func read(from cursor: Int, limit: Int) -> Read {
        state.withLock { state in
            if cursor < state.start { return .lagged }
            let end = state.start + state.bytes.count
            if cursor < end {
                let upTo = min(end, cursor + limit)
                // A copy (the one copy a reader makes): a slice would share the array, and the next append
                // would then copy all of it.
                return .bytes(ByteBuffer(bytes: state.bytes[(cursor - state.start)..<(upTo - state.start)]), next: upTo)
            }
            if let closing = state.closing { return .closed(closing) }
            return .nothing
        }
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
                    if state.start + state.bytes.count > cursor || state.closing != nil { return true }
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

/// One client's way through a feed: SSE bytes in batches, then (when the feed ends or the client lags) a last
/// frame and the end.
final class FeedReader: AsyncSequence, AsyncIteratorProtocol, @unchecked Sendable {
    typealias Element = ByteBuffer
    private let feed: Feed
    private var cursor: Int
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
            switch feed.read(from: cursor, limit: 1 << 20) {
            case .bytes(let bytes, let next):
                cursor = next
                return bytes
            case .lagged:
                finished = true
                return ByteBuffer(bytes: sseErrorFrame(NeuroplexError(
                    .conflict, code: .watcherLagged,
                    "this stream fell more than \(feed.behindLimit) bytes behind; resume with since= the last id received")))
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
