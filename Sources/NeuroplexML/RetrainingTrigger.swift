public import Foundation
public import NeuroplexCore

/// A retraining trigger: when its condition holds, train a new version, validate it against gates, and deploy
/// it. Stored in `ml_triggers`; its latest firings are kept with it.
public struct RetrainingTrigger: Sendable, Codable, Equatable {
    /// The condition (exactly one is set).
    public struct Condition: Sendable, Codable, Equatable {
        /// Fires when a feature's (or the predictions') PSI exceeds this.
        public var drift: Double?
        /// Fires when accuracy over the latest 100 labelled predictions (at least 30) falls below this.
        public var accuracy: Double?
        /// Fires on a 5-field cron schedule (minute hour day-of-month month day-of-week, UTC).
        public var schedule: String?
        /// Fires when datasets uploaded under the training dataset's name since it hold at least this many rows.
        public var newRows: Int?
    }

    /// What a firing does, in order; a failing step stops it.
    public struct Pipeline: Sendable, Codable, Equatable {
        public struct Train: Sendable, Codable, Equatable {
            /// A dataset id, or `latest`: the newest dataset with the deployed version's dataset's name.
            public var datasetId: String?
            public var hyperparameters: [String: JSONValue]?
        }

        public struct Validate: Sendable, Codable, Equatable {
            /// Gates: metric → lowest acceptable value (on the new version's test split, or `datasetId`).
            public var minimum: [String: Double]
            public var datasetId: String?
        }

        public struct Deploy: Sendable, Codable, Equatable {
            public var strategy: DeploymentStrategy?
        }

        public var train: Train?
        public var validate: Validate?
        public var deploy: Deploy?
    }

    public struct Firing: Sendable, Codable, Equatable {
        public var at: Date
        public var reason: String
        /// `running`, `succeeded`, `stopped` (a gate failed), `failed`.
        public var status: String
        public var jobId: String?
        public var version: Int?
        public var detail: String?
    }

    public var id: String
    public var modelId: String
    public var name: String?
    public var when: Condition
    public var then: Pipeline
    public var enabled: Bool
    /// No new firing until this long after the last one ended (default 3,600 s; a schedule ignores it).
    public var cooldownSeconds: Double
    public var createdAt: Date
    /// The latest 20 firings, oldest first.
    public var firings: [Firing]
}

/// A 5-field cron expression (minute hour day-of-month month day-of-week; `*`, lists, ranges and `/` steps;
/// day-of-week 0 or 7 is Sunday), matched against UTC times.
public struct CronSchedule: Sendable, Equatable {
    let fields: [Set<Int>]

    /// - Throws: 400 `validation_failed` naming the schedule.
    public init(_ text: String) throws {
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 5 else {
            throw NeuroplexError.invalid("when.schedule", "a schedule has 5 fields: minute hour day month weekday", kind: .badRequest)
        }
        let ranges = [0...59, 0...23, 1...31, 1...12, 0...7]
        fields = try zip(parts, ranges).map { part, range in try Self.field(String(part), range) }
    }

    static func field(_ text: String, _ range: ClosedRange<Int>) throws -> Set<Int> {
        var values = Set<Int>()
        for item in text.split(separator: ",") {
            let pieces = item.split(separator: "/", maxSplits: 1)
            let step = pieces.count == 2 ? Int(pieces[1]) : 1
            guard let step, step > 0 else { throw invalid(text) }
            var low = range.lowerBound, high = range.upperBound
            if pieces[0] != "*" {
                let bounds = pieces[0].split(separator: "-", maxSplits: 1).map { Int($0) }
                guard let first = bounds.first ?? nil, bounds.allSatisfy({ $0 != nil }) else { throw invalid(text) }
                low = first
                high = bounds.count == 2 ? bounds[1]! : (pieces.count == 2 ? range.upperBound : first)
            }
            guard range.contains(low), range.contains(high), low <= high else { throw invalid(text) }
            values.formUnion(stride(from: low, through: high, by: step))
        }
        return values
    }

    static func invalid(_ field: String) -> NeuroplexError {
        NeuroplexError.invalid("when.schedule", "'\(field)' is not a valid cron field", kind: .badRequest)
    }

    /// Whether the schedule fires in the minute of `date` (UTC).
    public func matches(_ date: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.minute, .hour, .day, .month, .weekday], from: date)
        let weekday = (c.weekday ?? 1) - 1
        return fields[0].contains(c.minute ?? -1) && fields[1].contains(c.hour ?? -1) && fields[2].contains(c.day ?? -1)
            && fields[3].contains(c.month ?? -1) && (fields[4].contains(weekday) || (weekday == 0 && fields[4].contains(7)))
    }
}
