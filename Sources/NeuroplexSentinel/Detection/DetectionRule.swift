import Foundation
import NeuroplexCore
import Yams

/// How serious an alert is.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    case low, medium, high, critical

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A declarative detection rule (the seed's "expert system"): over a sliding window of flows or events, grouped by
/// some fields, a measure (how many, how many distinct values, a sum) reaching a threshold raises an alert.
///
/// ```yaml
/// id: port-scan
/// title: Port scan
/// severity: medium
/// technique: T1046
/// input: flow
/// groupBy: [source, destination]
/// measure: {distinct: destinationPort}
/// windowSeconds: 10
/// threshold: 20
/// ```
public struct DetectionRule: Codable, Sendable, Equatable, Identifiable {
    public enum Input: String, Codable, Sendable { case flow, event }

    /// The fields rules group and measure by.
    public enum Field: String, Codable, Sendable, CaseIterable {
        case source, destination, destinationPort, sourcePort, user, kind
    }

    /// What is compared with the threshold, over the observations in the window of one group.
    public enum Measure: Codable, Sendable, Equatable {
        case count
        case distinct(Field)
        case sum(SummedField)

        public enum SummedField: String, Codable, Sendable { case forwardPackets, backwardPackets, forwardBytes, backwardBytes, synCount }

        private enum Keys: String, CodingKey { case count, distinct, sum }

        public init(from decoder: any Decoder) throws {
            if let single = try? decoder.singleValueContainer(), let name = try? single.decode(String.self) {
                guard name == "count" else {
                    throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "measure is count, {distinct: field} or {sum: field}"))
                }
                self = .count
                return
            }
            let container = try decoder.container(keyedBy: Keys.self)
            if let field = try container.decodeIfPresent(Field.self, forKey: .distinct) {
                self = .distinct(field)
            } else if let field = try container.decodeIfPresent(SummedField.self, forKey: .sum) {
                self = .sum(field)
            } else if container.contains(.count) {
                self = .count
            } else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "measure is count, {distinct: field} or {sum: field}"))
            }
        }

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .count:
                var single = encoder.singleValueContainer()
                try single.encode("count")
            case .distinct(let field):
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(field, forKey: .distinct)
            case .sum(let field):
                var container = encoder.container(keyedBy: Keys.self)
                try container.encode(field, forKey: .sum)
            }
        }
    }

    /// Which observations a rule looks at; every condition given must hold.
    public struct Match: Codable, Sendable, Equatable {
        public var transport: TransportProtocol?
        public var destinationPorts: [Int]?
        public var eventKinds: [String]?
        /// Only TCP flows that never got past the handshake (a SYN, at most a SYN-ACK or RST back).
        public var halfOpen: Bool?
        public var minDurationSeconds: Double?
        public var maxForwardBytes: Int?

        public init(
            transport: TransportProtocol? = nil, destinationPorts: [Int]? = nil, eventKinds: [String]? = nil,
            halfOpen: Bool? = nil, minDurationSeconds: Double? = nil, maxForwardBytes: Int? = nil
        ) {
            self.transport = transport
            self.destinationPorts = destinationPorts
            self.eventKinds = eventKinds
            self.halfOpen = halfOpen
            self.minDurationSeconds = minDurationSeconds
            self.maxForwardBytes = maxForwardBytes
        }
    }

    public var id: String
    public var title: String
    public var enabled: Bool
    public var severity: Severity
    /// The MITRE ATT&CK technique, where one is obvious (`T1046` scanning, `T1110` brute force, `T1498` floods).
    public var technique: String?
    public var input: Input
    public var match: Match
    public var groupBy: [Field]
    public var measure: Measure
    public var windowSeconds: Double
    public var threshold: Double

    public init(
        id: String, title: String, enabled: Bool = true, severity: Severity, technique: String? = nil, input: Input,
        match: Match = Match(), groupBy: [Field], measure: Measure, windowSeconds: Double, threshold: Double
    ) {
        self.id = id
        self.title = title
        self.enabled = enabled
        self.severity = severity
        self.technique = technique
        self.input = input
        self.match = match
        self.groupBy = groupBy
        self.measure = measure
        self.windowSeconds = windowSeconds
        self.threshold = threshold
    }

    private enum CodingKeys: String, CodingKey {
        case id, title, enabled, severity, technique, input, match, groupBy, measure, windowSeconds, threshold
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decode(String.self, forKey: .id)
        title = try container.decodeIfPresent(String.self, forKey: .title) ?? id
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        severity = try container.decodeIfPresent(Severity.self, forKey: .severity) ?? .medium
        technique = try container.decodeIfPresent(String.self, forKey: .technique)
        input = try container.decode(Input.self, forKey: .input)
        match = try container.decodeIfPresent(Match.self, forKey: .match) ?? Match()
        groupBy = try container.decode([Field].self, forKey: .groupBy)
        measure = try container.decodeIfPresent(Measure.self, forKey: .measure) ?? .count
        windowSeconds = try container.decode(Double.self, forKey: .windowSeconds)
        threshold = try container.decode(Double.self, forKey: .threshold)
    }

    /// Checks what decoding cannot: the values make sense together.
    /// - Throws: `validation_failed` naming the field.
    public func validate() throws {
        let idBytes = id.utf8
        guard !idBytes.isEmpty, idBytes.count <= 100,
            idBytes.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || $0 == 0x2D || $0 == 0x5F })
        else { throw NeuroplexError.invalid("id", "a rule id is 1–100 letters, digits, '-' or '_'") }
        guard windowSeconds > 0, windowSeconds <= 86_400 else {
            throw NeuroplexError.invalid("windowSeconds", "windowSeconds must be more than 0 and at most 86400")
        }
        guard threshold > 0, threshold.isFinite else { throw NeuroplexError.invalid("threshold", "threshold must be a positive number") }
        guard !groupBy.isEmpty else { throw NeuroplexError.invalid("groupBy", "groupBy names at least one field") }
        let eventOnly: Set<Field> = [.user, .kind]
        let flowOnly: Set<Field> = [.sourcePort]
        let forbidden = input == .flow ? eventOnly : flowOnly
        var used = groupBy
        if case .distinct(let field) = measure { used.append(field) }
        if let wrong = used.first(where: forbidden.contains) {
            throw NeuroplexError.invalid("groupBy", "'\(wrong.rawValue)' is not a field of a \(input.rawValue)")
        }
        if input == .event, case .sum = measure {
            throw NeuroplexError.invalid("measure", "an event rule measures count or distinct values")
        }
        if input == .event, match.transport != nil || match.halfOpen != nil || match.minDurationSeconds != nil || match.maxForwardBytes != nil {
            throw NeuroplexError.invalid("match", "an event rule matches on eventKinds and destinationPorts only")
        }
        if input == .flow, match.eventKinds != nil {
            throw NeuroplexError.invalid("match.eventKinds", "a flow rule cannot match event kinds")
        }
        if let ports = match.destinationPorts, ports.contains(where: { !(0...65535).contains($0) }) {
            throw NeuroplexError.invalid("match.destinationPorts", "ports are 0–65535")
        }
    }

    /// Rules from a JSON or YAML document: one rule, a list of rules, or `{rules: [...]}`. A single rule without an
    /// `id` takes `defaultID`.
    /// - Throws: `validation_failed` saying what is wrong, for text that is neither or a rule that does not validate.
    public static func parse(_ text: String, defaultID: String? = nil) throws -> [DetectionRule] {
        let object: Any
        do {
            guard let loaded = try Yams.load(yaml: text) else { throw NeuroplexError.invalid("", "the rule document is empty") }
            object = loaded
        } catch let error as NeuroplexError {
            throw error
        } catch {
            throw NeuroplexError.invalid("", "the rule document is neither JSON nor YAML: \(error)")
        }
        let list: Any
        if let document = object as? [String: Any], let rules = document["rules"] {
            list = rules
        } else if var single = object as? [String: Any] {
            if single["id"] == nil, let defaultID { single["id"] = defaultID }
            list = [single]
        } else {
            list = object
        }
        guard let items = list as? [Any], JSONSerialization.isValidJSONObject(items) else {
            throw NeuroplexError.invalid("", "a rule document is a rule, a list of rules or {rules: [...]}")
        }
        let data = try JSONSerialization.data(withJSONObject: items)
        let rules: [DetectionRule]
        do {
            rules = try JSONDecoder().decode([DetectionRule].self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw NeuroplexError.invalid(Self.path(context.codingPath + [key]), "\(key.stringValue) is required")
        } catch let DecodingError.dataCorrupted(context) {
            throw NeuroplexError.invalid(Self.path(context.codingPath), context.debugDescription)
        } catch let DecodingError.typeMismatch(_, context) {
            throw NeuroplexError.invalid(Self.path(context.codingPath), "wrong type: \(context.debugDescription)")
        } catch {
            throw NeuroplexError.invalid("", "the rules do not decode: \(error)")
        }
        for rule in rules { try rule.validate() }
        return rules
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.filter { $0.intValue == nil }.map(\.stringValue).joined(separator: ".")
    }
}

