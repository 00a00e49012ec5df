#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address in 128 bits; IPv4 is kept IPv4-mapped (`::ffff:a.b.c.d`).
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public init(v4 value: UInt32) {
        high = 0
        low = 0xFFFF_0000_0000 | UInt64(value)
    }

    public var isV4: Bool { high == 0 && low >> 32 == 0xFFFF }

    public static func < (a: IPAddress, b: IPAddress) -> Bool { (a.high, a.low) < (b.high, b.low) }

    /// Dotted decimal for IPv4, RFC 5952 text for IPv6.
    public var description: String {
        if isV4 {
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\(v >> 16 & 0xFF).\(v >> 8 & 0xFF).\(v & 0xFF)"
        }
        var bytes = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            bytes[i] = UInt8(truncatingIfNeeded: high >> (56 - 8 * UInt64(i)))
            bytes[8 + i] = UInt8(truncatingIfNeeded: low >> (56 - 8 * UInt64(i)))
        }
        var text = [CChar](repeating: 0, count: 64)
        guard inet_ntop(AF_INET6, bytes, &text, 64) != nil else { return "::" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Parses dotted IPv4 or IPv6 text.
    public init?(_ text: some StringProtocol) {
        var v4 = in_addr()
        if inet_pton(AF_INET, String(text), &v4) == 1 {
            self.init(v4: UInt32(bigEndian: v4.s_addr))
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, String(text), &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        self.init(
            high: bytes[0..<8].reduce(0) { $0 << 8 | UInt64($1) }, low: bytes[8..<16].reduce(0) { $0 << 8 | UInt64($1) })
    }
}

/// The fields of a packet that the flow meter needs, read from its link, network and transport headers.
public struct DecodedPacket: Sendable {
    public var time: Int64 = 0
    public var source = IPAddress(high: 0, low: 0)
    public var destination = IPAddress(high: 0, low: 0)
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    /// The IP protocol number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, …
    public var transport: UInt8 = 0
    /// TCP flags: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    public var flags: UInt8 = 0
    public var window: UInt16 = 0
    /// The transport header's length (TCP with options, UDP 8, ICMP 8).
    public var headerLength: Int32 = 0
    /// The transport payload's length, from the IP header (so a snap length does not shorten it).
    public var payloadLength: Int32 = 0
    /// The frame's length on the wire, as tshark counts bytes.
    public var frameLength: Int32 = 0

    public init() {}
}

/// Reads packets' headers: Ethernet (with 802.1Q/802.1ad tags), Linux cooked (SLL and SLL2), raw IP, BSD loopback;
/// IPv4 (options, fragments) and IPv6 (extension headers); TCP, UDP, ICMP. A packet that is not IP, a later
/// fragment (no transport header) or one cut before its transport header is not decoded.
public enum PacketDecoder {
    public static let ethernet: UInt32 = 1
    public static let rawIP: UInt32 = 101
    public static let linuxCooked: UInt32 = 113
    public static let linuxCooked2: UInt32 = 276

    /// Decodes `packet` into `out`; false when it has no flow (not IP, or cut too short).
    @inline(__always)
    public static func decode(_ packet: CapturedPacket, into out: inout DecodedPacket) -> Bool {
        let data = packet.data
        out.time = packet.time
        out.frameLength = Int32(truncatingIfNeeded: packet.originalLength)
        var at: Int
        var etherType: UInt16
        switch packet.linkType {
        case 1:  // Ethernet
            guard data.count >= 14 else { return false }
            etherType = be16(data, 12)
            at = 14
        case 113:  // Linux cooked v1: 16-byte header, protocol last
            guard data.count >= 16 else { return false }
            etherType = be16(data, 14)
            at = 16
        case 276:  // Linux cooked v2: 20-byte header, protocol first
            guard data.count >= 20 else { return false }
            etherType = be16(data, 0)
            at = 20
        case 101, 12, 14, 228, 229:  // raw IP
            guard data.count >= 1 else { return false }
            etherType = data[0] >> 4 == 6 ? 0x86DD : 0x0800
            at = 0
        case 0, 108:  // BSD loopback: the address family, host order (0) or network order (108, OpenBSD)
            guard data.count >= 4 else { return false }
            let family = packet.linkType == 0 ? data.loadUnaligned(as: UInt32.self) : UInt32(bigEndian: data.loadUnaligned(as: UInt32.self))
            let normalised = family > 0xFFFF ? family.byteSwapped : family
            switch normalised {
            case 2: etherType = 0x0800
            case 24, 28, 30: etherType = 0x86DD
            default: return false
            }
            at = 4
        default:
            return false
        }
        // VLAN tags (802.1Q, 802.1ad, old QinQ), stacked.
        while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
            guard data.count >= at + 4 else { return false }
            etherType = be16(data, at + 2)
            at += 4
        }
        var ipPayload: Int
        var next: UInt8
        switch etherType {
        case 0x0800:
            guard data.count >= at + 20, data[at] >> 4 == 4 else { return false }
            let headerLength = Int(data[at] & 0x0F) * 4
            guard headerLength >= 20, data.count >= at + headerLength else { return false }
            let total = Int(be16(data, at + 2))
            // A total length of 0 (segmentation offload) or one smaller than the header: trust the frame.
            ipPayload = total >= headerLength ? total - headerLength : packet.originalLength - (at + headerLength)
            guard be16(data, at + 6) & 0x1FFF == 0 else { return false }  // a later fragment: no ports
            next = data[at + 9]
            out.source = IPAddress(v4: be32(data, at + 12))
            out.destination = IPAddress(v4: be32(data, at + 16))
            at += headerLength
        case 0x86DD:
            guard data.count >= at + 40, data[at] >> 4 == 6 else { return false }
            ipPayload = Int(be16(data, at + 4))
            next = data[at + 6]
            out.source = IPAddress(high: be64(data, at + 8), low: be64(data, at + 16))
            out.destination = IPAddress(high: be64(data, at + 24), low: be64(data, at + 32))
            at += 40
            extensions: while true {
                switch next {
                case 0, 43, 60:  // hop-by-hop, routing, destination options
                    guard data.count >= at + 2 else { return false }
                    let length = (Int(data[at + 1]) + 1) * 8
                    next = data[at]
                    at += length
                    ipPayload -= length
                case 44:  // fragment
                    guard data.count >= at + 8 else { return false }
                    guard be16(data, at + 2) & 0xFFF8 == 0 else { return false }
                    next = data[at]
                    at += 8
                    ipPayload -= 8
                case 51:  // authentication header
                    guard data.count >= at + 2 else { return false }
                    let length = (Int(data[at + 1]) + 2) * 4
                    next = data[at]
                    at += length
                    ipPayload -= length
                default:
                    break extensions
                }
            }
        default:
            return false
        }
        out.transport = next
        out.flags = 0
        out.window = 0
        switch next {
        case 6:
            guard data.count >= at + 16 else { return false }
            out.sourcePort = be16(data, at)
            out.destinationPort = be16(data, at + 2)
            let headerLength = Int(data[at + 12] >> 4) * 4
            out.flags = data[at + 13]
            out.window = be16(data, at + 14)
            out.headerLength = Int32(headerLength)
            out.payloadLength = Int32(max(0, ipPayload - headerLength))
        case 17:
            guard data.count >= at + 4 else { return false }
            out.sourcePort = be16(data, at)
            out.destinationPort = be16(data, at + 2)
            out.headerLength = 8
            out.payloadLength = Int32(max(0, ipPayload - 8))
        case 1, 58:
            out.sourcePort = 0
            out.destinationPort = 0
            out.headerLength = 8
            out.payloadLength = Int32(max(0, ipPayload - 8))
        default:
            out.sourcePort = 0
            out.destinationPort = 0
            out.headerLength = 0
            out.payloadLength = Int32(max(0, ipPayload))
        }
        return true
    }
}

@inline(__always)
func be16(_ data: UnsafeRawBufferPointer, _ at: Int) -> UInt16 {
    UInt16(bigEndian: data.loadUnaligned(fromByteOffset: at, as: UInt16.self))
}

@inline(__always)
func be32(_ data: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
    UInt32(bigEndian: data.loadUnaligned(fromByteOffset: at, as: UInt32.self))
}

@inline(__always)
func be64(_ data: UnsafeRawBufferPointer, _ at: Int) -> UInt64 {
    UInt64(bigEndian: data.loadUnaligned(fromByteOffset: at, as: UInt64.self))
}
