import NeuroplexCore
import NeuroplexSentinel
import Testing

/// Big-endian packet building for the tests.
struct Bytes {
    var data: [UInt8] = []
    mutating func u8(_ value: Int) { data.append(UInt8(value)) }
    mutating func u16(_ value: Int) { data += [UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    mutating func u32(_ value: Int) { data += [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)] }
    mutating func ip(_ text: String) { data += text.split(separator: ".").map { UInt8($0)! } }
}

@Suite("NetFlow v5/v9 and IPFIX decoding")
struct NetFlowTests {
    static let exported = 1_700_000_100

    @Test("v5: records with times placed from the exporter's uptime, flags and protocol")
    func v5() throws {
        var packet = Bytes()
        packet.u16(5); packet.u16(2); packet.u32(600_000); packet.u32(Self.exported); packet.u32(0)
        packet.u32(1); packet.u8(0); packet.u8(0); packet.u16(0)
        for (index, port) in [80, 22].enumerated() {
            packet.ip("198.18.0.10"); packet.ip("198.18.1.1"); packet.ip("0.0.0.0"); packet.u16(1); packet.u16(2)
            packet.u32(5 + index); packet.u32(300); packet.u32(590_000); packet.u32(595_500)
            packet.u16(40000 + index); packet.u16(port); packet.u8(0); packet.u8(0x1B); packet.u8(6); packet.u8(0)
            packet.u16(0); packet.u16(0); packet.u8(24); packet.u8(24); packet.u16(0)
        }
        var decoder = NetFlowDecoder()
        let flows = try decoder.decode(packet.data, exporter: "127.0.0.1")
        #expect(flows.count == 2)
        #expect(flows[0].source == "198.18.0.10" && flows[0].destination == "198.18.1.1" && flows[0].destinationPort == 80)
        #expect(flows[0].start == Double(Self.exported) - 10 && flows[0].end == Double(Self.exported) - 4.5)
        #expect(flows[1].forwardPackets == 6 && flows[1].forwardBytes == 300 && flows[1].transport == .tcp)
        #expect(flows[0].synCount == 1 && flows[0].finCount == 1 && flows[0].rstCount == 0)
        // Cut short: an error that says where, not a crash.
        #expect(throws: NeuroplexError.self) { try decoder.decode(Array(packet.data.prefix(60)), exporter: "127.0.0.1") }
        #expect(throws: NeuroplexError.self) { try decoder.decode([0, 7, 0, 0], exporter: "127.0.0.1") }
    }

    @Test("v9: a template, then data by it; data before its template is skipped and counted")
    func v9() throws {
        func header(_ body: [UInt8]) -> [UInt8] {
            var packet = Bytes()
            packet.u16(9); packet.u16(1); packet.u32(600_000); packet.u32(Self.exported); packet.u32(7); packet.u32(42)
            return packet.data + body
        }
        var data = Bytes()
        data.u16(300); data.u16(4 + 2 * 30)
        for (index, port) in [443, 53].enumerated() {
            data.ip("198.18.0.20"); data.ip("198.18.1.2"); data.u16(50000 + index); data.u16(port)
            data.u8(port == 53 ? 17 : 6); data.u32(10); data.u32(1200); data.u32(598_000); data.u32(599_000); data.u8(0x02)
        }
        var decoder = NetFlowDecoder()
        #expect(try decoder.decode(header(data.data), exporter: "10.0.0.1").isEmpty)
        #expect(decoder.skippedRecords == 1)

        var template = Bytes()
        let fields: [(Int, Int)] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 4), (1, 4), (22, 4), (21, 4), (6, 1)]
        template.u16(0); template.u16(4 + 4 + fields.count * 4); template.u16(300); template.u16(fields.count)
        for (type, length) in fields { template.u16(type); template.u16(length) }
        let flows = try decoder.decode(header(template.data + data.data), exporter: "10.0.0.1")
        #expect(flows.count == 2)
        #expect(flows[0].destinationPort == 443 && flows[0].transport == .tcp && flows[0].forwardBytes == 1200)
        #expect(flows[1].transport == .udp && flows[1].start == Double(Self.exported) - 2 && flows[1].duration == 1)
        // Templates belong to their exporter: another one's data is not read with it.
        #expect(try decoder.decode(header(data.data), exporter: "10.0.0.2").isEmpty)
    }

    @Test("IPFIX: templates with variable-length and enterprise fields, absolute times, reverse counters")
    func ipfix() throws {
        var sets = Bytes()
        // Template 256: sourceIPv4Address, destinationIPv4Address, sourceTransportPort, destinationTransportPort,
        // protocolIdentifier, packetDeltaCount (8), octetDeltaCount (8), flowStartMilliseconds, flowEndMilliseconds,
        // an enterprise field (4 bytes), a variable-length string (IE 82, interfaceName).
        let fields: [(Int, Int)] = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (2, 8), (1, 8), (152, 8), (153, 8)]
        var template = Bytes()
        template.u16(256); template.u16(fields.count + 2)
        for (type, length) in fields { template.u16(type); template.u16(length) }
        template.u16(0x8000 | 100); template.u16(4); template.u32(29305)
        template.u16(82); template.u16(65535)
        sets.u16(2); sets.u16(4 + template.data.count); sets.data += template.data

        var record = Bytes()
        record.ip("198.18.2.66"); record.ip("198.18.1.1"); record.u16(55555); record.u16(22); record.u8(6)
        record.u32(0); record.u32(3); record.u32(0); record.u32(180)
        let start = 1_700_000_000_250
        record.u32(start >> 32); record.u32(start & 0xFFFF_FFFF); record.u32((start + 1500) >> 32); record.u32((start + 1500) & 0xFFFF_FFFF)
        record.u32(0xDEAD_BEEF)
        record.u8(4); record.data += Array("eth0".utf8)
        sets.u16(256); sets.u16(4 + record.data.count); sets.data += record.data

        var message = Bytes()
        message.u16(10); message.u16(16 + sets.data.count); message.u32(Self.exported); message.u32(1); message.u32(7)
        var decoder = NetFlowDecoder()
        let flows = try decoder.decode(message.data + sets.data, exporter: "127.0.0.1")
        let flow = try #require(flows.first)
        #expect(flows.count == 1 && flow.source == "198.18.2.66" && flow.destinationPort == 22)
        #expect(flow.forwardPackets == 3 && flow.forwardBytes == 180)
        #expect(flow.start == 1_700_000_000.25 && flow.duration == 1.5)
        // A length that overruns the message is refused.
        var broken = message.data + sets.data
        broken[3] = 0xFF
        #expect(throws: NeuroplexError.self) { try decoder.decode(broken, exporter: "127.0.0.1") }
    }
}
