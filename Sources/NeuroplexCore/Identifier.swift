public import struct Foundation.Date

/// Opaque identifiers and secrets made of unambiguous URL-safe characters.
public enum Identifier {
    /// The 62 characters `0-9A-Za-z`, in ASCII order so that fixed-width ids made from increasing numbers sort.
    public static let alphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` random characters from ``alphabet``, drawn without modulo bias.
    public static func random<G: RandomNumberGenerator>(count: Int, using generator: inout G) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(count)
        for _ in 0..<count {
            bytes.append(alphabet[Int.random(in: 0..<alphabet.count, using: &generator)])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// A new id that sorts by creation time: `prefix` + `_` + 8 characters of milliseconds since 1970 +
    /// 12 random characters (about 71 bits), e.g. `key_0Pq3kX9aB4fK2mN8pQ1r`.
    public static func make(prefix: String, at date: Date) -> String {
        var generator = SystemRandomNumberGenerator()
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        return prefix + "_" + base62(millis, width: 8) + random(count: 12, using: &generator)
    }

    /// Encodes `value` in base 62 with ``alphabet``, left-padded with `0` to `width` characters.
    public static func base62(_ value: UInt64, width: Int) -> String {
        var digits = [UInt8]()
        var rest = value
        repeat {
            digits.append(alphabet[Int(rest % 62)])
            rest /= 62
        } while rest > 0
        while digits.count < width { digits.append(alphabet[0]) }
        return String(decoding: digits.reversed(), as: UTF8.self)
    }
}