extension DetectionRule {
    /// The rules a fresh install runs, so that the obvious attacks alert before any model is trained.
    public static let defaults: [DetectionRule] = [
        DetectionRule(
            id: "port-scan", title: "Port scan", severity: .medium, technique: "T1046", input: .flow,
            groupBy: [.source, .destination], measure: .distinct(.destinationPort), windowSeconds: 10, threshold: 20),
        DetectionRule(
            id: "syn-flood", title: "SYN flood", severity: .high, technique: "T1498", input: .flow,
            match: Match(transport: .tcp, halfOpen: true), groupBy: [.destination, .destinationPort], measure: .count,
            windowSeconds: 10, threshold: 200),
        DetectionRule(
            id: "ssh-brute-force", title: "SSH brute force", severity: .high, technique: "T1110", input: .flow,
            match: Match(transport: .tcp, destinationPorts: [22]), groupBy: [.source, .destination], measure: .count,
            windowSeconds: 60, threshold: 15),
        DetectionRule(
            id: "failed-logins", title: "Repeated failed logins", severity: .high, technique: "T1110", input: .event,
            match: Match(eventKinds: ["login.failed"]), groupBy: [.source], measure: .count, windowSeconds: 60,
            threshold: 5),
        DetectionRule(
            id: "slow-http", title: "Slow HTTP denial of service", severity: .medium, technique: "T1499", input: .flow,
            match: Match(transport: .tcp, destinationPorts: [80, 443, 8080], minDurationSeconds: 10, maxForwardBytes: 4096),
            groupBy: [.source, .destination], measure: .count, windowSeconds: 120, threshold: 20),
    ]
}
