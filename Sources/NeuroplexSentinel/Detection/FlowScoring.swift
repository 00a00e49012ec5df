import NeuroplexCore

/// A model's verdict on one flow.
public struct FlowScore: Sendable, Equatable {
    /// The predicted class (`benign`, `portscan`, …).
    public var label: String
    /// The predicted class's probability.
    public var confidence: Double
    /// The features that pushed the prediction most (largest absolute contribution first), when explained.
    public var topFeatures: [Alert.FeatureContribution]?

    public init(label: String, confidence: Double, topFeatures: [Alert.FeatureContribution]? = nil) {
        self.label = label
        self.confidence = confidence
        self.topFeatures = topFeatures
    }

    public var isAttack: Bool { !FlowLabels.isBenign(label) }
}

/// Scores flows with a model trained on flow features: the seam between Sentinel and the ML platform
/// (`NeuroplexML`'s served models implement it in the API layer), so that Sentinel does not depend on serving.
public protocol FlowScorer: Sendable {
    /// The model's name and the version that scores.
    var model: String { get }
    var modelVersion: Int { get }
    /// Scores `count` flows; `features` holds their ``FlowRecord/features(into:)`` rows one after another
    /// (``FlowRecord/featureNames`` order). Flows scored as an attack carry their top features where the model
    /// can explain them and `explain(row, score)` asks for it (explaining costs far more than scoring; a bounded
    /// number per call).
    func score(features: [Double], count: Int, explain: (Int, FlowScore) -> Bool) throws -> [FlowScore]
}

/// What class names mean.
public enum FlowLabels {
    /// Labels that mean "no attack".
    public static func isBenign(_ label: String) -> Bool {
        ["benign", "normal", "0", "false", "background", "none"].contains(label.lowercased())
    }

    /// The MITRE ATT&CK technique of an attack class, where it is obvious from its name.
    public static func technique(for label: String) -> String? {
        let name = label.lowercased()
        if name.contains("scan") { return "T1046" }
        if name.contains("brute") || name.contains("password") || name.contains("login") { return "T1110" }
        if name.contains("slow") || name.contains("http-flood") || name.contains("dos-http") { return "T1499" }
        if name.contains("flood") || name.contains("ddos") || name.contains("dos") { return "T1498" }
        return nil
    }
}

/// Turns flows a model scored as attacks into alerts: one alert per class, source and destination, counting its
/// flows, with the model, its version, the highest confidence and that flow's top features as evidence.
public struct ModelAlerts: Sendable {
    private struct Open {
        var alert: Alert
        var ports: Set<Int>
    }

    public let model: String
    public let modelVersion: Int
    private var open: [String: Open] = [:]
    private var order: [String] = []
    private let idPrefix = RuleEngine.idPrefix("alm")

    public init(model: String, modelVersion: Int) {
        self.model = model
        self.modelVersion = modelVersion
    }

    /// The alert a flow scored as an attack belongs to: its class, source and destination.
    public static func key(_ flow: FlowObservation, _ score: FlowScore) -> String {
        "\(score.label)|\(flow.source)|\(flow.destination)"
    }

    /// Whether explaining a flow of alert `key` would change the alert's evidence: the flow would open it, the
    /// alert has no top features yet, or the flow's confidence is higher than the alert's.
    public func wantsExplanation(key: String, _ score: FlowScore) -> Bool {
        guard let entry = open[key] else { return true }
        return entry.alert.evidence.topFeatures == nil || score.confidence > entry.alert.evidence.score ?? 0
    }

    public mutating func add(_ flow: FlowObservation, _ score: FlowScore) {
        guard score.isAttack else { return }
        let key = Self.key(flow, score)
        if var entry = open[key] {
            entry.alert.count += 1
            entry.alert.firstSeen = min(entry.alert.firstSeen, flow.start)
            entry.alert.lastSeen = max(entry.alert.lastSeen, flow.end)
            if entry.alert.evidence.flowIds.count < Alert.Evidence.maxIDs { entry.alert.evidence.flowIds.append(flow.id) }
            if score.confidence > entry.alert.evidence.score ?? 0 || (entry.alert.evidence.topFeatures == nil && score.topFeatures != nil) {
                entry.alert.evidence.score = max(score.confidence, entry.alert.evidence.score ?? 0)
                if let top = score.topFeatures { entry.alert.evidence.topFeatures = top }
                entry.alert.severity = Self.severity(entry.alert.evidence.score ?? 0)
            }
            entry.ports.insert(flow.destinationPort)
            entry.alert.destinationPort = entry.ports.count == 1 ? entry.ports.first : nil
            open[key] = entry
            return
        }
        order.append(key)
        let alert = Alert(
            id: idPrefix + Identifier.base62(UInt64(order.count), width: 6), title: "Model \(model): \(score.label)",
            severity: Self.severity(score.confidence), technique: FlowLabels.technique(for: score.label), source: flow.source,
            destination: flow.destination, destinationPort: flow.destinationPort, firstSeen: flow.start, lastSeen: flow.end,
            count: 1,
            evidence: Alert.Evidence(
                flowIds: [flow.id], model: model, modelVersion: modelVersion, predicted: score.label, score: score.confidence,
                topFeatures: score.topFeatures))
        open[key] = Open(alert: alert, ports: [flow.destinationPort])
    }

    /// The alerts, in the order their first flow was scored.
    public var alerts: [Alert] { order.map { open[$0]!.alert } }

    static func severity(_ confidence: Double) -> Severity {
        confidence >= 0.9 ? .high : confidence >= 0.7 ? .medium : .low
    }
}
