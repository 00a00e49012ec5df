import Foundation
import NeuroplexCore

/// An alert: a rule (or a model) found something about a source, with the evidence.
public struct Alert: Codable, Sendable, Equatable, Identifiable {
    /// Why the alert was raised: the observations behind it, the rule's figure, or a model's insight.
    public struct Evidence: Codable, Sendable, Equatable {
        /// Up to ``maxIDs`` flow ids (or event ids), the first ones seen.
        public var flowIds: [String] = []
        public var eventIds: [String] = []
        public var rule: String?
        /// The rule's measure when it fired last, and its threshold.
        public var measured: Double?
        public var threshold: Double?
        /// From a model: which version scored, how sure it was, and the features that pushed most.
        public var model: String?
        public var modelVersion: Int?
        /// The class the model predicted (for a model's alert).
        public var predicted: String?
        public var score: Double?
        public var topFeatures: [FeatureContribution]?

        public static let maxIDs = 20
    }

    public struct FeatureContribution: Codable, Sendable, Equatable {
        public var feature: String
        public var contribution: Double
        public init(feature: String, contribution: Double) {
            self.feature = feature
            self.contribution = contribution
        }
    }

    public var id: String
    public var title: String
    public var severity: Severity
    public var technique: String?
    public var source: String
    public var destination: String?
    public var destinationPort: Int?
    public var firstSeen: Double
    public var lastSeen: Double
    /// Observations matched while the alert was open (it is updated, not repeated, while the activity goes on).
    public var count: Int
    public var evidence: Evidence
}

/// Runs ``DetectionRule``s over flows and events in capture-time order: sliding windows per rule and group,
/// alerts raised when a measure reaches its threshold, de-duplicated (an open alert of the same rule and group is
/// updated instead of repeated, until `throttleSeconds` pass without the rule firing for it).
///
/// Not thread-safe: one engine per stream of observations (a capture, a collector).
public struct RuleEngine {
    private struct Window {
        typealias Entry = (time: Double, value: String, amount: Double, id: String)
        /// The observations in the window are `entries[head...]`; the consumed front is dropped now and then.
        var entries: [Entry] = []
        var head = 0
        var distinct: [String: Int] = [:]
        var sum: Double = 0

        var live: ArraySlice<Entry> { entries[head...] }

        mutating func dropFirst() -> Entry {
            let first = entries[head]
            head += 1
            if head > 64 && head * 2 > entries.count {
                entries.removeFirst(head)
                head = 0
            }
            return first
        }

        /// Adds `entry`, drops the observations older than `span` seconds before it, and measures what is left.
        mutating func slide(adding entry: Entry, span: Double, measure: DetectionRule.Measure) -> Double {
            while let first = live.first, first.time < entry.time - span {
                _ = dropFirst()
                sum -= first.amount
                if case .distinct = measure {
                    distinct[first.value, default: 1] -= 1
                    if distinct[first.value] == 0 { distinct[first.value] = nil }
                }
            }
            entries.append(entry)
            sum += entry.amount
            if case .distinct = measure { distinct[entry.value, default: 0] += 1 }
            return switch measure {
            case .count: Double(live.count)
            case .distinct: Double(distinct.count)
            case .sum: sum
            }
        }
    }

    private struct Key: Hashable {
        var rule: Int
        var group: [String]
    }

    public private(set) var rules: [DetectionRule]
    public let throttleSeconds: Double
    private var windows: [Key: Window] = [:]
    /// The open alert of each rule and group.
    private var open: [Key: Alert] = [:]
    private var idCounter = 0
    private let idPrefix: String

    public init(rules: [DetectionRule] = DetectionRule.defaults, throttleSeconds: Double = 300) {
        self.rules = rules.filter(\.enabled)
        self.throttleSeconds = throttleSeconds
        self.idPrefix = Self.idPrefix("alr")
    }

    /// The alerts this flow raised or updated.
    public mutating func observe(_ flow: FlowObservation) -> [Alert] {
        var changed: [Alert] = []
        for (index, rule) in rules.enumerated() where rule.input == .flow && Self.matches(rule.match, flow) {
            let group = rule.groupBy.map { Self.value(of: $0, flow) }
            let (value, amount) = Self.measured(rule.measure, flow)
            if let alert = add(
                Key(rule: index, group: group), rule: rule, time: flow.start, value: value, amount: amount,
                id: flow.id, isFlow: true, source: flow.source, destination: flow.destination,
                port: flow.destinationPort)
            {
                changed.append(alert)
            }
        }
        return changed
    }

    /// The alerts this event raised or updated.
    public mutating func observe(_ event: SecurityEvent) -> [Alert] {
        var changed: [Alert] = []
        for (index, rule) in rules.enumerated() where rule.input == .event && Self.matches(rule.match, event) {
            let group = rule.groupBy.map { Self.value(of: $0, event) }
            let value: String = if case .distinct(let field) = rule.measure { Self.value(of: field, event) } else { "" }
            if let alert = add(
                Key(rule: index, group: group), rule: rule, time: event.time, value: value, amount: 1, id: event.id,
                isFlow: false, source: event.source, destination: event.destination, port: event.destinationPort)
            {
                changed.append(alert)
            }
        }
        return changed
    }

