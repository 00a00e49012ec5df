#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte strings numbered in the order they were first added: an open-addressing hash table over one arena of
/// bytes, so that looking a cell up allocates nothing (unlike a `[String: Int]`, which needs a string per cell).
///
/// The caller supplies each key's 64-bit hash (the profiler computes one a cell and shares it with the
/// HyperLogLog), which must be the same for equal bytes.
struct ValueIndex: Sendable {
    /// Each slot is 0 (empty) or a tag from the hash's top bits above the key's position + 1.
    private var slots: [UInt32] = Array(repeating: 0, count: 16)
    private var arena: [UInt8] = []
    /// Where each key ends in ``arena``.
    private var ends: [Int] = []
    /// Each key's hash, to re-place the keys when the table grows.
    private var hashes: [UInt64] = []
    /// One bit per hash (of bits 20 and up), set for every key: most absent keys are ruled out with one read of
    /// this small bitmap, without a probe into the table. A column past the exact-count limit is looked up on
    /// every cell and its new values are absent, so this is its common case.
    private var filter: [UInt64] = Array(repeating: 0, count: 2)

    private static let positionBits: UInt32 = 18
    private static let positionMask: UInt32 = (1 << positionBits) - 1

    /// The number of keys.
    var count: Int { ends.count }

    /// The position of `bytes`, or `nil` when it was never added.
    func position(of bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> Int? {
        let bit = Self.filterBit(hash, filterWords: filter.count)
        guard filter.withUnsafeBufferPointer({ $0[bit >> 6] & (1 << UInt64(bit & 63)) != 0 }) else { return nil }
        let (position, _) = find(bytes, hash: hash)
        return position
    }

    /// The position of `bytes`, adding it (at position ``count``) when it is new.
    mutating func insert(_ bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (position: Int, inserted: Bool) {
        let (found, slot) = find(bytes, hash: hash)
        if let found { return (found, false) }
        let position = ends.count
        precondition(position < Int(Self.positionMask), "ValueIndex holds at most 2^18 - 2 keys")
        arena.append(contentsOf: bytes)
        ends.append(arena.count)
        hashes.append(hash)
        slots[slot] = Self.tag(hash) << Self.positionBits | UInt32(position + 1)
        let bit = Self.filterBit(hash, filterWords: filter.count)
        filter[bit >> 6] |= 1 << UInt64(bit & 63)
        // At most three quarters full, so that probes stay short.
        if ends.count * 4 > slots.count * 3 { grow() }
        return (position, true)
    }

    /// The bytes of the key at `position`.
    func key(at position: Int) -> ArraySlice<UInt8> {
        arena[(position == 0 ? 0 : ends[position - 1])..<ends[position]]
    }

    /// Whether the key at `a` comes before the one at `b` in the order of their bytes (for UTF-8, the order of
    /// their Unicode scalars).
    func keyPrecedes(_ a: Int, _ b: Int) -> Bool {
        arena.withUnsafeBufferPointer { arena in
            let startA = a == 0 ? 0 : ends[a - 1], startB = b == 0 ? 0 : ends[b - 1]
            let countA = ends[a] - startA, countB = ends[b] - startB
            let common = Swift.min(countA, countB)
            let order = common == 0 ? 0 : memcmp(arena.baseAddress! + startA, arena.baseAddress! + startB, common)
            return order != 0 ? order < 0 : countA < countB
        }
    }

    /// Every key as text (invalid UTF-8 repaired), in position order.
    var strings: [String] { (0..<count).map { String(decoding: key(at: $0), as: UTF8.self) } }

    private static func tag(_ hash: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: hash >> 50) }

    private static func filterBit(_ hash: UInt64, filterWords: Int) -> Int {
        Int(truncatingIfNeeded: hash >> 20) & (filterWords * 64 - 1)
    }

    /// The key's position if present, and the slot where the search ended (the empty one it would take).
    private func find(_ bytes: UnsafeBufferPointer<UInt8>, hash: UInt64) -> (Int?, Int) {
        let mask = slots.count - 1
        let tag = Self.tag(hash)
        var slot = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBufferPointer { arena in
                ends.withUnsafeBufferPointer { ends in
                    while true {
                        let entry = slots[slot]
                        if entry == 0 { return (nil, slot) }
                        if entry >> Self.positionBits == tag {
                            let position = Int(entry & Self.positionMask) - 1
                            let start = position == 0 ? 0 : ends[position - 1]
                            if ends[position] - start == bytes.count,
                                bytes.isEmpty || memcmp(arena.baseAddress! + start, bytes.baseAddress!, bytes.count) == 0
                            {
                                return (position, slot)
                            }
                        }
                        slot = (slot + 1) & mask
                    }
                }
            }
        }
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: 0, count: old.count * 2)
        let mask = slots.count - 1
        // Eight filter bits a slot: at most 3/32 of the bits set, so about nine in ten absent keys stop there.
        filter = Array(repeating: 0, count: slots.count / 8)
        for (position, hash) in hashes.enumerated() {
            let bit = Self.filterBit(hash, filterWords: filter.count)
            filter[bit >> 6] |= 1 << UInt64(bit & 63)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while slots[slot] != 0 { slot = (slot + 1) & mask }
            slots[slot] = Self.tag(hash) << Self.positionBits | UInt32(position + 1)
        }
    }
}
