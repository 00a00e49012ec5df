// libFuzzer entry points for Sentinel's parsers. fuzz/run.sh compiles this file together with the parsers' own
// sources (and NeuroplexCore's) into one module with -sanitize=fuzzer,address, once per target (-D FUZZ_<TARGET>).
// Each target checks, beyond "no crash", an invariant a user would notice if it broke.

#if FUZZ_CAPTURE
/// pcap/pcapng bytes through the reader, decoder and flow meter: whole, and again fed in two chunks split where the
/// first byte says. Both readings must give the same flows (chunk boundaries are invisible) and every flow's
/// features must be finite.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCapture(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    func flows(split: Int?) -> ([String], CaptureSummary) {
        var out: [String] = []
        var features: [Double] = []
        let reader = CaptureFlows()
        let emit: (FlowRecord) -> Void = { flow in
            flow.features(into: &features)
            precondition(features.allSatisfy { $0.isFinite }, "a non-finite feature")
            out.append("\(flow.source):\(flow.sourcePort)>\(flow.destination):\(flow.destinationPort)/\(flow.transport) \(flow.packets)")
        }
        if let split, split < size {
            reader.feed(UnsafeRawBufferPointer(rebasing: bytes[0..<split]), emit: emit)
            if reader.damage == nil { reader.feed(UnsafeRawBufferPointer(rebasing: bytes[split...]), emit: emit) }
        } else {
            reader.feed(bytes, emit: emit)
        }
        return (out, reader.finish(emit: emit))
    }
    let (whole, summary) = flows(split: nil)
    let (parts, partSummary) = flows(split: size > 0 ? Int(data[0]) * size / 256 : nil)
    precondition(whole == parts, "flows differ when the capture is fed in two chunks")
    precondition(summary.packets == partSummary.packets && summary.damaged == partSummary.damaged, "summaries differ")
    return 0
}
#endif

#if FUZZ_NETFLOW
/// A sequence of export packets, each as a 2-byte big-endian length and the packet, through one decoder (templates
/// from earlier packets apply to later ones). Errors are fine; crashes and hangs are not.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzNetFlow(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    var decoder = NetFlowDecoder()
    var at = 0
    while at + 2 <= bytes.count {
        let length = Int(bytes[at]) << 8 | Int(bytes[at + 1])
        let packet = Array(bytes[(at + 2)..<min(bytes.count, at + 2 + length)])
        at += 2 + length
        _ = try? decoder.decode(packet, exporter: "198.18.0.1")
    }
    return 0
}
#endif

#if FUZZ_ZEEK || FUZZ_CIC
/// Text as a Zeek conn.log (zeek) or as a CICFlowMeter CSV (cic).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFlowImport(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    #if FUZZ_ZEEK
    let parsed = try? FlowImports.zeek(text)
    #else
    let parsed = try? FlowImports.cicFlowMeter(text)
    #endif
    if let (flows, rejected) = parsed {
        precondition(flows.count + rejected.count <= text.count + 1, "more results than lines")
    }
    return 0
}
#endif
