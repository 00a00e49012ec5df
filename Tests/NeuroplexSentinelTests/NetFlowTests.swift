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

@Suite("NetFlow v5/v9 and IPFIX decoding", .timeLimit(.minutes(3)))
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

@Suite("Parsers survive damaged input", .timeLimit(.minutes(3)))
struct ParserRobustnessTests {
    /// A small deterministic generator (SplitMix64), so that a failure can be replayed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Flips, truncates and splices bytes of valid inputs; every outcome must be a result or a thrown error.
    static func mutations(of seed: [UInt8], count: Int, using generator: inout Generator) -> [[UInt8]] {
        (0..<count).map { _ in
            var bytes = seed
            switch Int.random(in: 0..<4, using: &generator) {
            case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &generator) where !bytes.isEmpty {
                    bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                }
            case 2: bytes += (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            default:
                if bytes.count > 8 {
                    let at = Int.random(in: 4..<bytes.count, using: &generator)
                    bytes.insert(contentsOf: [0xFF, 0xFF], at: at)
                }
            }
            return bytes
        }
    }

    @Test("20,000 damaged NetFlow/IPFIX packets, event lines and flow CSVs: errors, never a crash")
    func damaged() throws {
        var generator = Generator(state: 2026_11_24)
        var v5 = [UInt8](repeating: 0, count: 24 + 48)
        v5[1] = 5; v5[3] = 1
        var v9 = [UInt8]([0, 9, 0, 1, 0, 0, 0, 1, 0x65, 0x53, 0xF1, 0, 0, 0, 0, 1, 0, 0, 0, 1])
        v9 += [0, 0, 0, 16, 1, 0, 0, 2, 0, 8, 0, 4, 0, 12, 0, 4]  // template 256: two IPv4 addresses
        v9 += [1, 0, 0, 12, 198, 18, 0, 1, 198, 18, 0, 2]
        var ipfix = [UInt8]([0, 10, 0, 0, 0x65, 0x53, 0xF1, 0, 0, 0, 0, 1, 0, 0, 0, 1])
        ipfix += [0, 2, 0, 20, 1, 0, 0, 3, 0x80, 100, 0, 4, 0, 0, 0x72, 0x79, 0, 82, 0xFF, 0xFF]
        ipfix += [1, 0, 0, 13, 1, 2, 3, 4, 4, 0x65, 0x74, 0x68, 0x30]
        ipfix[3] = UInt8(ipfix.count)
        var decoded = 0
        for seed in [v5, v9, ipfix] {
            var decoder = NetFlowDecoder()
            for bytes in Self.mutations(of: seed, count: 5000, using: &generator) {
                if let flows = try? decoder.decode(bytes, exporter: "127.0.0.1") { decoded += flows.count }
            }
        }
        #expect(decoded > 0)
        let lines = Array(#"""
            {"eventid":"cowrie.login.failed","username":"root","src_ip":"198.18.2.88","timestamp":"2026-11-24T01:00:01Z"}
            <38>1 2026-11-24T01:00:05.000Z victim sshd 812 - [a b="c\"]"] Failed password for root from 198.18.2.99 port 1 ssh2
            CEF:0|Acme|IDS|2.1|200|Login failed|5|src=198.18.2.66 dpt=22 msg=a\=b\\c
            """#.utf8)
        let csv = Array("Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration\n198.18.0.1,1,198.18.0.2,2,6,1700000000,5\n".utf8)
        for bytes in Self.mutations(of: lines, count: 2500, using: &generator) {
            _ = EventLogs.parse(String(decoding: bytes, as: UTF8.self))
        }
        for bytes in Self.mutations(of: csv, count: 2500, using: &generator) {
            _ = try? FlowImports.cicFlowMeter(String(decoding: bytes, as: UTF8.self))
            _ = try? FlowImports.zeek("#fields\tts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n" + String(decoding: bytes, as: UTF8.self))
        }
    }
}
