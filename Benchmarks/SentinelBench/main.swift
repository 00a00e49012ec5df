// Sentinel's packet path, measured: `sentinel-bench generate FILE --packets N --flows C` writes a synthetic capture
// (TCP conversations of 10 packets, C of them open at once); `sentinel-bench meter FILE` times reading, decoding and
// metering flows; `sentinel-bench pipeline FILE` adds features, the rule engine and host baselines. bench/sentinel.sh
// runs them beside tshark on the same files.
import Foundation
import NeuroplexSentinel

#if canImport(Glibc)
import Glibc
#endif

func peakResidentMB() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func generate(path: String, packets: Int, flows concurrent: Int) throws {
    FileManager.default.createFile(atPath: path, contents: nil)
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var out: [UInt8] = []
    out.reserveCapacity(8 << 20)
    func le32(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    func le16(_ value: UInt16) { withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) } }
    func be16(_ value: UInt16) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
    func be32(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
    le32(0xA1B2_C3D4); le16(2); le16(4); le32(0); le32(0); le32(65535); le32(1)
    // Each conversation: SYN, SYN-ACK, ACK, request (300 B), 4 response segments (1448 B), FIN-ACK ×2... 10 packets.
    let script: [(forward: Bool, flags: UInt8, payload: Int)] = [
        (true, 0x02, 0), (false, 0x12, 0), (true, 0x10, 0), (true, 0x18, 300), (false, 0x10, 1448), (false, 0x10, 1448),
        (false, 0x18, 900), (true, 0x11, 0), (false, 0x11, 0), (true, 0x10, 0),
    ]
    var step = [Int](repeating: 0, count: concurrent)
    var serial = [Int](repeating: 0, count: concurrent)
    for slot in 0..<concurrent { serial[slot] = slot }
    var next = concurrent
    var time: UInt64 = 1_700_000_000_000_000
    let payload = [UInt8](repeating: 0x61, count: 1448)
    // Spread the packets over at most 100 s of capture time, below the 120 s flow timeout.
    let tick = UInt64(max(1, min(10, 100_000_000 / max(1, packets))))
    for index in 0..<packets {
        let slot = index % concurrent
        let flow = serial[slot]
        let (forward, flags, size) = script[step[slot]]
        let client = UInt32(0xC612_0000) | UInt32(flow & 0xFFFF)  // 198.18.x.x
        let server = UInt32(0xC613_0000) | UInt32(flow >> 16 & 0xFF)  // 198.19.0.x
        let clientPort = UInt16(1024 + (flow >> 16) % 60000)
        let (source, destination) = forward ? (client, server) : (server, client)
        let (sourcePort, destinationPort) = forward ? (clientPort, UInt16(443)) : (UInt16(443), clientPort)
        let frame = 54 + size
        le32(UInt32(time / 1_000_000)); le32(UInt32(time % 1_000_000)); le32(UInt32(frame)); le32(UInt32(frame))
        out += [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]
        out += [0x45, 0]; be16(UInt16(40 + size)); out += [0, 0, 0x40, 0, 64, 6, 0, 0]; be32(source); be32(destination)
        be16(sourcePort); be16(destinationPort); be32(1); be32(1); out += [0x50, flags]; be16(64240); out += [0, 0, 0, 0]
        out += payload[0..<size]
        time += tick
        step[slot] += 1
        if step[slot] == script.count {
            step[slot] = 0
            serial[slot] = next
            next += 1
        }
        if out.count > 8 << 20 {
            try handle.write(contentsOf: out)
            out.removeAll(keepingCapacity: true)
        }
    }
    try handle.write(contentsOf: out)
}

func meter(path: String, pipeline: Bool) throws {
    var best = Double.infinity
    var summary: CaptureSummary?
    var alerts = 0
    for _ in 0..<3 {
        var observations: [FlowObservation] = []
        var features: [Double] = []
        var checksum = 0.0
        let elapsed = try seconds {
            summary = try CaptureFlows.read(path: path) { flow in
                if pipeline {
                    flow.features(into: &features)
                    checksum += features[2]
                    observations.append(flow.observation(id: "\(flow.serial)"))
                }
            }
            if pipeline { alerts = Sentinel.latest(Sentinel.detect(flows: observations)).count }
        }
        if checksum.isNaN { print("") }
        best = min(best, elapsed)
    }
    let packets = summary?.packets ?? 0
    print(String(
        format: "%@: %d packets, %lld flows, %@best of 3 %.3f s = %.0f packets/s; peak RSS %.0f MB",
        pipeline ? "pipeline" : "meter", packets, summary?.flows ?? 0, pipeline ? "\(alerts) alerts, " : "", best,
        Double(packets) / best, peakResidentMB()))
}

let arguments = CommandLine.arguments
func option(_ name: String, _ fallback: Int) -> Int {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) else { return fallback }
    return value
}
guard arguments.count >= 3 else {
    print("usage: sentinel-bench generate FILE [--packets N] [--flows C] | meter FILE | pipeline FILE")
    exit(2)
}
switch arguments[1] {
case "generate": try generate(path: arguments[2], packets: option("--packets", 5_000_000), flows: option("--flows", 10_000))
case "meter": try meter(path: arguments[2], pipeline: false)
case "pipeline": try meter(path: arguments[2], pipeline: true)
default: print("unknown command \(arguments[1])"); exit(2)
}
