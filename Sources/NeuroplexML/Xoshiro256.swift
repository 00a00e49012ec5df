/// A small, fast, seedable random number generator (xoshiro256**, Blackman and Vigna), so that a learner's
/// `random_state` makes training reproducible on every platform.
///
/// The 256-bit state is expanded from the 64-bit seed with SplitMix64, as the authors recommend.
struct Xoshiro256: RandomNumberGenerator {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    init(seed: UInt64) {
        var expander = SplitMix64(seed: seed)
        s0 = expander.next()
        s1 = expander.next()
        s2 = expander.next()
        s3 = expander.next()
    }

    /// Seeded from `seed`, or from the system's generator when there is none (`random_state: null`).
    init(seed: UInt64?) {
        if let seed {
            self.init(seed: seed)
        } else {
            var system = SystemRandomNumberGenerator()
            self.init(seed: system.next())
        }
    }

    mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3 << 45 | s3 >> 19
        return result
    }

    /// A uniform double in [0, 1) with 53 random bits.
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in 0..<bound (bound > 0), without modulo bias.
    mutating func below(_ bound: Int) -> Int {
        Int(truncatingIfNeeded: next(upperBound: UInt64(bound)))
    }
}
