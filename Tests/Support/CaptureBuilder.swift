import Foundation

/// Writes small, exactly known captures for tests: TCP conversations packet by packet, in classic pcap or pcapng,
/// over Ethernet (optionally VLAN-tagged), Linux cooked v1/v2 or raw IP, IPv4 or IPv6.
public struct CaptureBuilder {
    public enum Link: Sendable { case ethernet, vlan, linuxCooked, linuxCooked2, rawIP }

    public static let fin: UInt8 = 0x01, syn: UInt8 = 0x02, rst: UInt8 = 0x04, psh: UInt8 = 0x08, ack: UInt8 = 0x10

    public var link: Link
    /// (microseconds, frame)
    public private(set) var packets: [(time: Int64, frame: [UInt8])] = []

    public init(link: Link = .ethernet) {
        self.link = link
    }

    /// A TCP segment between two addresses (dotted IPv4, or IPv6 text containing ':').
    public mutating func tcp(
        _ time: Double, _ source: String, _ sourcePort: Int, _ destination: String, _ destinationPort: Int, _ flags: UInt8,
        payload: Int = 0, window: Int = 64240
    ) {
        var segment = be16(sourcePort) + be16(destinationPort) + be32(1000) + be32(0)
        segment += [5 << 4, flags] + be16(window) + [0, 0, 0, 0]
        segment += [UInt8](repeating: 0x78, count: payload)
        add(time, source, destination, protocolNumber: 6, segment)
    }

    public mutating func udp(_ time: Double, _ source: String, _ sourcePort: Int, _ destination: String, _ destinationPort: Int, payload: Int) {
        let datagram = be16(sourcePort) + be16(destinationPort) + be16(8 + payload) + [0, 0] + [UInt8](repeating: 0x61, count: payload)
        add(time, source, destination, protocolNumber: 17, datagram)
    }

    /// A non-IP frame (ARP), which belongs to no flow.
    public mutating func arp(_ time: Double) {
        packets.append((Int64((time * 1_000_000).rounded()), [UInt8](repeating: 0xFF, count: 6) + [2, 0, 0, 0, 0, 1, 0x08, 0x06] + [UInt8](repeating: 0, count: 28)))
    }

    /// Handshake, `up` bytes from the client, `down` segments back, FIN from both sides and the last ACK:
    /// 5 packets forward, 2 + down.count backward.
    public mutating func conversation(_ time: Double, _ client: String, _ clientPort: Int, _ server: String, _ serverPort: Int, up: Int = 100, down: [Int] = [1000, 1000]) {
        let dt = 0.001
        tcp(time, client, clientPort, server, serverPort, Self.syn)
        tcp(time + dt, server, serverPort, client, clientPort, Self.syn | Self.ack)
        tcp(time + 2 * dt, client, clientPort, server, serverPort, Self.ack)
        tcp(time + 3 * dt, client, clientPort, server, serverPort, Self.psh | Self.ack, payload: up)
        for (index, size) in down.enumerated() {
            tcp(time + Double(4 + index) * dt, server, serverPort, client, clientPort, Self.psh | Self.ack, payload: size)
        }
        let k = Double(4 + down.count)
        tcp(time + k * dt, client, clientPort, server, serverPort, Self.fin | Self.ack)
        tcp(time + (k + 1) * dt, server, serverPort, client, clientPort, Self.fin | Self.ack)
        tcp(time + (k + 2) * dt, client, clientPort, server, serverPort, Self.ack)
    }

    /// A SYN answered by RST-ACK: one two-packet flow.
    public mutating func refused(_ time: Double, _ client: String, _ clientPort: Int, _ server: String, _ serverPort: Int) {
        tcp(time, client, clientPort, server, serverPort, Self.syn)
        tcp(time + 0.0002, server, serverPort, client, clientPort, Self.rst | Self.ack)
    }

    /// The acceptance check's scenario: 20 conversations from 198.18.0.10 and a 200-port scan from 198.18.2.66.
    public static func scenario() -> CaptureBuilder {
        var capture = CaptureBuilder()
        let start = 1_700_000_000.0
        for index in 0..<20 { capture.conversation(start + Double(index) * 0.5, "198.18.0.10", 40000 + index, "198.18.1.1", 80) }
        for port in 1...200 { capture.refused(start + 3 + Double(port) * 0.002, "198.18.2.66", 55555, "198.18.1.1", port) }
        return capture
    }

