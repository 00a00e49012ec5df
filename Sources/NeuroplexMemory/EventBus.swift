public import Foundation
public import NeuroplexCore
import Synchronization

/// A message published to a named channel.
public struct ChannelMessage: Sendable, Equatable, Codable {
    public var channel: String
    public var data: JSONValue
    public var timestamp: Date
    public var nodeId: String
}

/// Named channels with publish/subscribe, shared by HTTP (`/memory/events`), WebSocket and the Redis protocol.
///
/// Delivery is at most once and live only (a subscriber gets what is published while it is subscribed, in
/// publish order); publishers never wait: a subscriber more than its buffer behind is ended with
/// `watcher_lagged`. Use the change stream for durable, replayable history.
public final class EventBus: Sendable {
    struct Subscriber: Sendable {
        var channels: Set<String>
        var patterns: [GlobPattern]
        var continuation: AsyncThrowingStream<ChannelMessage, any Error>.Continuation

        func wants(_ channel: String) -> Bool {
            channels.contains(channel) || patterns.contains { $0.matches(channel) }
        }
    }

    private let subscribers = Mutex<[UInt64: Subscriber]>([:])
    private let ended = Mutex<[UInt64]>([])
    private let nextID = Atomic<UInt64>(0)
    let nodeID: String
    let buffer: Int
    let clock: any WallClock

    init(nodeID: String, buffer: Int, clock: any WallClock) {
        self.nodeID = nodeID
        self.buffer = buffer
        self.clock = clock
    }

    /// Publishes `data` on `channel`; returns how many subscribers it reached.
    @discardableResult
    public func publish(_ channel: String, _ data: JSONValue) -> Int {
        let message = ChannelMessage(channel: channel, data: data, timestamp: clock.now(), nodeId: nodeID)
        let gone = ended.withLock { ids in defer { ids.removeAll() }; return ids }
        return subscribers.withLock { subscribers in
            for id in gone { subscribers[id] = nil }
            var reached = 0
            var lagged: [UInt64] = []
            for (id, subscriber) in subscribers where subscriber.wants(channel) {
                if case .dropped = subscriber.continuation.yield(message) {
                    lagged.append(id)
                    subscriber.continuation.finish(
                        throwing: NeuroplexError(
                            .conflict, code: .watcherLagged, "this subscriber fell behind by more than \(buffer) messages"))
                } else {
                    reached += 1
                }
            }
            for id in lagged { subscribers[id] = nil }
            return reached
        }
    }

    /// A subscription: its id (to change what it listens to) and its messages.
    public func subscribe(channels: Set<String> = [], patterns: [GlobPattern] = []) -> (
        id: UInt64, messages: AsyncThrowingStream<ChannelMessage, any Error>
    ) {
        let (stream, continuation) = AsyncThrowingStream<ChannelMessage, any Error>.makeStream(
            bufferingPolicy: .bufferingOldest(buffer))
        let id = nextID.add(1, ordering: .relaxed).newValue
        subscribers.withLock {
            $0[id] = Subscriber(channels: channels, patterns: patterns, continuation: continuation)
        }
        // Ending the stream can happen while `subscribers` is locked (in publish), so only note it here.
        continuation.onTermination = { [weak self] _ in self?.ended.withLock { $0.append(id) } }
        return (id, stream)
    }

    /// Changes what a subscription listens to; returns its channels and patterns afterwards.
    @discardableResult
    public func update(
        _ id: UInt64, addChannels: [String] = [], removeChannels: [String]? = nil, addPatterns: [String] = [],
        removePatterns: [String]? = nil
    ) -> (channels: Set<String>, patterns: [String]) {
        subscribers.withLock { subscribers in
            guard var subscriber = subscribers[id] else { return ([], []) }
            subscriber.channels.formUnion(addChannels)
            if let removeChannels {
                if removeChannels.isEmpty { subscriber.channels = [] } else { subscriber.channels.subtract(removeChannels) }
            }
            for pattern in addPatterns where !subscriber.patterns.contains(where: { $0.description == pattern }) {
                subscriber.patterns.append(GlobPattern(pattern))
            }
            if let removePatterns {
                subscriber.patterns.removeAll { removePatterns.isEmpty || removePatterns.contains($0.description) }
            }
            subscribers[id] = subscriber
            return (subscriber.channels, subscriber.patterns.map(\.description))
        }
    }

    /// The pattern of a subscription that `channel` matched, when it matched no channel subscribed by name
    /// (Redis reports those as `pmessage` with the pattern).
    public func matchedPattern(_ id: UInt64, channel: String) -> String? {
        subscribers.withLock { subscribers in
            guard let subscriber = subscribers[id], !subscriber.channels.contains(channel) else { return nil }
            return subscriber.patterns.first { $0.matches(channel) }?.description
        }
    }

    /// Ends a subscription.
    public func unsubscribe(_ id: UInt64) {
        let removed = subscribers.withLock { $0.removeValue(forKey: id) }
        removed?.continuation.finish()
    }

    /// How many subscriptions are open.
    public var subscriberCount: Int {
        let gone = ended.withLock { ids in defer { ids.removeAll() }; return ids }
        return subscribers.withLock { subscribers in
            for id in gone { subscribers[id] = nil }
            return subscribers.count
        }
    }
}
