import Synchronization

/// Per-key rate limiting with the generic cell rate algorithm (GCRA).
///
/// A key with `limit` requests per `windowSeconds` may send a burst of `limit` requests, then one every
/// `windowSeconds / limit` seconds: the same long-run rate as a fixed window, without the doubled burst at a
/// window's edge. It keeps one number per key (the theoretical arrival time), so it is O(1) in time and memory.
public final class RateLimiter: Sendable {
    /// The answer for one request.
    public enum Decision: Sendable, Equatable {
        case allowed
        /// Over the limit; a retry after this many seconds (at least 1) will be allowed.
        case limited(retryAfterSeconds: Int)
    }

    private let arrivals = Mutex<[String: Double]>([:])

    public init() {}

    /// Counts one request for `key` at `now` (seconds on any steady scale) against `limit`.
    public func acquire(key: String, limit: RateLimit, now: Double) -> Decision {
        let interval = Double(limit.windowSeconds) / Double(limit.limit)
        let tolerance = interval * Double(limit.limit - 1)
        return arrivals.withLock { arrivals in
            let theoretical = max(arrivals[key] ?? now, now)
            if theoretical - now > tolerance {
                let wait = theoretical - tolerance - now
                return .limited(retryAfterSeconds: max(1, Int(wait.rounded(.up))))
            }
            arrivals[key] = theoretical + interval
            return .allowed
        }
    }

    /// Forgets the state of `key` (when the key is revoked).
    public func forget(key: String) {
        _ = arrivals.withLock { $0.removeValue(forKey: key) }
    }
}