    private mutating func add(_ time: Double, _ source: String, _ destination: String, protocolNumber: UInt8, _ transport: [UInt8]) {
        let v6 = source.contains(":")
        var ip: [UInt8]
        if v6 {
            ip = [0x60, 0, 0, 0] + be16(transport.count) + [protocolNumber, 64] + Self.v6(source) + Self.v6(destination)
        } else {
            ip = [0x45, 0] + be16(20 + transport.count) + [0, 0, 0x40, 0, 64, protocolNumber, 0, 0]
            ip += source.split(separator: ".").map { UInt8($0)! } + destination.split(separator: ".").map { UInt8($0)! }
        }
        let etherType = be16(v6 ? 0x86DD : 0x0800)
        let frame: [UInt8]
        switch link {
        case .ethernet: frame = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2] + etherType + ip + transport
        case .vlan: frame = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2] + be16(0x8100) + be16(42) + etherType + ip + transport
        case .linuxCooked: frame = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + etherType + ip + transport
        case .linuxCooked2: frame = etherType + [0, 0] + be32(2) + [0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip + transport
        case .rawIP: frame = ip + transport
        }
        packets.append((Int64((time * 1_000_000).rounded()), frame))
    }

    var linkType: UInt32 {
        switch link {
        case .ethernet, .vlan: 1
        case .linuxCooked: 113
        case .linuxCooked2: 276
        case .rawIP: 101
        }
    }

    /// Classic pcap, little-endian, microsecond stamps, packets in time order.
    public func pcap() -> [UInt8] {
        var out = le32(0xA1B2_C3D4) + le16(2) + le16(4) + le32(0) + le32(0) + le32(65535) + le32(linkType)
        for (time, frame) in packets.sorted(by: { $0.time < $1.time }) {
            out += le32(UInt32(time / 1_000_000)) + le32(UInt32(time % 1_000_000)) + le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame
        }
        return out
    }

    /// pcapng: a section header, one interface (nanosecond resolution when `nanoseconds`), enhanced packet blocks.
    public func pcapng(nanoseconds: Bool = false) -> [UInt8] {
        func block(_ type: UInt32, _ body: [UInt8]) -> [UInt8] {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            let length = UInt32(12 + padded.count)
            return le32(type) + le32(length) + padded + le32(length)
        }
        var out = block(0x0A0D_0D0A, le32(0x1A2B_3C4D) + le16(1) + le16(0) + [UInt8](repeating: 0xFF, count: 8))
        var options: [UInt8] = []
        if nanoseconds { options = le16(9) + le16(1) + [9, 0, 0, 0] + le16(0) + le16(0) }
        out += block(1, le16(UInt16(linkType)) + le16(0) + le32(65535) + options)
        for (time, frame) in packets.sorted(by: { $0.time < $1.time }) {
            let stamp = UInt64(time) * (nanoseconds ? 1000 : 1)
            out += block(6, le32(0) + le32(UInt32(stamp >> 32)) + le32(UInt32(stamp & 0xFFFF_FFFF)) + le32(UInt32(frame.count)) + le32(UInt32(frame.count)) + frame)
        }
        return out
    }

    static func v6(_ text: String) -> [UInt8] {
        // Enough for the tests' addresses: "2001:db8::N".
        let parts = text.components(separatedBy: "::")
        let head = parts[0].split(separator: ":").map { UInt16($0, radix: 16)! }
        let tail = parts.count > 1 ? parts[1].split(separator: ":").map { UInt16($0, radix: 16)! } : []
        let groups = head + [UInt16](repeating: 0, count: 8 - head.count - tail.count) + tail
        return groups.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

private func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
private func be32(_ value: Int) -> [UInt8] { be16(value >> 16) + be16(value & 0xFFFF) }
private func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
private func le32(_ value: UInt32) -> [UInt8] { le16(UInt16(value & 0xFFFF)) + le16(UInt16(value >> 16)) }
