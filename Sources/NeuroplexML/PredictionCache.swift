import Foundation
import Synchronization

/// Recent predictions by model version and canonical input: least recently used out first, each entry for at most
/// `ttl`, all together within `maxBytes`. A deploy of a model removes its entries.
final class PredictionCache: Sendable {
    struct Key: Hashable, Sendable {
        var modelId: String
        var version: Int
        /// The instance's canonical JSON (object keys sorted).
        var input: [UInt8]
    }

    private struct Entry {
        var key: Key
        var value: PredictionOutput
        var expires: ContinuousClock.Instant
        var bytes: Int
        var newer: Int  // toward the most recently used; -1 at the head
        var older: Int  // toward the least recently used; -1 at the tail
    }

    private struct State {
        var index: [Key: Int] = [:]
        var entries: [Entry] = []
        var free: [Int] = []
        var head = -1  // most recently used
        var tail = -1  // least recently used
        var bytes = 0

        mutating func unlink(_ slot: Int) {
            let entry = entries[slot]
            if entry.newer >= 0 { entries[entry.newer].older = entry.older } else { head = entry.older }
            if entry.older >= 0 { entries[entry.older].newer = entry.newer } else { tail = entry.newer }
        }

        mutating func pushFront(_ slot: Int) {
            entries[slot].newer = -1
            entries[slot].older = head
            if head >= 0 { entries[head].newer = slot }
            head = slot
            if tail < 0 { tail = slot }
        }

        mutating func remove(_ slot: Int) {
            unlink(slot)
            index[entries[slot].key] = nil
            bytes -= entries[slot].bytes
            entries[slot].key.input = []
            free.append(slot)
        }
    }

    let ttl: Duration
    let maxBytes: Int
    private let state = Mutex(State())

    init(ttl: Duration = .seconds(300), maxBytes: Int = 64 << 20) {
        self.ttl = ttl
        self.maxBytes = maxBytes
    }

    func get(_ key: Key) -> PredictionOutput? {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard let slot = state.index[key] else { return nil }
            guard state.entries[slot].expires > now else {
                state.remove(slot)
                return nil
            }
            state.unlink(slot)
            state.pushFront(slot)
            return state.entries[slot].value
        }
    }

    func put(_ key: Key, _ value: PredictionOutput) {
        let bytes = key.input.count + key.modelId.utf8.count + 160 + (value.probabilities?.count ?? 0) * 8
        guard bytes <= maxBytes else { return }
        let expires = ContinuousClock.now + ttl
        state.withLock { state in
            if let slot = state.index[key] { state.remove(slot) }
            while state.bytes + bytes > maxBytes, state.tail >= 0 { state.remove(state.tail) }
            let entry = Entry(key: key, value: value, expires: expires, bytes: bytes, newer: -1, older: -1)
            let slot: Int
            if let reused = state.free.popLast() {
                state.entries[reused] = entry
                slot = reused
            } else {
                state.entries.append(entry)
                slot = state.entries.count - 1
            }
            state.index[key] = slot
            state.bytes += bytes
            state.pushFront(slot)
        }
    }

    /// Drops every entry of a model (on deploy, retire).
    func invalidate(modelId: String) {
        state.withLock { state in
            for slot in state.index.values.filter({ state.entries[$0].key.modelId == modelId }) { state.remove(slot) }
        }
    }

    var usage: (entries: Int, bytes: Int) { state.withLock { ($0.index.count, $0.bytes) } }
}
