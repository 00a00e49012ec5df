import Foundation
import NeuroplexSentinel
import NeuroplexTestSupport
import Testing

/// The flow meter's packet and byte totals per conversation agree with `tshark -q -z conv,tcp -z conv,udp` on the
/// same capture (tshark comes from scripts/bootstrap). Flows of one 5-tuple (a conversation tshark keeps whole and
/// the meter may split at a timeout) are summed before comparing.
@Suite("Flow totals agree with tshark's conversation tables", .timeLimit(.minutes(3)))
struct TsharkAgreementTests {
    struct Totals: Equatable, CustomStringConvertible {
        /// Frames and bytes from the lower endpoint to the higher, and back.
        var framesUp = 0, bytesUp: Int64 = 0, framesDown = 0, bytesDown: Int64 = 0
        /// tshark writes bytes in kB past 10,000, truncated: how many bytes its figures may lack (0 when exact).
        var truncatedUp: Int64 = 0, truncatedDown: Int64 = 0
        var description: String { "\(framesUp) frames/\(bytesUp) B up, \(framesDown) frames/\(bytesDown) B down" }
    }

    /// "proto lowHost:port highHost:port"
    static func key(_ proto: String, _ a: String, _ aPort: Int, _ b: String, _ bPort: Int) -> (String, swapped: Bool) {
        let first = (IPAddress(a)!, aPort), second = (IPAddress(b)!, bPort)
        let swapped = (second.0, second.1) < (first.0, first.1)
        let (low, high) = swapped ? ((b, bPort), (a, aPort)) : ((a, aPort), (b, bPort))
        return ("\(proto) \(low.0):\(low.1) \(high.0):\(high.1)", swapped)
    }

    static func meterTotals(_ path: String) throws -> [String: Totals] {
        var totals: [String: Totals] = [:]
        _ = try CaptureFlows.read(path: path) { flow in
            guard flow.transport == 6 || flow.transport == 17 else { return }
            let (key, swapped) = Self.key(
                flow.transport == 6 ? "tcp" : "udp", flow.source.description, Int(flow.sourcePort),
                flow.destination.description, Int(flow.destinationPort))
            var entry = totals[key] ?? Totals()
            if swapped {
                entry.framesDown += flow.forwardPackets; entry.bytesDown += flow.forwardFrameBytes
                entry.framesUp += flow.backwardPackets; entry.bytesUp += flow.backwardFrameBytes
            } else {
                entry.framesUp += flow.forwardPackets; entry.bytesUp += flow.forwardFrameBytes
                entry.framesDown += flow.backwardPackets; entry.bytesDown += flow.backwardFrameBytes
            }
            totals[key] = entry
        }
        return totals
    }

    static func tsharkTotals(_ path: String) throws -> [String: Totals] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["tshark", "-n", "-r", path, "-q", "-z", "conv,tcp", "-z", "conv,udp"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        struct TsharkFailed: Error { var status: Int32 }
        guard process.terminationStatus == 0 else { throw TsharkFailed(status: process.terminationStatus) }
        var totals: [String: Totals] = [:]
        var proto = ""
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("TCP Conversations") { proto = "tcp" }
            if line.hasPrefix("UDP Conversations") { proto = "udp" }
            let words = line.split(separator: " ")
            guard words.count >= 9, words[1] == "<->" else { continue }
            func endpoint(_ word: Substring) -> (String, Int) {
                let colon = word.lastIndex(of: ":")!
                return (String(word[..<colon]), Int(word[word.index(after: colon)...])!)
            }
            func bytes(_ number: Substring, _ unit: Substring) -> (Int64, Int64) {
                let value = Int64(number.replacingOccurrences(of: ",", with: ""))!
                switch unit {
                case "kB": return (value * 1000, 1000)
                case "MB": return (value * 1_000_000, 1_000_000)
                default: return (value, 1)
                }
            }
            let (a, aPort) = endpoint(words[0]), (b, bPort) = endpoint(words[2])
            // Columns: A, <->, B, frames B→A, bytes, unit, frames A→B, bytes, unit, ...
            let (toA, unitToA) = bytes(words[4], words[5]), (toB, unitToB) = bytes(words[7], words[8])
            let (key, swapped) = Self.key(proto, a, aPort, b, bPort)
            var entry = totals[key] ?? Totals()
            let framesToA = Int(words[3])!, framesToB = Int(words[6])!
            if swapped {
                entry.framesUp += framesToA; entry.bytesUp += toA; entry.framesDown += framesToB; entry.bytesDown += toB
            } else {
                entry.framesUp += framesToB; entry.bytesUp += toB; entry.framesDown += framesToA; entry.bytesDown += toA
            }
            // A 5-tuple reused later is a line of its own: each line's truncation adds up.
            entry.truncatedUp += swapped ? unitToA - 1 : unitToB - 1
            entry.truncatedDown += swapped ? unitToB - 1 : unitToA - 1
            totals[key] = entry
        }
        return totals
    }

    static func captures() throws -> [(String, [UInt8])] {
        var mixed = CaptureBuilder(link: .vlan)
        mixed.conversation(100, "2001:db8::10", 40000, "2001:db8::1", 443, up: 300, down: [1200, 1400, 90])
        for index in 0..<30 { mixed.udp(101 + Double(index) * 0.01, "198.18.0.10", 5353, "198.18.1.1", 53, payload: 40 + index) }
        mixed.udp(102, "198.18.1.1", 53, "198.18.0.10", 5353, payload: 120)
        mixed.conversation(103, "198.18.0.11", 40001, "198.18.1.1", 22, up: 5000, down: Array(repeating: 1448, count: 12))
        var result = [("scenario", CaptureBuilder.scenario().pcap()), ("mixed", mixed.pcapng())]
        // The lab's labelled captures, when the repository has them.
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/sentinel")
        for name in (try? FileManager.default.contentsOfDirectory(atPath: fixtures.path)) ?? [] where name.hasSuffix(".pcap") {
            result.append((name, Array(try Data(contentsOf: fixtures.appendingPathComponent(name)))))
        }
        return result
    }

    @Test("per conversation: frames equal, bytes equal (within tshark's truncation of large figures)")
    func agree() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tshark-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (name, bytes) in try Self.captures() {
            let path = directory.appendingPathComponent(name).path
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            let ours = try Self.meterTotals(path)
            let theirs = try Self.tsharkTotals(path)
            #expect(!theirs.isEmpty, "tshark listed no conversations in \(name)")
            #expect(Set(ours.keys) == Set(theirs.keys), "\(name): conversations differ")
            for (key, expected) in theirs {
                guard let got = ours[key] else { continue }
                // tshark truncates to its unit (134,587 bytes print as "134 kB"): ours is the figure or a little more.
                let agrees = got.framesUp == expected.framesUp && got.framesDown == expected.framesDown
                    && (0...expected.truncatedUp).contains(got.bytesUp - expected.bytesUp)
                    && (0...expected.truncatedDown).contains(got.bytesDown - expected.bytesDown)
                #expect(agrees, "\(name) \(key): ours \(got), tshark \(expected)")
            }
        }
    }
}
