import NeuroplexSentinel
import NeuroplexTestSupport
import Testing

/// Reads `bytes` as a capture fed in chunks of `chunk` bytes; returns the summary and the flows in emission order.
func meter(_ bytes: [UInt8], chunk: Int = 1 << 20, configuration: FlowMeter.Configuration = .init()) -> (CaptureSummary, [FlowRecord]) {
    let reader = CaptureFlows(configuration: configuration)
    var flows: [FlowRecord] = []
    bytes.withUnsafeBytes { all in
        var start = 0
        while start < all.count {
            let end = min(all.count, start + chunk)
            reader.feed(UnsafeRawBufferPointer(rebasing: all[start..<end])) { flows.append($0) }
            start = end
        }
    }
    let summary = reader.finish { flows.append($0) }
    return (summary, flows)
}

@Suite("Captures: pcap and pcapng reading, packet decoding, the flow meter", .timeLimit(.minutes(3)))
struct CaptureTests {
    @Test("the acceptance scenario: 580 packets, 20 conversations of 5 + 4 packets, 200 refused probes")
    func scenario() {
        let (summary, flows) = meter(CaptureBuilder.scenario().pcap())
        #expect(summary.packets == 580 && summary.damaged == nil && summary.format == "pcap")
        #expect(summary.flows == 220 && flows.count == 220)
        let benign = flows.filter { $0.sourcePort == 40000 }
        #expect(benign.count == 1)
        if let flow = benign.first {
            #expect(flow.forwardPackets == 5 && flow.backwardPackets == 4)
            #expect(flow.forwardBytes == 100 && flow.backwardBytes == 2000)
            #expect(flow.end == .fin && flow.source.description == "198.18.0.10" && flow.destinationPort == 80)
            #expect(flow.duration == 8000 && flow.syn == 2 && flow.fin == 2 && flow.initialForwardWindow == 64240)
            #expect(flow.forwardFrameBytes == 5 * 54 + 100)
        }
        let probes = flows.filter { $0.source.description == "198.18.2.66" }
        #expect(probes.count == 200 && probes.allSatisfy { $0.end == .rst && $0.forwardPackets == 1 && $0.backwardPackets == 1 })
    }

    @Test("chunk boundaries anywhere give the same flows", arguments: [1, 7, 16, 25, 4096])
    func chunks(size: Int) {
        let bytes = CaptureBuilder.scenario().pcap()
        let (whole, expected) = meter(bytes)
        let (summary, flows) = meter(bytes, chunk: size)
        #expect(summary == whole)
        #expect(flows == expected)
    }

    @Test("pcapng (microsecond and nanosecond stamps) reads as the same flows as pcap")
    func pcapng() {
        let capture = CaptureBuilder.scenario()
        let (_, expected) = meter(capture.pcap())
        for nanoseconds in [false, true] {
            let (summary, flows) = meter(capture.pcapng(nanoseconds: nanoseconds), chunk: 333)
            #expect(summary.format == "pcapng" && summary.packets == 580 && summary.damaged == nil)
            #expect(flows == expected)
        }
    }

    @Test("links: VLAN-tagged Ethernet, Linux cooked v1 and v2, raw IP; IPv6 and UDP", arguments: [
        CaptureBuilder.Link.ethernet, .vlan, .linuxCooked, .linuxCooked2, .rawIP,
    ])
    func links(link: CaptureBuilder.Link) {
        var capture = CaptureBuilder(link: link)
        capture.conversation(100, "2001:db8::10", 40000, "2001:db8::1", 443, up: 300, down: [1200])
        capture.udp(101, "198.18.0.10", 5353, "198.18.1.1", 53, payload: 40)
        capture.udp(101.01, "198.18.1.1", 53, "198.18.0.10", 5353, payload: 120)
        let (summary, flows) = meter(capture.pcap())
        #expect(summary.packets == 10 && summary.packetsWithoutFlow == 0)
        #expect(flows.count == 2)
        let tcp = flows.first { $0.transport == 6 }
        #expect(tcp?.source.description == "2001:db8::10" && tcp?.forwardBytes == 300 && tcp?.backwardBytes == 1200)
        #expect(tcp?.forwardPackets == 5 && tcp?.backwardPackets == 3)
        let udp = flows.first { $0.transport == 17 }
        #expect(udp?.forwardBytes == 40 && udp?.backwardBytes == 120 && udp?.end == .captureEnd)
    }

    @Test("a non-IP frame is counted but belongs to no flow")
    func nonIP() {
        var capture = CaptureBuilder()
        capture.arp(1)
        capture.refused(2, "198.18.2.66", 5555, "198.18.1.1", 22)
        let (summary, flows) = meter(capture.pcap())
        #expect(summary.packets == 3 && summary.packetsWithoutFlow == 1 && flows.count == 1)
    }

