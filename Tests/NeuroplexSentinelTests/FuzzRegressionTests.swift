import NeuroplexSentinel
import Testing

/// Inputs the fuzzers (fuzz/run.sh) found crashing a parser, reduced to what matters; each must now be read as damage.
@Suite("Fuzzer findings", .timeLimit(.minutes(3)))
struct FuzzRegressionTests {
    /// Little-endian pcapng: a section header, an interface (in microseconds, or whole seconds with if_tsresol 0),
    /// and Enhanced Packet Blocks with the given stamps and no captured bytes.
    static func pcapng(stamps: [UInt64], seconds: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        func u16(_ v: Int) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: UInt32) { for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(v >> UInt32(shift) & 0xFF)) } }
        u32(0x0A0D_0D0A); u32(28); u32(0x1A2B_3C4D); u16(1); u16(0); u32(0xFFFF_FFFF); u32(0xFFFF_FFFF); u32(28)
        if seconds {
            u32(1); u32(32); u16(1); u16(0); u32(65535); u16(9); u16(1); bytes += [0, 0, 0, 0]; u32(0); u32(32)
        } else {
            u32(1); u32(20); u16(1); u16(0); u32(65535); u32(20)
        }
        for stamp in stamps {
            u32(6); u32(32); u32(0); u32(UInt32(stamp >> 32)); u32(UInt32(stamp & 0xFFFF_FFFF)); u32(0); u32(60); u32(32)
        }
        return bytes
    }

    static func summary(_ bytes: [UInt8]) -> CaptureSummary {
        let flows = CaptureFlows()
        bytes.withUnsafeBytes { flows.feed($0) { _ in } }
        return flows.finish { _ in }
    }

    /// Found by the capture target: a stamp past Int64's microseconds (whole seconds × 10^6 overflowed in the
    /// reader), or one that became negative (the meter's time differences overflowed). Both stopped the process.
    @Test("a pcapng stamp too large for microseconds is damage, not an arithmetic overflow", arguments: [
        (UInt64(1) << 62, true), (UInt64(1) << 63, false), (UInt64.max, false),
    ])
    func hugeTimeStamp(stamp: UInt64, seconds: Bool) {
        let first: UInt64 = seconds ? 1_796_418_190 : 1_796_418_190_000_000
        let header = 28 + (seconds ? 32 : 20)
        let summary = Self.summary(Self.pcapng(stamps: [first, stamp], seconds: seconds))
        #expect(summary.packets == 1)
        #expect(summary.damaged?.reason.contains("time stamp") == true, "\(String(describing: summary.damaged))")
        #expect(summary.damaged?.offset == header + 32)
    }
}

@Suite("Fuzzer findings: NetFlow", .timeLimit(.minutes(3)))
struct NetFlowFuzzRegressionTests {
    /// Found by the netflow target: an IPFIX template with no fields made records of no bytes, so its data set was
    /// read as records forever (one 132-byte UDP packet took the collector's memory). Now such a template withdraws
    /// the template id, as RFC 7011 says, and its data is skipped as data without a template.
    @Test("an IPFIX template of no fields withdraws the template; its data is skipped, not read forever")
    func emptyTemplate() throws {
        var sets = Bytes()
        sets.u16(2); sets.u16(8); sets.u16(256); sets.u16(0)  // template 256, no fields
        sets.u16(256); sets.u16(4 + 8); sets.u32(1); sets.u32(2)  // 8 bytes of data by it
        var message = Bytes()
        message.u16(10); message.u16(16 + sets.data.count); message.u32(1_796_418_190); message.u32(1); message.u32(7)
        var decoder = NetFlowDecoder()
        let flows = try decoder.decode(message.data + sets.data, exporter: "198.18.0.1")
        #expect(flows.isEmpty)
        #expect(decoder.skippedRecords == 1)
    }
}

extension NetFlowFuzzRegressionTests {
    /// Found by the netflow target: a template giving a port 8 bytes, with the top bit set in the data, overflowed
    /// the conversion to Int. A port is 16 bits: its low 16 bits are read.
    @Test("a v9 port field of 8 bytes is read as its low 16 bits, without a trap")
    func widePort() throws {
        var packet = Bytes()
        packet.u16(9); packet.u16(2); packet.u32(600_000); packet.u32(1_796_418_190); packet.u32(7); packet.u32(42)
        packet.u16(0); packet.u16(4 + 4 + 2 * 4); packet.u16(300); packet.u16(2)
        packet.u16(7); packet.u16(8); packet.u16(11); packet.u16(2)  // source port in 8 bytes, destination port in 2
        packet.u16(300); packet.u16(4 + 10); packet.u32(0xFFFF_FFFF); packet.u32(0xFFFF_0016); packet.u16(80)
        var decoder = NetFlowDecoder()
        let flows = try decoder.decode(packet.data, exporter: "198.18.0.1")
        #expect(flows.count == 1 && flows.first?.sourcePort == 22 && flows.first?.destinationPort == 80)
    }
}

@Suite("Fuzzer findings: flow records and events", .timeLimit(.minutes(3)))
struct ImportFuzzRegressionTests {
    /// Found by the cic target: a count column holding a number past Int's range stopped the process (Int(Double)
    /// traps); "Infinity" and "NaN", which CICFlowMeter itself writes in some columns, did the same.
    @Test("CICFlowMeter CSV: counts of 1e300, Infinity or NaN are read without a trap", arguments: ["1e300", "Infinity", "NaN", "-1e30"])
    func hugeCount(value: String) throws {
        let csv = "Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts\n"
            + "198.18.2.1,40000,198.18.0.10,80,6,1796418190,10,\(value),1\n"
        let (flows, rejected) = try FlowImports.cicFlowMeter(csv)
        #expect(flows.count + rejected.count == 1)
    }
}
