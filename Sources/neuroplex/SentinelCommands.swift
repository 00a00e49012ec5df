import ArgumentParser
import Foundation
import Logging
import NeuroplexAPI
import NeuroplexCore
import NeuroplexSentinel

/// `neuroplex sentinel ...`: Sentinel's offline tools, which need no server.
struct SentinelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sentinel",
        abstract: "Network threat detection tools: flows from captures, offline analysis.",
        subcommands: [Flows.self, Analyze.self])

    struct Flows: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a capture's flows as CSV with CICFlowMeter's columns.",
            discussion: """
                Reads pcap or pcapng (Ethernet, VLAN, Linux cooked v1/v2, raw IP; IPv4 and IPv6) and meters
                bidirectional flows as CICFlowMeter does, with its TCP termination corrected (FIN from both sides, or
                RST). Flows end after 120 s; gaps over 5 s split active and idle time.
                """)

        @Argument(help: "A pcap or pcapng file.")
        var capture: String

        @Option(name: .shortAndLong, help: "Where to write the CSV (default: standard output).")
        var output: String?

        @Option(help: "Seconds from a flow's first packet to its forced end.")
        var flowTimeout: Double = 120

        @Option(help: "Seconds of silence that end an active period.")
        var activityTimeout: Double = 5

        func run() async throws {
            guard flowTimeout > 0, activityTimeout > 0 else { throw ValidationError("timeouts must be positive") }
            let sink: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil) else {
                    throw ValidationError("cannot create \(output)")
                }
                sink = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            } else {
                sink = FileHandle.standardOutput
            }
            defer { if output != nil { try? sink.close() } }
            var csv = Array(FlowCSVWriter.header.utf8)
            var writer = FlowCSVWriter()
            var failure: (any Error)?
            let configuration = FlowMeter.Configuration(
                flowTimeout: Int64(flowTimeout * 1_000_000), activityTimeout: Int64(activityTimeout * 1_000_000))
            let summary: CaptureSummary
            do {
                summary = try CaptureFlows.read(path: capture, configuration: configuration) { flow in
                    writer.append(flow, to: &csv)
                    if csv.count >= 1 << 20, failure == nil {
                        do { try sink.write(contentsOf: csv) } catch { failure = error }
                        csv.removeAll(keepingCapacity: true)
                    }
                }
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode.failure
            }
            try sink.write(contentsOf: csv)
            if let failure { throw failure }
            try SentinelCommand.report(summary, path: capture)
            FileHandle.standardError.write(Data(
                "\(summary.packets) packets, \(summary.flows) flows\(output.map { " → \($0)" } ?? "")\n".utf8))
        }
    }

    /// Damage on standard error; exit 1 when nothing could be read.
    static func report(_ summary: CaptureSummary, path: String) throws {
        guard let damage = summary.damaged else { return }
        if summary.packets == 0 && damage.offset == 0 {
            FileHandle.standardError.write(Data("error: \(path): \(damage.reason)\n".utf8))
            throw ExitCode.failure
        }
        FileHandle.standardError.write(Data(
            "warning: \(path) is damaged at byte \(damage.offset) (\(damage.reason)); read up to there\n".utf8))
    }

    struct Analyze: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Analyse a capture offline with the default rules and host baselines; print alerts and incidents.",
            discussion: """
                With --model, a model deployed on this machine's Neuroplex data (--data-dir, or --database-url for
                PostgreSQL) scores the flows too; its alerts name the model, its version and the top features.
                """)

        @Argument(help: "A pcap or pcapng file.")
        var capture: String

        @Option(help: "Extra or replacement rules (a YAML or JSON file of rules, as PUT /sentinel/rules takes).")
        var rules: String?

        @Flag(help: "Print JSON instead of tables.")
        var json = false

        @Option(help: "A deployed classifier (name or id) trained on flow features, to score the flows.")
        var model: String?

        @OptionGroup var storage: StorageOptions

        func run() async throws {
            var ruleSet = DetectionRule.defaults
            if let rules {
                let text = try String(contentsOfFile: rules, encoding: .utf8)
                for rule in try DetectionRule.parse(text, defaultID: "custom") {
                    ruleSet.removeAll { $0.id == rule.id }
                    ruleSet.append(rule)
                }
            }
            var scorer: (any FlowScorer)?
            if let model {
                scorer = try await reportingErrors {
                    let quiet = Logger(label: "neuroplex") { _ in SwiftLogNoOpLogHandler() }
                    let platform = try await Platform.open(try await storage.load(), logger: quiet)
                    do {
                        // The loaded model lives on without the database.
                        let scorer = try await platform.flowScorer(model: model)
                        await platform.close(logger: quiet)
                        return scorer
                    } catch {
                        await platform.close(logger: quiet)
                        throw error
                    }
                }
            }
            var pipeline = FlowPipeline(scorer: scorer, writesCSV: false, id: { "\($0)" })
            var failure: (any Error)?
            let summary: CaptureSummary
            do {
                summary = try CaptureFlows.read(path: capture) { flow in
                    guard failure == nil else { return }
                    do { try pipeline.add(flow) } catch { failure = error }
                }
                if let failure { throw failure }
                try pipeline.finish()
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode.failure
            }
            try SentinelCommand.report(summary, path: capture)
            let alerts = Sentinel.latest(
                Sentinel.detect(flows: pipeline.observations, rules: ruleSet.filter(\.enabled)) + (pipeline.modelAlerts?.alerts ?? []))
            var grouper = IncidentGrouper()
            for alert in alerts { _ = grouper.add(alert) }
            if json {
                struct Output: Encodable {
                    var summary: CaptureSummary
                    var alerts: [Alert]
                    var incidents: [Incident]
                }
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try encoder.encode(Output(summary: summary, alerts: alerts, incidents: grouper.incidents))
                FileHandle.standardOutput.write(data + Data("\n".utf8))
                return
            }
            var text = "\(summary.packets) packets, \(summary.flows) flows, \(alerts.count) alerts, \(grouper.incidents.count) incidents\n"
            if !alerts.isEmpty {
                text += "\nALERTS\n" + table(
                    ["severity", "technique", "source", "destination", "count", "title"],
                    alerts.map { alert in
                        let target = alert.destination.map { host in alert.destinationPort.map { "\(host):\($0)" } ?? host }
                        return [alert.severity.rawValue, alert.technique ?? "-", alert.source, target ?? "-", "\(alert.count)", alert.title]
                    })
            }
            if !grouper.incidents.isEmpty {
                text += "\nINCIDENTS\n" + table(
                    ["severity", "attacker", "targets", "alerts", "techniques"],
                    grouper.incidents.map {
                        [$0.severity.rawValue, $0.attacker, $0.targets.joined(separator: " "), "\($0.alertIds.count)",
                         $0.techniques.joined(separator: " ")]
                    })
            }
            FileHandle.standardOutput.write(Data(text.utf8))
        }

        func table(_ header: [String], _ rows: [[String]]) -> String {
            let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
            return ([header] + rows).map { row in
                row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces)
            }.joined(separator: "\n") + "\n"
        }
    }
}
