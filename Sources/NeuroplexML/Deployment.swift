public import Foundation
public import NeuroplexCore

/// How a deploy routes traffic (`POST /ml/models/{id}/deploy`'s `strategy`).
public struct DeploymentStrategy: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case immediate, canary, ab, shadow
    }

    /// Canary rules: the canary is rolled back as soon as it breaks one (checked every second once it has served
    /// 20 requests, or has 20 labelled predictions for `minAccuracy`).
    public struct Rollback: Sendable, Codable, Equatable {
        public var maxErrorRate: Double?
        public var maxP99Ms: Double?
        public var minAccuracy: Double?

        public init(maxErrorRate: Double? = nil, maxP99Ms: Double? = nil, minAccuracy: Double? = nil) {
            self.maxErrorRate = maxErrorRate
            self.maxP99Ms = maxP99Ms
            self.minAccuracy = minAccuracy
        }
    }

    public struct Weighted: Sendable, Codable, Equatable {
        public var version: Int
        public var weight: Double

        public init(version: Int, weight: Double) {
            self.version = version
            self.weight = weight
        }
    }

    public var type: Kind
    /// Canary: the share of requests (0–100) the new version takes first.
    public var percent: Double?
    /// Canary: in how many equal steps the share grows to 100 %, one every `intervalSeconds`; without steps the
    /// share stays until the next deploy.
    public var steps: Int?
    public var intervalSeconds: Double?
    public var rollback: Rollback?
    /// A/B: the versions and their weights.
    public var variants: [Weighted]?
    /// Shadow: the version that sees a copy of the traffic (default the deploy's version).
    public var version: Int?

    public init(type: Kind) { self.type = type }
}

/// A model's deployment: which versions take which share of its traffic. Stored in `ml_deployments`.
public struct Deployment: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable { case deployed, retired }

    public struct Variant: Sendable, Codable, Equatable {
        public var version: Int
        /// The share of requests, 0–100.
        public var weight: Double
        /// `primary`, `canary`, or `a`, `b`, ... for an A/B test.
        public var name: String
    }

    public struct Canary: Sendable, Codable, Equatable {
        public var version: Int
        public var percent: Double
        public var initialPercent: Double
        public var step: Int
        public var startedAt: Date
        public var nextStepAt: Date?
        /// The canary's request and error counts when it started, so that rules see only its own traffic.
        public var baselineRequests: Int
        public var baselineErrors: Int
        public var baselineFeedback: Int
    }

    public struct Event: Sendable, Codable, Equatable {
        public var at: Date
        /// `deployed`, `canary_step`, `promoted`, `rolled_back`, `retired`.
        public var type: String
        public var version: Int?
        public var detail: String?
    }

    public var modelId: String
    public var status: Status
    public var strategy: DeploymentStrategy
    /// The version that serves when no other rule applies (the deployed version).
    public var primaryVersion: Int
    public var variants: [Variant]
    public var shadowVersion: Int?
    public var canary: Canary?
    public var updatedAt: Date
    /// The latest 50 events, oldest first.
    public var history: [Event]

    mutating func note(_ type: String, version: Int?, detail: String?, at: Date) {
        history.append(Event(at: at, type: type, version: version, detail: detail))
        if history.count > 50 { history.removeFirst(history.count - 50) }
        updatedAt = at
    }

    /// Every version the deployment serves or shadows.
    var versions: Set<Int> {
        var all = Set(variants.map(\.version))
        all.insert(primaryVersion)
        if let shadowVersion { all.insert(shadowVersion) }
        return all
    }
}

/// The body of a deploy: `{version? | alias?, strategy?}`.
public struct DeployRequest: Sendable, Decodable {
    /// A version number or an alias.
    public var version: String?
    public var alias: String?
    public var strategy: DeploymentStrategy?

    enum CodingKeys: String, CodingKey { case version, alias, strategy }

    public init(version: String? = nil, alias: String? = nil, strategy: DeploymentStrategy? = nil) {
        self.version = version
        self.alias = alias
        self.strategy = strategy
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let number = try? container.decodeIfPresent(Int.self, forKey: .version) {
            version = String(number)
        } else {
            version = try container.decodeIfPresent(String.self, forKey: .version)
        }
        alias = try container.decodeIfPresent(String.self, forKey: .alias)
        strategy = try container.decodeIfPresent(DeploymentStrategy.self, forKey: .strategy)
    }
}