    @Test("a truncated capture is read up to the cut record, which is named by offset")
    func truncated() {
        let bytes = CaptureBuilder.scenario().pcap()
        let cut = Array(bytes.prefix(bytes.count - 700))
        for chunk in [64, 1 << 20] {
            let (summary, flows) = meter(cut, chunk: chunk)
            let damage = summary.damaged
            #expect(damage != nil)
            #expect(summary.packets > 400 && summary.packets < 580)
            #expect(flows.count == Int(summary.flows))
            // The cut falls inside the last (1,070-byte) record: everything before it was read.
            if let damage {
                #expect(damage.offset < cut.count && damage.offset > cut.count - 1070)
                #expect(damage.reason.contains("ends inside a record"))
            }
        }
        let (empty, _) = meter(Array(bytes.prefix(10)))
        #expect(empty.damaged?.offset == 0 && empty.packets == 0)
    }

    @Test("damaged records: garbage, an impossible length, a bad pcapng block")
    func damaged() {
        let (garbage, _) = meter(Array("this is not a capture".utf8))
        #expect(garbage.damaged?.offset == 0 && garbage.damaged?.reason.contains("not a pcap") == true)
        #expect(CaptureReader.detect(Array("this".utf8)) == nil)
        #expect(CaptureReader.detect([0xD4, 0xC3, 0xB2, 0xA1]) == .pcap)

        var bytes = CaptureBuilder.scenario().pcap()
        // The third record's captured length (after the 24-byte header and two 16 + 54-byte records).
        let third = 24 + 2 * (16 + 54)
        bytes[third + 8] = 0xFF; bytes[third + 9] = 0xFF; bytes[third + 10] = 0xFF
        let (summary, _) = meter(bytes)
        #expect(summary.packets == 2 && summary.damaged?.offset == third)

        var ng = CaptureBuilder.scenario().pcapng()
        ng[ng.count - 1] = 0x7F  // the last block's trailing length
        let (ngSummary, _) = meter(ng)
        #expect(ngSummary.packets == 579 && ngSummary.damaged?.reason.contains("trailing length") == true)
    }

    @Test("the hard timeout splits a long flow; gaps longer than the activity timeout are idle periods")
    func timeouts() {
        var capture = CaptureBuilder()
        for second in [0.0, 1, 2, 10, 11, 130, 131] {
            capture.udp(1000 + second, "198.18.0.10", 4000, "198.18.1.1", 9000, payload: 10)
        }
        let (_, flows) = meter(capture.pcap())
        #expect(flows.count == 2)
        #expect(flows[0].forwardPackets == 5 && flows[0].end == .timeout && flows[1].forwardPackets == 2)
        #expect(flows[0].idle.count == 1 && flows[0].idle.mean == 8_000_000)
        #expect(flows[0].active.count == 2 && flows[0].active.maximum == 2_000_000)
    }

    @Test("flows past the hard timeout leave memory as capture time passes")
    func boundedMemory() {
        var capture = CaptureBuilder()
        for index in 0..<1000 { capture.udp(Double(index), "198.18.0.10", 1000 + index, "198.18.1.1", 53, payload: 10) }
        let reader = CaptureFlows(configuration: .init(flowTimeout: 10_000_000))
        var ended = 0
        capture.pcap().withUnsafeBytes { reader.feed($0) { _ in ended += 1 } }
        #expect(reader.liveFlows <= 11 && ended >= 989)
    }

    @Test("CSV with CICFlowMeter's columns, one row per flow")
    func csv() {
        let (_, flows) = meter(CaptureBuilder.scenario().pcap())
        var writer = FlowCSVWriter()
        var out = Array(FlowCSVWriter.header.utf8)
        for flow in flows { writer.append(flow, to: &out) }
        let lines = String(decoding: out, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 221)
        let header = lines[0].split(separator: ",").map(String.init)
        #expect(header.count == 84 && header.contains("Flow Duration") && header.contains("Tot Fwd Pkts") && header.last == "Label")
        let row = lines.first { $0.contains("-40000-") }.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let value = { (name: String) in row?[header.firstIndex(of: name)!] }
        #expect(value("Flow ID") == "198.18.0.10-198.18.1.1-40000-80-6")
        #expect(value("Tot Fwd Pkts") == "5" && value("Tot Bwd Pkts") == "4" && value("TotLen Fwd Pkts") == "100")
        #expect(value("Timestamp") == "14/11/2023 10:13:20 PM")
        #expect(value("Flow Duration") == "8000" && value("Bwd Pkt Len Max") == "1000")
        #expect(FlowRecord.featureNames.count == 78)
    }
}
