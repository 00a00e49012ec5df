// The seed's reactive operators live here, in the SDK, over `AsyncSequence` — not on the server. Almost all of them
// already exist: the standard library's and swift-async-algorithms'. The SDK re-exports AsyncAlgorithms so that
// `import NeuroplexClient` brings them, and adds only what neither has: `throttle` under its plain name, and a
// re-subscribing `retry`.
//
// | seed operator          | Swift                                                                |
// |------------------------|----------------------------------------------------------------------|
// | map, filter            | `map`, `filter`, `compactMap` (standard library)                     |
// | reduce                 | `reduce` (a final value), `reductions` (every running value)         |
// | merge, zip             | `merge(a, b)`, `zip(a, b)`, `combineLatest(a, b)`                    |
// | debounce               | `debounce(for:)`                                                     |
// | throttle               | `throttle(for:latest:)` (below, over AsyncAlgorithms' `_throttle`)   |
// | buffer(size)           | `chunks(ofCount:)`, `chunked(by: .repeating(every:))`; `buffer(policy:)` decouples a slow consumer |
// | retry                  | `retry(_:delay:while:)` (below)                                      |
@_exported public import AsyncAlgorithms

extension AsyncSequence {
    /// At most one element every `interval`: the latest one of each interval (or the first, with `latest: false`).
    ///
    /// The seed's `throttle`; AsyncAlgorithms ships it as `_throttle` while its API settles, and this is that one.
    ///
    /// ```swift
    /// // A dashboard that redraws at most twice a second however fast the metrics change:
    /// for try await change in try await client.watch(pattern: "metrics:*").throttle(for: .milliseconds(500)) {
    ///     redraw(change)
    /// }
    /// ```
    public func throttle(for interval: Duration, latest: Bool = true)
        -> _AsyncThrottleSequence<Self, ContinuousClock, Element>
    {
        _throttle(for: interval, latest: latest)
    }

    /// Re-subscribes when the stream fails: iterates this sequence again, up to `attempts` times in all.
    ///
    /// The streams of ``NeuroplexClient`` subscribe again when iterated again, and a change stream resumes after the
    /// last change it delivered, so a watch that loses its node carries on, with failover, without gaps:
    ///
    /// ```swift
    /// let orders = try await client.watch(pattern: "orders:*")
    ///     .retry(5, delay: .seconds(1))
    /// for try await change in orders { handle(change) }
    /// ```
    ///
    /// A sequence that restarts from its beginning when iterated again (most do) repeats its elements after a retry.
    /// - Parameters:
    ///   - attempts: how many times to re-subscribe at most, over the sequence's life (not per failure).
    ///   - delay: how long to wait before each re-subscription.
    ///   - shouldRetry: which errors to retry; by default every error but cancellation.
    public func retry(
        _ attempts: Int, delay: Duration = .zero,
        while shouldRetry: @escaping @Sendable (any Error) -> Bool = { !($0 is CancellationError) }
    ) -> AsyncRetrySequence<Self> {
        AsyncRetrySequence(base: self, attempts: attempts, delay: delay, shouldRetry: shouldRetry)
    }
}

/// A sequence that iterates its base again when it throws (see ``_Concurrency/AsyncSequence/retry(_:delay:while:)``).
public struct AsyncRetrySequence<Base: AsyncSequence>: AsyncSequence {
    public typealias Element = Base.Element

    let base: Base
    let attempts: Int
    let delay: Duration
    let shouldRetry: @Sendable (any Error) -> Bool

    public func makeAsyncIterator() -> Iterator {
        Iterator(base: base, current: base.makeAsyncIterator(), remaining: attempts, delay: delay, shouldRetry: shouldRetry)
    }

    /// Iterates the base, making a new iterator of it after a failure while attempts remain.
    public struct Iterator: AsyncIteratorProtocol {
        let base: Base
        var current: Base.AsyncIterator
        var remaining: Int
        let delay: Duration
        let shouldRetry: @Sendable (any Error) -> Bool

        public mutating func next() async throws -> Element? {
            while true {
                do {
                    return try await current.next()
                } catch {
                    guard remaining > 0, !Task.isCancelled, shouldRetry(error) else { throw error }
                    remaining -= 1
                    if delay > .zero { try await Task.sleep(for: delay) }
                    current = base.makeAsyncIterator()
                }
            }
        }
    }
}

extension AsyncRetrySequence: Sendable where Base: Sendable {}
