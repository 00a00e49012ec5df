import NeuroplexCore
import Synchronization

extension Memory {
    /// The sequence number of the latest change (0 before the first).
    public var latestSequence: UInt64 { logState.withLock { $0.sequence } }

    /// The retained changes after position `since`, oldest first, up to `limit`.
    /// - Throws: `history_compacted` when changes after `since` are no longer retained: the caller has missed
    ///   some and must start again from the current state, never silently skip them.
    public func changes(since: UInt64, limit: Int = 1000) throws -> [ChangeEvent] {
        try logState.withLock { state in try Self.retained(in: state, after: since, limit: limit) }
    }

    /// Changes to keys matching `pattern`, as they happen; each exactly once and in order.
    ///
    /// With `since`, the retained changes after that position come first, with no gap before the live ones.
    /// A watcher more than ``MemoryConfiguration/watcherBuffer`` changes behind ends with `watcher_lagged`
    /// (writers never wait for watchers); it can resume with `changes(since:)` from the last one it saw.
    /// - Throws: `history_compacted` (from the stream) when `since` is older than the retained history.
    public func watch(_ pattern: GlobPattern = .all, since: UInt64? = nil) -> AsyncThrowingStream<ChangeEvent, any Error> {
        let (stream, continuation) = AsyncThrowingStream<ChangeEvent, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(configuration.watcherBuffer))
        let id = logState.withLock { state -> UInt64? in
            if let since {
                do {
                    for event in try Self.retained(in: state, after: since, limit: Int.max)
                    where pattern.matches(event.key) {
                        continuation.yield(event)
                    }
                } catch {
                    continuation.finish(throwing: error)
                    return nil
                }
            }
            state.nextWatcher += 1
            state.watchers[state.nextWatcher] = Watcher(pattern: pattern, continuation: continuation)
            return state.nextWatcher
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                guard let self else { return }
                endedWatchers.withLock { $0.append(id) }
                endedWatcherCount.add(1, ordering: .releasing)
            }
        }
        return stream
    }

    /// How many watchers are connected.
    public var watcherCount: Int {
        logState.withLock { state in
            reapEndedWatchers(&state)
            return state.watchers.count
        }
    }

    func reapEndedWatchers(_ state: inout LogState) {
        // Every write passes here: look before taking the lock.
        guard endedWatcherCount.load(ordering: .acquiring) > 0 else { return }
        let ended = endedWatchers.withLock { ended in
            defer { ended.removeAll() }
            return ended
        }
        endedWatcherCount.subtract(ended.count, ordering: .releasing)
        for id in ended {
            state.watchers[id] = nil
        }
    }

    static func retained(in state: LogState, after since: UInt64, limit: Int) throws -> [ChangeEvent] {
        let history = state.history
        guard !history.isEmpty else {
            if since < state.sequence { throw compacted(since, oldest: state.sequence + 1) }
            return []
        }
        let oldest = history[state.historyStart].sequence
        if since + 1 < oldest { throw compacted(since, oldest: oldest) }
        var out: [ChangeEvent] = []
        // The ring is ordered from historyStart; sequence numbers are consecutive.
        let skip = Int(since + 1 >= oldest ? since + 1 - oldest : 0)
        var index = skip
        while index < history.count, out.count < limit {
            out.append(history[(state.historyStart + index) % history.count])
            index += 1
        }
        return out
    }

    private static func compacted(_ since: UInt64, oldest: UInt64) -> NeuroplexError {
        NeuroplexError(
            .conflict, code: .historyCompacted,
            "changes after \(since) are no longer retained; the oldest retained change is \(oldest)", field: "since")
    }

    /// Adds an event to the retained history and hands it to every matching watcher.
    func publish(_ event: ChangeEvent, into state: inout LogState) {
        let historyLimit = configuration.historyLimit
        if !state.notifications.isEmpty { notify(event, state.notifications) }
        if !state.sequenceWaiters.isEmpty { Self.wakeSequenceWaiters(&state) }
        if state.history.count < historyLimit {
            state.history.append(event)
        } else if historyLimit > 0 {
            state.history[state.historyStart] = event
            state.historyStart = (state.historyStart + 1) % historyLimit
        }
        guard !state.watchers.isEmpty else { return }
        var lagged: [UInt64] = []
        for (id, watcher) in state.watchers where watcher.pattern.matches(event.key) {
            if case .dropped = watcher.continuation.yield(event) {
                lagged.append(id)
                watcher.continuation.finish(
                    throwing: NeuroplexError(
                        .conflict, code: .watcherLagged,
                        "this watcher fell behind by more than its buffer; resume with changes since the last event it received"
                    ))
            }
        }
        for id in lagged { state.watchers[id] = nil }
    }
}
