import NeuroplexCore
import NeuroplexSentinel
import NeuroplexTestSupport
import Synchronization
import Testing

/// Flows shaped like the acceptance capture's (and the lab's): benign conversations, and attacks.
enum Traffic {
    static let t0 = 1_700_000_000.0

    /// A completed HTTP conversation: 5 packets out, 4 back, 100 bytes up.
    static func conversation(_ index: Int, client: String = "198.18.0.10", server: String = "198.18.1.1", port: Int = 80, at time: Double) -> FlowObservation {
        FlowObservation(
            id: "c\(index)", start: time, end: time + 0.01, source: client, sourcePort: 40000 + index, destination: server,
            destinationPort: port, transport: .tcp, forwardPackets: 5, backwardPackets: 4, forwardBytes: 100,
            backwardBytes: 2000, synCount: 2, rstCount: 0, finCount: 2)
    }

    /// A SYN answered by RST: one probe of a scan, or one packet of a flood.
    static func refused(_ id: String, from source: String, port: Int, to target: String = "198.18.1.1", at time: Double) -> FlowObservation {
        FlowObservation(
            id: id, start: time, end: time + 0.0002, source: source, sourcePort: 55555, destination: target,
            destinationPort: port, transport: .tcp, forwardPackets: 1, backwardPackets: 1, synCount: 1, rstCount: 1)
    }

    /// The acceptance scenario: 20 benign conversations, then a 200-port scan from 198.18.2.66.
    static var scenario: [FlowObservation] {
        (0..<20).map { conversation($0, at: t0 + Double($0) * 0.5) }
            + (1...200).map { refused("s\($0)", from: "198.18.2.66", port: $0, at: t0 + 3 + Double($0) * 0.002) }
    }
}

@Suite("Detection rules, alerts and incidents", .timeLimit(.minutes(3)))
struct DetectionTests {
    @Test("the default rules alert once on a port scan (T1046) and never on the benign client")
    func portScan() throws {
        var engine = RuleEngine()
        var alerts: [String: Alert] = [:]
        for flow in Traffic.scenario.sorted(by: { $0.start < $1.start }) {
            for alert in engine.observe(flow) { alerts[alert.id] = alert }
        }
        #expect(alerts.count == 1, "\(alerts.values.map(\.title))")
        let scan = try #require(alerts.values.first)
        #expect(scan.title == "Port scan" && scan.technique == "T1046" && scan.severity == .medium)
        #expect(scan.source == "198.18.2.66" && scan.destination == "198.18.1.1")
        #expect(!alerts.values.contains { $0.source == "198.18.0.10" })
        // Updated while the scan goes on, not repeated: every probe counted, evidence capped, measure at its peak.
        #expect(scan.count == 200)
        #expect(scan.evidence.flowIds.count == Alert.Evidence.maxIDs && scan.evidence.flowIds.first == "s1")
        #expect(scan.evidence.rule == "port-scan" && scan.evidence.measured == 200 && scan.evidence.threshold == 20)
    }

    @Test("a scan spread wider than the window does not alert; a new burst after the throttle is a new alert")
    func windowsAndThrottle() {
        var engine = RuleEngine(throttleSeconds: 60)
        // 30 ports, one every second: never 20 distinct ports within 10 s.
        let slow = (1...30).flatMap { engine.observe(Traffic.refused("w\($0)", from: "198.18.3.3", port: $0, at: Traffic.t0 + Double($0))) }
        #expect(slow.isEmpty)
        let first = Set((1...25).flatMap { engine.observe(Traffic.refused("a\($0)", from: "198.18.3.4", port: $0, at: Traffic.t0 + Double($0) * 0.01)) }.map(\.id))
        let again = Set((1...25).flatMap { engine.observe(Traffic.refused("b\($0)", from: "198.18.3.4", port: $0, at: Traffic.t0 + 500 + Double($0) * 0.01)) }.map(\.id))
        #expect(first.count == 1 && again.count == 1 && first != again)
    }

