import Foundation
import NeuroplexCore

/// Per-host behaviour baselines: for each source host, each `bucketSeconds` of capture time is summarised (flows
/// started, distinct destinations, distinct destination ports, bytes sent) and compared with an exponentially
/// weighted mean and variance of that host's earlier buckets. A bucket far above its baseline (a z-score over
/// `threshold` on any measure, and at least `minimumExcess` over the mean) raises an "Unusual host behaviour" alert,
/// once the host has `warmupBuckets` buckets of history. Quiet buckets count as zeros, so a host that is usually idle
/// has a low baseline.
public struct HostBaselines {
    public struct Settings: Sendable, Equatable {
        public var bucketSeconds: Double = 60
        /// The weight of the newest bucket in the moving mean and variance.
        public var alpha: Double = 0.1
        public var threshold: Double = 6
        public var warmupBuckets = 10
        /// Below this excess over the mean nothing is unusual, however steady the history (a host that always makes
        /// one flow a minute and now makes three is not an incident).
        public var minimumExcess: Double = 20
        /// Hosts tracked at most; the least recently seen are forgotten past it.
        public var maxHosts = 100_000
        public init() {}
    }

    enum Measure: Int, CaseIterable {
        case flows, destinations, ports, bytes
        var name: String { ["flows", "distinct destinations", "distinct destination ports", "bytes sent"][rawValue] }
    }

    private struct Host {
        var bucket: Int
        var counts = [Double](repeating: 0, count: Measure.allCases.count)
        var destinations: Set<String> = []
        var ports: Set<Int> = []
        var mean = [Double](repeating: 0, count: Measure.allCases.count)
        var variance = [Double](repeating: 0, count: Measure.allCases.count)
        var history = 0
        var flowIDs: [String] = []
        var lastSeen: Double
    }

    public let settings: Settings
    private var hosts: [String: Host] = [:]
    private var idCounter = 0
    private let idPrefix = RuleEngine.idPrefix("alb")

    public init(settings: Settings = Settings()) { self.settings = settings }

    /// Adds a flow (in capture-time order); returns an alert when the bucket it closes was unusual for its host.
    public mutating func observe(_ flow: FlowObservation) -> [Alert] {
        let bucket = Int((flow.start / settings.bucketSeconds).rounded(.down))
        var alerts: [Alert] = []
        var host = hosts[flow.source] ?? Host(bucket: bucket, lastSeen: flow.start)
        if bucket > host.bucket {
            if let alert = close(&host, source: flow.source) { alerts.append(alert) }
            // Buckets with nothing in them: the baseline learns the host's quiet too (at most a day's worth at once).
            let quiet = min(bucket - host.bucket - 1, Int(86_400 / settings.bucketSeconds))
            for _ in 0..<max(0, quiet) { learn(&host, [0, 0, 0, 0]) }
            host.bucket = bucket
        }
        host.counts[Measure.flows.rawValue] += 1
        host.destinations.insert(flow.destination)
        host.ports.insert(flow.destinationPort)
        host.counts[Measure.bytes.rawValue] += Double(flow.forwardBytes)
        if host.flowIDs.count < Alert.Evidence.maxIDs { host.flowIDs.append(flow.id) }
        host.lastSeen = max(host.lastSeen, flow.start)
        hosts[flow.source] = host
        if hosts.count > settings.maxHosts { forgetOldest() }
        return alerts
    }

    /// Closes every open bucket (at the end of a capture); returns the alerts they raise.
    public mutating func finish() -> [Alert] {
        var alerts: [Alert] = []
        for source in hosts.keys.sorted() {
            var host = hosts[source]!
            if let alert = close(&host, source: source) { alerts.append(alert) }
            host.bucket += 1
            hosts[source] = host
        }
        return alerts
    }

    private mutating func close(_ host: inout Host, source: String) -> Alert? {
        var values = host.counts
        values[Measure.destinations.rawValue] = Double(host.destinations.count)
        values[Measure.ports.rawValue] = Double(host.ports.count)
        var worst: (measure: Measure, score: Double)?
        if host.history >= settings.warmupBuckets {
            for measure in Measure.allCases {
                let value = values[measure.rawValue]
                let mean = host.mean[measure.rawValue]
                guard value - mean >= settings.minimumExcess else { continue }
                // A floor on the deviation: a perfectly steady history must not make every change infinite.
                let deviation = max(host.variance[measure.rawValue].squareRoot(), 1, mean * 0.1)
                let score = (value - mean) / deviation
                if score > settings.threshold && score > (worst?.score ?? 0) { worst = (measure, score) }
            }
        }
        var alert: Alert?
        if let worst {
            idCounter += 1
            let start = Double(host.bucket) * settings.bucketSeconds
            alert = Alert(
                id: idPrefix + Identifier.base62(UInt64(idCounter), width: 6), title: "Unusual host behaviour",
                severity: worst.score > settings.threshold * 3 ? .medium : .low, technique: nil, source: source,
                destination: nil, destinationPort: nil, firstSeen: start, lastSeen: start + settings.bucketSeconds,
                count: Int(values[Measure.flows.rawValue]),
                evidence: Alert.Evidence(
                    flowIds: host.flowIDs, rule: "baseline:\(worst.measure.name)",
                    measured: values[worst.measure.rawValue], threshold: host.mean[worst.measure.rawValue]))
        }
        learn(&host, values)
        host.counts = [Double](repeating: 0, count: Measure.allCases.count)
        host.destinations.removeAll(keepingCapacity: true)
        host.ports.removeAll(keepingCapacity: true)
        host.flowIDs.removeAll(keepingCapacity: true)
        return alert
    }

    private func learn(_ host: inout Host, _ values: [Double]) {
        for index in values.indices {
            if host.history == 0 {
                host.mean[index] = values[index]
                host.variance[index] = 0
            } else {
                let difference = values[index] - host.mean[index]
                let increment = settings.alpha * difference
                host.mean[index] += increment
                host.variance[index] = (1 - settings.alpha) * (host.variance[index] + difference * increment)
            }
        }
        host.history += 1
    }

    private mutating func forgetOldest() {
        let excess = hosts.count - settings.maxHosts * 9 / 10
        let oldest = hosts.sorted { $0.value.lastSeen < $1.value.lastSeen }.prefix(excess).map(\.key)
        for source in oldest { hosts[source] = nil }
    }
}