    private mutating func add(
        _ key: Key, rule: DetectionRule, time: Double, value: String, amount: Double, id: String, isFlow: Bool,
        source: String, destination: String?, port: Int?
    ) -> Alert? {
        // Mutated in place: a copy taken out of the dictionary would make every append copy the whole window.
        let measure = windows[key, default: Window()].slide(
            adding: (time, value, amount, id), span: rule.windowSeconds, measure: rule.measure)

        if var alert = open[key], time - alert.lastSeen <= throttleSeconds {
            // Still the same activity: the open alert grows, whether or not this observation crossed the line.
            alert.lastSeen = max(alert.lastSeen, time)
            alert.count += 1
            alert.evidence.measured = max(alert.evidence.measured ?? 0, measure)
            Self.note(id, isFlow: isFlow, in: &alert.evidence)
            open[key] = alert
            return measure >= rule.threshold ? alert : nil
        }
        guard measure >= rule.threshold, let window = windows[key] else { return nil }
        idCounter += 1
        var evidence = Alert.Evidence(rule: rule.id, measured: measure, threshold: rule.threshold)
        // The window's observations are the evidence: the first of them, up to the limit.
        for entry in window.live.prefix(Alert.Evidence.maxIDs) { Self.note(entry.id, isFlow: isFlow, in: &evidence) }
        let groupsByDestination = rule.groupBy.contains(.destination) && !rule.groupBy.contains(.source)
        let alert = Alert(
            id: idPrefix + Identifier.base62(UInt64(idCounter), width: 6), title: rule.title, severity: rule.severity, technique: rule.technique,
            // A flood grouped by its target may come from many (spoofed) sources: it names the last one seen.
            source: source, destination: destination,
            destinationPort: groupsByDestination || rule.groupBy.contains(.destinationPort) ? port : nil,
            firstSeen: window.live.first?.time ?? time, lastSeen: time, count: window.live.count,
            evidence: evidence)
        open[key] = alert
        return alert
    }

    /// `prefix_` + the time in milliseconds and 4 random characters: ids then sort by when their maker started,
    /// and by a counter after that.
    static func idPrefix(_ prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let millis = UInt64(Date().timeIntervalSince1970 * 1000)
        return prefix + "_" + Identifier.base62(millis, width: 8) + Identifier.random(count: 4, using: &generator)
    }

    private static func note(_ id: String, isFlow: Bool, in evidence: inout Alert.Evidence) {
        if isFlow {
            if evidence.flowIds.count < Alert.Evidence.maxIDs && !evidence.flowIds.contains(id) { evidence.flowIds.append(id) }
        } else if evidence.eventIds.count < Alert.Evidence.maxIDs && !evidence.eventIds.contains(id) {
            evidence.eventIds.append(id)
        }
    }

    static func matches(_ match: DetectionRule.Match, _ flow: FlowObservation) -> Bool {
        if let transport = match.transport, flow.transport != transport { return false }
        if let ports = match.destinationPorts, !ports.contains(flow.destinationPort) { return false }
        if let halfOpen = match.halfOpen, flow.isHalfOpen != halfOpen { return false }
        if let seconds = match.minDurationSeconds, flow.duration < seconds { return false }
        if let bytes = match.maxForwardBytes, flow.forwardBytes > bytes { return false }
        return true
    }

    static func matches(_ match: DetectionRule.Match, _ event: SecurityEvent) -> Bool {
        if let kinds = match.eventKinds, !kinds.contains(event.kind) { return false }
        if let ports = match.destinationPorts, !ports.contains(event.destinationPort ?? -1) { return false }
        return true
    }

    static func value(of field: DetectionRule.Field, _ flow: FlowObservation) -> String {
        switch field {
        case .source: flow.source
        case .destination: flow.destination
        case .destinationPort: String(flow.destinationPort)
        case .sourcePort: String(flow.sourcePort)
        case .user, .kind: ""
        }
    }

    static func value(of field: DetectionRule.Field, _ event: SecurityEvent) -> String {
        switch field {
        case .source: event.source
        case .destination: event.destination ?? ""
        case .destinationPort: event.destinationPort.map(String.init) ?? ""
        case .user: event.user ?? ""
        case .kind: event.kind
        case .sourcePort: ""
        }
    }

    static func measured(_ measure: DetectionRule.Measure, _ flow: FlowObservation) -> (value: String, amount: Double) {
        switch measure {
        case .count: ("", 1)
        case .distinct(let field): (value(of: field, flow), 1)
        case .sum(let field):
            switch field {
            case .forwardPackets: ("", Double(flow.forwardPackets))
            case .backwardPackets: ("", Double(flow.backwardPackets))
            case .forwardBytes: ("", Double(flow.forwardBytes))
            case .backwardBytes: ("", Double(flow.backwardBytes))
            case .synCount: ("", Double(flow.synCount))
            }
        }
    }
}