    @Test("a SYN flood alerts by target (T1498); SSH brute force (T1110) by flows and by failed logins")
    func floodsAndBruteForce() {
        var engine = RuleEngine()
        // 300 half-open connections to port 80 from spoofed sources within 3 s.
        let flood = (0..<300).flatMap { index in
            engine.observe(Traffic.refused("f\(index)", from: "198.19.\(index / 200).\(index % 200)", port: 80, at: Traffic.t0 + Double(index) * 0.01))
        }
        #expect(Set(flood.map(\.id)).count == 1)
        #expect(flood.last?.technique == "T1498" && flood.last?.destination == "198.18.1.1" && flood.last?.destinationPort == 80)

        // 20 short ssh connections from one source within 40 s.
        let ssh = (0..<20).flatMap { index in
            engine.observe(Traffic.conversation(index, client: "198.18.2.77", port: 22, at: Traffic.t0 + 100 + Double(index) * 2))
        }
        #expect(Set(ssh.map(\.id)).count == 1 && ssh.last?.technique == "T1110" && ssh.last?.source == "198.18.2.77")
        // A few benign ssh logins stay quiet.
        let benign = (0..<5).flatMap { engine.observe(Traffic.conversation($0, client: "198.18.0.11", port: 22, at: Traffic.t0 + 200 + Double($0) * 10)) }
        #expect(benign.isEmpty)

        // Honeypot events: 6 failed logins in a minute.
        let logins = (0..<6).flatMap { index in
            engine.observe(SecurityEvent(id: "e\(index)", time: Traffic.t0 + 300 + Double(index), kind: "login.failed", source: "198.18.2.88", destinationPort: 22, user: "root"))
        }
        #expect(logins.last?.title == "Repeated failed logins" && logins.last?.evidence.eventIds.count == 6)
    }

    @Test("incidents group an attacker's alerts, keep severity and techniques, and report them as Markdown")
    func incidents() throws {
        var engine = RuleEngine()
        var grouper = IncidentGrouper(gapSeconds: 600)
        var alerts: [String: Alert] = [:]
        var flows = Traffic.scenario
        flows += (0..<20).map { Traffic.conversation(100 + $0, client: "198.18.2.66", server: "198.18.1.2", port: 22, at: Traffic.t0 + 10 + Double($0)) }
        for flow in flows.sorted(by: { $0.start < $1.start }) {
            for alert in engine.observe(flow) {
                alerts[alert.id] = alert
                grouper.add(alert)
            }
        }
        #expect(grouper.incidents.count == 1)
        var incident = try #require(grouper.incidents.first)
        #expect(incident.attacker == "198.18.2.66" && incident.alertIds.count == 2)
        #expect(incident.targets == ["198.18.1.1", "198.18.1.2"] && incident.severity == .high)
        #expect(incident.techniques == ["T1046", "T1110"] && incident.status == .open)

        incident = try grouper.setStatus(incident.id, .acknowledged)
        #expect(incident.status == .acknowledged)
        #expect(throws: NeuroplexError.self) { try grouper.setStatus("nope", .resolved) }

        let report = IncidentReport(incident: incident, alerts: Array(alerts.values))
        #expect(report.timeline.map(\.title) == ["Port scan", "SSH brute force"])
        let markdown = report.markdown
        #expect(markdown.contains("198.18.2.66") && markdown.contains("T1046") && markdown.contains("acknowledged"))
        #expect(markdown.contains("rule port-scan (200 ≥ 20)"))

        // A resolved incident is not reopened: the attacker's next alert starts another.
        _ = try grouper.setStatus(incident.id, .resolved)
        var later = try #require(alerts.values.first)
        later.id = "later"
        later.firstSeen += 60
        #expect(grouper.add(later).id != incident.id && grouper.incidents.count == 2)
    }

