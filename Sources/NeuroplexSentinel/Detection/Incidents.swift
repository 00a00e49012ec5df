import Foundation
import NeuroplexCore

/// Alerts about one attacker, grouped while they keep coming: what an analyst works on.
public struct Incident: Codable, Sendable, Equatable, Identifiable {
    public enum Status: String, Codable, Sendable, CaseIterable { case open, acknowledged, resolved }

    public var id: String
    public var attacker: String
    /// The hosts the alerts name as destinations, in the order first seen.
    public var targets: [String]
    public var alertIds: [String]
    public var severity: Severity
    public var techniques: [String]
    public var status: Status
    public var firstSeen: Double
    public var lastSeen: Double
}

/// Groups alerts into incidents by attacker: an alert joins the attacker's incident unless that one is resolved or
/// its last alert is more than `gapSeconds` older (then a new incident starts).
public struct IncidentGrouper {
    public let gapSeconds: Double
    public private(set) var incidents: [Incident] = []
    private var latestByAttacker: [String: Int] = [:]
    private let idPrefix: String

    /// `restoring` are incidents kept from before (a restart): an attacker's newest one not resolved is joined again.
    public init(gapSeconds: Double = 3600, restoring: [Incident] = []) {
        self.gapSeconds = gapSeconds
        self.idPrefix = RuleEngine.idPrefix("inc")
        incidents = restoring.sorted { $0.id < $1.id }
        for (index, incident) in incidents.enumerated() { latestByAttacker[incident.attacker] = index }
    }

    /// Adds a new or updated alert; returns the incident it belongs to now.
    @discardableResult
    public mutating func add(_ alert: Alert) -> Incident {
        incidents[join(alert)]
    }

    /// Adds new or updated alerts; returns each one's incident id, and the incidents they changed (each once, in
    /// id order).
    public mutating func add(_ alerts: [Alert]) -> (incidentIds: [String], changed: [Incident]) {
        var changed = Set<Int>()
        let ids = alerts.map { alert in
            let index = join(alert)
            changed.insert(index)
            return incidents[index].id
        }
        return (ids, changed.sorted().map { incidents[$0] })
    }

    /// Joins an alert to its attacker's incident, or opens one; returns the incident's index.
    private mutating func join(_ alert: Alert) -> Int {
        if let index = latestByAttacker[alert.source], incidents[index].status != .resolved,
            alert.firstSeen - incidents[index].lastSeen <= gapSeconds
        {
            // Changed in place: a copy taken out would copy the incident's lists at every alert.
            if !incidents[index].alertIds.contains(alert.id) { incidents[index].alertIds.append(alert.id) }
            if let target = alert.destination, !incidents[index].targets.contains(target) { incidents[index].targets.append(target) }
            if let technique = alert.technique, !incidents[index].techniques.contains(technique) {
                incidents[index].techniques.append(technique)
            }
            incidents[index].severity = max(incidents[index].severity, alert.severity)
            incidents[index].firstSeen = min(incidents[index].firstSeen, alert.firstSeen)
            incidents[index].lastSeen = max(incidents[index].lastSeen, alert.lastSeen)
            return index
        }
        let incident = Incident(
            id: idPrefix + Identifier.base62(UInt64(incidents.count + 1), width: 6), attacker: alert.source, targets: alert.destination.map { [$0] } ?? [],
            alertIds: [alert.id], severity: alert.severity, techniques: alert.technique.map { [$0] } ?? [],
            status: .open, firstSeen: alert.firstSeen, lastSeen: alert.lastSeen)
        latestByAttacker[alert.source] = incidents.count
        incidents.append(incident)
        return incidents.count - 1
    }

    /// Changes an incident's status. - Throws: `not_found` for an unknown id.
    @discardableResult
    public mutating func setStatus(_ id: String, _ status: Incident.Status) throws -> Incident {
        guard let index = incidents.firstIndex(where: { $0.id == id }) else { throw NeuroplexError.notFound("incident", id: id) }
        incidents[index].status = status
        return incidents[index]
    }
}

/// An incident's report: timeline, affected hosts, techniques, and what the models said.
public struct IncidentReport: Codable, Sendable, Equatable {
    public struct Insight: Codable, Sendable, Equatable {
        public var alert: String
        public var model: String
        public var modelVersion: Int?
        public var confidence: Double?
        public var topFeatures: [Alert.FeatureContribution]
    }

    public var incident: Incident
    /// The incident's alerts, oldest first.
    public var timeline: [Alert]
    public var affectedHosts: [String]
    public var insights: [Insight]

    public init(incident: Incident, alerts: [Alert]) {
        self.incident = incident
        let mine = Set(incident.alertIds)
        timeline = alerts.filter { mine.contains($0.id) }.sorted { ($0.firstSeen, $0.id) < ($1.firstSeen, $1.id) }
        affectedHosts = incident.targets
        insights = timeline.compactMap { alert in
            guard let model = alert.evidence.model else { return nil }
            return Insight(
                alert: alert.id, model: model, modelVersion: alert.evidence.modelVersion, confidence: alert.evidence.score,
                topFeatures: alert.evidence.topFeatures ?? [])
        }
    }

    /// The report as Markdown, for a ticket or a chat.
    public var markdown: String {
        var out = "# Incident \(incident.id): \(incident.attacker)\n\n"
        out += "- **Status:** \(incident.status.rawValue)\n"
        out += "- **Severity:** \(incident.severity.rawValue)\n"
        out += "- **Attacker:** \(incident.attacker)\n"
        out += "- **Affected hosts:** \(affectedHosts.isEmpty ? "none named" : affectedHosts.joined(separator: ", "))\n"
        out += "- **Techniques:** \(incident.techniques.isEmpty ? "none named" : incident.techniques.joined(separator: ", "))\n"
        out += "- **From** \(Self.time(incident.firstSeen)) **to** \(Self.time(incident.lastSeen))\n\n"
        out += "## Timeline\n\n| first seen | last seen | alert | severity | technique | target | observations | why |\n"
        out += "|---|---|---|---|---|---|---:|---|\n"
        for alert in timeline {
            let target = [alert.destination, alert.destinationPort.map(String.init)].compactMap { $0 }.joined(separator: ":")
            var why = alert.evidence.rule.map { "rule \($0)" } ?? ""
            if let measured = alert.evidence.measured, let threshold = alert.evidence.threshold {
                why += " (\(Self.number(measured)) ≥ \(Self.number(threshold)))"
            }
            if let model = alert.evidence.model { why += (why.isEmpty ? "" : "; ") + "model \(model)" }
            out += "| \(Self.time(alert.firstSeen)) | \(Self.time(alert.lastSeen)) | \(alert.title) | \(alert.severity.rawValue) | "
            out += "\(alert.technique ?? "") | \(target) | \(alert.count) | \(why) |\n"
        }
        out += "\n## ML insights\n\n"
        if insights.isEmpty {
            out += "No model scored these alerts: they come from rules.\n"
        } else {
            for insight in insights {
                let version = insight.modelVersion.map { " v\($0)" } ?? ""
                let confidence = insight.confidence.map { String(format: " with confidence %.3f", $0) } ?? ""
                let features = insight.topFeatures.map { "\($0.feature) (\(String(format: "%+.3f", $0.contribution)))" }
                out += "- Alert \(insight.alert): \(insight.model)\(version)\(confidence)"
                out += features.isEmpty ? "\n" : "; top features: \(features.joined(separator: ", "))\n"
            }
        }
        return out
    }

    static func time(_ seconds: Double) -> String { Timestamp.string(Date(timeIntervalSince1970: seconds)) }

    static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.3f", value)
    }
}
