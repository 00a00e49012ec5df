import Foundation
import NeuroplexSentinel
import Testing

/// The lab's committed captures (lab/, Tests/Fixtures/sentinel/lab-*.pcap with their manifests), read as a user of
/// `POST /sentinel/datasets` and the default rules would: every attack in a manifest labels flows of its capture,
/// and the rules name the attackers, not the benign clients.
@Suite("The lab's labelled captures", .timeLimit(.minutes(3)))
struct LabFixtureTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/sentinel")

    struct Read {
        var manifest: [SentinelCaptures.LabelEntry]
        var flows: [FlowRecord]
    }

    static func read(_ name: String) throws -> Read {
        let manifest = try JSONDecoder().decode(
            [SentinelCaptures.LabelEntry].self,
            from: Data(contentsOf: fixtures.appendingPathComponent("\(name).labels.json")))
        var flows: [FlowRecord] = []
        let summary = try CaptureFlows.read(path: fixtures.appendingPathComponent("\(name).pcap").path) { flows.append($0) }
        #expect(summary.damaged == nil, "\(name).pcap is damaged: \(String(describing: summary.damaged))")
        return Read(manifest: manifest, flows: flows)
    }

    @Test("each manifest entry labels flows; each class has flows to learn from", arguments: ["lab-train", "lab-test"])
    func labelsLandOnFlows(name: String) throws {
        let lab = try Self.read(name)
        #expect(Set(lab.manifest.map(\.label)) == ["portscan", "synflood", "ssh-bruteforce", "slowhttp"])
        var perLabel: [String: Int] = [:]
        for entry in lab.manifest {
            let matched = lab.flows.filter { entry.matches($0) }.count
            #expect(matched > 0, "\(name): no flow matches \(entry)")
            perLabel[entry.label, default: 0] += matched
        }
        let benign = lab.flows.filter { flow in !lab.manifest.contains { $0.matches(flow) } }
        perLabel["benign"] = benign.count
        for (label, count) in perLabel { #expect(count >= 20, "\(name): only \(count) \(label) flows") }
        // Attackers have addresses of their own (198.18.2.0/24): flows left benign never touch one.
        #expect(!benign.contains { "\($0.source)".hasPrefix("198.18.2.") || "\($0.destination)".hasPrefix("198.18.2.") })
    }

    @Test("the default rules alert on the scanner (T1046), the flood (T1498) and the brute force (T1110), and on no benign client")
    func rulesNameTheAttackers() throws {
        let lab = try Self.read("lab-train")
        let observations = lab.flows.enumerated().map { $0.element.observation(id: "\($0.offset + 1)") }
        let alerts = Sentinel.detect(flows: observations)
        func attackers(_ label: String) -> Set<String> { Set(lab.manifest.filter { $0.label == label }.map(\.attacker)) }
        let scanners = Set(alerts.filter { $0.technique == "T1046" }.map(\.source))
        // The TCP scanners (SYN and connect) probe hundreds of ports; the UDP scan's few dozen may stay under the rule.
        #expect(scanners.isSubset(of: attackers("portscan")) && scanners.count >= 2, "T1046 alerts from \(scanners)")
        #expect(alerts.contains { $0.technique == "T1498" && attackers("synflood").contains($0.source) })
        #expect(alerts.contains { $0.technique == "T1110" && attackers("ssh-bruteforce").contains($0.source) })
        let benignClients = alerts.filter { $0.source.hasPrefix("198.18.1.") }
        #expect(benignClients.isEmpty, "alerts on benign clients: \(benignClients.map { "\($0.title) \($0.source)" })")
    }
}
