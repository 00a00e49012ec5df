import Crypto
import Foundation
import NeuroplexCore

/// The secret form of an API key: `nplx_<40 random characters>_<6-character checksum>`.
///
/// The random part carries about 238 bits. The checksum (CRC-32 of everything before it, in base 62) lets the
/// server turn away typos and strings that were never keys without touching the key table, and lets secret
/// scanners recognise a leaked key. The server stores only ``hash``.
public struct APIKeySecret: Sendable, Equatable {
    public static let marker = "nplx"
    static let randomLength = 40
    static let checksumLength = 6

    /// The whole key, as the client sends it.
    public let value: String

    /// A new random key.
    public static func generate() -> APIKeySecret {
        var generator = SystemRandomNumberGenerator()
        let body = marker + "_" + Identifier.random(count: randomLength, using: &generator)
        return APIKeySecret(trusted: body + "_" + checksum(of: body.utf8))
    }

    private init(trusted value: String) { self.value = value }

    /// Parses a key a client sent; `nil` if it is not well-formed or its checksum does not match.
    ///
    /// Works on the UTF-8 bytes without splitting: it runs on every authenticated request.
    public init?(parsing value: String) {
        let bytes = Array(value.utf8)
        let markerLength = Self.marker.utf8.count
        let checksumStart = markerLength + 1 + Self.randomLength + 1
        guard bytes.count == checksumStart + Self.checksumLength,
            bytes[..<markerLength].elementsEqual(Self.marker.utf8), bytes[markerLength] == UInt8(ascii: "_"),
            bytes[checksumStart - 1] == UInt8(ascii: "_"),
            bytes[(markerLength + 1)..<(checksumStart - 1)].allSatisfy(Self.isAlphanumeric),
            bytes[checksumStart...].allSatisfy(Self.isAlphanumeric)
        else { return nil }
        guard Self.checksum(of: bytes[..<(checksumStart - 1)]).utf8.elementsEqual(bytes[checksumStart...]) else {
            return nil
        }
        self.value = value
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (48...57).contains(byte) || (65...90).contains(byte) || (97...122).contains(byte)
    }
    /// The first characters, shown in listings so that people can tell their keys apart: `nplx_AbCd1234`.
    public var prefix: String { String(value.prefix(Self.marker.count + 1 + 8)) }

    /// The SHA-256 of the key in lowercase hex: what the database holds. A key has 238 random bits, so a fast
    /// hash is enough (no password stretching needed).
    public var hash: String { digest.hex }

    /// The SHA-256 of the key, as the in-memory index holds it.
    var digest: KeyDigest {
        var value = value
        return value.withUTF8 { KeyDigest(SHA256.hash(data: $0)) }
    }

    /// The checksum of the bytes before the last `_`, as 6 base-62 characters.
    static func checksum(of body: some Collection<UInt8>) -> String {
        Identifier.base62(UInt64(CRC32.checksum(body)), width: checksumLength)
    }
}

/// A SHA-256 digest as four words: a cheap dictionary key (no hex text, no hashing of 64 characters).
public struct KeyDigest: Hashable, Sendable {
    private var words: (UInt64, UInt64, UInt64, UInt64)

    init(_ digest: SHA256.Digest) {
        words = digest.withUnsafeBytes { raw in
            (
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
            )
        }
    }

    /// Parses the lowercase (or uppercase) hex form the database holds; `nil` if it is not 64 hex digits.
    init?(hex: String) {
        let bytes = Array(hex.utf8)
        guard bytes.count == 64 else { return nil }
        var words: [UInt64] = [0, 0, 0, 0]
        for (index, byte) in bytes.enumerated() {
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            // Byte i of the digest is hex digits 2i and 2i+1; words hold bytes little-endian, as loaded above.
            let byteIndex = index / 2
            let shift = UInt64((byteIndex % 8) * 8 + (index % 2 == 0 ? 4 : 0))
            words[byteIndex / 8] |= UInt64(nibble) << shift
        }
        self.words = (words[0], words[1], words[2], words[3])
    }

    /// Lowercase hex, as stored.
    var hex: String {
        let littleEndian = (words.0.littleEndian, words.1.littleEndian, words.2.littleEndian, words.3.littleEndian)
        return withUnsafeBytes(of: littleEndian) { Hex.encode($0) }
    }

    public static func == (a: KeyDigest, b: KeyDigest) -> Bool {
        a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2 && a.words.3 == b.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }
}