    @Test("rules load from YAML or JSON, and invalid ones are refused naming the field")
    func ruleDocuments() throws {
        let yaml = """
            rules:
              - id: many-udp
                title: UDP sweep
                severity: low
                input: flow
                match: {transport: udp}
                groupBy: [source]
                measure: {distinct: destination}
                windowSeconds: 30
                threshold: 50
              - id: root-logins
                input: event
                match: {eventKinds: [login.failed]}
                groupBy: [source, user]
                windowSeconds: 60
                threshold: 3
            """
        let rules = try DetectionRule.parse(yaml)
        #expect(rules.map(\.id) == ["many-udp", "root-logins"])
        #expect(rules[0].measure == .distinct(.destination) && rules[1].measure == .count && rules[1].severity == .medium)
        let json = #"{"id":"x","input":"flow","groupBy":["source"],"measure":{"sum":"forwardBytes"},"windowSeconds":5,"threshold":1e6}"#
        #expect(try DetectionRule.parse(json).first?.measure == .sum(.forwardBytes))

        func refused(_ text: String, field: String, sourceLocation: SourceLocation = #_sourceLocation) {
            do {
                _ = try DetectionRule.parse(text)
                Issue.record("accepted: \(text)", sourceLocation: sourceLocation)
            } catch let error as NeuroplexError {
                #expect(error.code == .validationFailed && error.field == field, "\(error)", sourceLocation: sourceLocation)
            } catch {
                Issue.record("\(error)", sourceLocation: sourceLocation)
            }
        }
        refused(#"{"id":"x","input":"flow","groupBy":["source"],"windowSeconds":0,"threshold":1}"#, field: "windowSeconds")
        refused(#"{"id":"x","input":"flow","groupBy":[],"windowSeconds":5,"threshold":1}"#, field: "groupBy")
        refused(#"{"id":"x","input":"flow","groupBy":["user"],"windowSeconds":5,"threshold":1}"#, field: "groupBy")
        refused(#"{"id":"x","input":"flow","groupBy":["source"],"windowSeconds":5}"#, field: "threshold")
        refused(#"{"id":"x y","input":"flow","groupBy":["source"],"windowSeconds":5,"threshold":1}"#, field: "id")
        refused(#"{"id":"x","input":"event","groupBy":["source"],"measure":{"sum":"forwardBytes"},"windowSeconds":5,"threshold":1}"#, field: "measure")
        refused("- [unclosed", field: "")
        for rule in DetectionRule.defaults { try rule.validate() }
    }
}

@Suite("Host behaviour baselines", .timeLimit(.minutes(3)))
struct HostBaselineTests {
    /// `perMinute` short HTTP flows from `host` in each of `minutes` minutes from `start`.
    static func steady(_ host: String, perMinute: Int, minutes: Range<Int>, start: Double = Traffic.t0) -> [FlowObservation] {
        minutes.flatMap { minute in
            (0..<perMinute).map { index in
                Traffic.conversation(minute * 1000 + index, client: host, at: start + Double(minute) * 60 + Double(index) * 0.1)
            }
        }
    }

    @Test("a burst far above a host's history alerts once; steady hosts and short histories never do")
    func burst() {
        var baselines = HostBaselines()
        var flows = Self.steady("198.18.0.30", perMinute: 3, minutes: 0..<30) + Self.steady("198.18.0.31", perMinute: 5, minutes: 0..<31)
        // Minute 30: 198.18.0.30 talks to 150 hosts.
        flows += (0..<150).map { index in
            Traffic.conversation(90_000 + index, client: "198.18.0.30", server: "198.18.5.\(index)", at: Traffic.t0 + 1800 + Double(index) * 0.2)
        }
        // A new host that bursts at once has no history to compare with.
        flows += Self.steady("198.18.0.32", perMinute: 100, minutes: 28..<31)
        var alerts = flows.sorted { $0.start < $1.start }.flatMap { baselines.observe($0) }
        alerts += baselines.finish()
        #expect(alerts.count == 1, "\(alerts.map { ($0.source, $0.evidence.rule ?? "") })")
        #expect(alerts.first?.source == "198.18.0.30" && alerts.first?.title == "Unusual host behaviour")
        #expect((alerts.first?.evidence.measured ?? 0) >= 150 && alerts.first?.evidence.rule?.hasPrefix("baseline:") == true)
        #expect(alerts.first?.evidence.flowIds.count == Alert.Evidence.maxIDs)
    }

    @Test("a host idle for hours learns its quiet: a sudden burst then alerts")
    func quietThenBurst() {
        var baselines = HostBaselines()
        var flows = Self.steady("198.18.0.40", perMinute: 1, minutes: 0..<2)
        flows += Self.steady("198.18.0.40", perMinute: 60, minutes: 300..<301)
        var alerts = flows.flatMap { baselines.observe($0) }
        alerts += baselines.finish()
        #expect(alerts.count == 1 && alerts.first?.evidence.rule?.hasPrefix("baseline:") == true)
    }
}

@Suite("Model alerts", .timeLimit(.minutes(3)))
struct ModelAlertTests {
    @Test("a flow is worth explaining only when it would become its alert's evidence")
    func explanationsOnlyForEvidence() {
        var alerts = ModelAlerts(model: "flows", modelVersion: 1)
        let top = [Alert.FeatureContribution(feature: "Flow Duration", contribution: 1.5)]
        let first = Traffic.refused("f1", from: "198.18.2.66", port: 22, at: Traffic.t0)
        let scan = FlowScore(label: "portscan", confidence: 0.9)
        let key = ModelAlerts.key(first, scan)
        #expect(alerts.wantsExplanation(key: key, scan))  // it would open the alert
        alerts.add(first, FlowScore(label: "portscan", confidence: 0.9, topFeatures: top))
        // The same alert's later flows: only a more confident one changes the evidence.
        #expect(!alerts.wantsExplanation(key: key, FlowScore(label: "portscan", confidence: 0.9)))
        #expect(!alerts.wantsExplanation(key: key, FlowScore(label: "portscan", confidence: 0.7)))
        #expect(alerts.wantsExplanation(key: key, FlowScore(label: "portscan", confidence: 0.95)))
        // Another attacker, or another class, is another alert.
        let other = Traffic.refused("f2", from: "198.18.2.67", port: 22, at: Traffic.t0)
        #expect(alerts.wantsExplanation(key: ModelAlerts.key(other, scan), scan))
        // An alert opened without features (the model could not explain) still wants them.
        alerts.add(other, scan)
        #expect(alerts.wantsExplanation(key: ModelAlerts.key(other, scan), FlowScore(label: "portscan", confidence: 0.5)))
        #expect(alerts.alerts.first?.evidence.topFeatures == top && alerts.alerts.count == 2)
    }
}

@Suite("Flow pipeline with a model", .timeLimit(.minutes(3)))
struct FlowPipelineTests {
    /// Scores every flow as a scan and explains whatever it is asked to, counting.
    final class EveryFlowAScan: FlowScorer {
        let explained = Mutex(0)
        let model = "flows"
        let modelVersion = 1
        func score(features: [Double], count: Int, explain: (Int, FlowScore) -> Bool) throws -> [FlowScore] {
            (0..<count).map { row in
                var score = FlowScore(label: "portscan", confidence: 0.9)
                if explain(row, score) {
                    explained.withLock { $0 += 1 }
                    score.topFeatures = [Alert.FeatureContribution(feature: "Dst Port", contribution: 1)]
                }
                return score
            }
        }
    }

    @Test("a capture explains its strongest flows up to a budget; alerts past it keep their score without top features")
    func explanationBudget() {
        // One refused connection from each of more attackers than the budget: each opens an alert of its own.
        let attackers = FlowPipeline.explanationBudget + 300
        var builder = CaptureBuilder()
        for index in 0..<attackers {
            builder.refused(1_700_000_000 + Double(index) * 0.001, "198.18.\(2 + index / 250).\(1 + index % 250)", 40000, "198.18.1.1", 22)
        }
        let bytes = builder.pcap()
        let scorer = EveryFlowAScan()
        var pipeline = FlowPipeline(scorer: scorer, writesCSV: false, id: { "\($0)" })
        let flows = CaptureFlows()
        bytes.withUnsafeBytes { chunk in flows.feed(chunk) { try? pipeline.add($0) } }
        _ = flows.finish { try? pipeline.add($0) }
        #expect(throws: Never.self) { try pipeline.finish() }
        let alerts = pipeline.modelAlerts?.alerts ?? []
        #expect(alerts.count == attackers)
        #expect(scorer.explained.withLock { $0 } == FlowPipeline.explanationBudget && pipeline.explained == FlowPipeline.explanationBudget)
        #expect(alerts.filter { $0.evidence.topFeatures != nil }.count == FlowPipeline.explanationBudget)
        #expect(alerts.allSatisfy { $0.evidence.score == 0.9 && $0.evidence.model == "flows" })
    }
}
