public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit
import Synchronization

/// Sentinel's state over the database: the rule set (the defaults, overridden or extended by stored rules), alerts,
/// incidents and analysts' verdicts. Live events (`POST /sentinel/events`) run through one rule engine; alerts are
/// stored as they are raised or updated and grouped into incidents.
public final class Sentinel: Sendable {
    /// A rule with where it comes from.
    public struct RuleEntry: Codable, Sendable, Equatable {
        public var rule: DetectionRule
        /// One of the rules that ship (`defaults`); a stored rule with its id replaces it.
        public var builtin: Bool
        public var modified: Bool
    }

    /// An analyst's verdict on an alert.
    public struct Feedback: Codable, Sendable, Equatable {
        public enum Verdict: String, Codable, Sendable { case truePositive = "true_positive", falsePositive = "false_positive" }
        public var verdict: Verdict
        public var note: String?
        public var at: Date
    }

    /// An alert as stored: with its incident and the analyst's verdict.
    public struct StoredAlert: Codable, Sendable, Equatable {
        public var alert: Alert
        public var incidentId: String?
        public var feedback: Feedback?
    }

    /// What ingesting a batch of events did.
    public struct IngestResult: Codable, Sendable, Equatable {
        public var accepted: Int
        public var rejected: [RejectedLine]
        public var alerts: [Alert]
    }

    private struct Live {
        var rules: [RuleEntry]
        var engine: RuleEngine
        var baselines = HostBaselines()
        var grouper: IncidentGrouper
    }

    let database: Database
    let clock: any WallClock
    let logger: Logger
    private let live: Mutex<Live>
    /// One write of alerts and incidents at a time, so that their rows follow the engine's order.
    private let writer = AsyncSerialGate()
    /// Where new and updated alerts (channel `sentinel.alerts`) and incidents (`sentinel.incidents`) are announced as
    /// JSON documents: the platform's event bus, which HTTP, WebSocket and Redis-protocol subscribers share.
    let announce: (@Sendable (_ channel: String, _ json: String) -> Void)?
    /// Where an analyst's verdict on a model's alert goes (the ML platform's feedback), when one is wired in.
    let verdicts: (@Sendable (Alert, Feedback.Verdict) async throws -> Void)?

    public static let migrations: [Migration] = [
        Migration("sentinel-0001") { sql in
            try await sql.create(table: "sentinel_rules")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("document", type: .text, .notNull)
                .column("updated_at", type: .text, .notNull)
                .run()
            try await sql.create(table: "sentinel_alerts")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("severity", type: .int, .notNull)
                .column("last_seen", type: .real, .notNull)
                .column("document", type: .text, .notNull)
                .run()
            try await sql.create(table: "sentinel_incidents")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("status", type: .text, .notNull)
                .column("document", type: .text, .notNull)
                .run()
        },
    ]

    /// Loads the stored rules and the incidents still open.
    /// - Parameter announce: publishes alerts and incidents as they are stored (see ``announce``).
    /// - Parameter verdicts: receives analysts' verdicts on alerts a model raised, so that its accuracy tracking and
    ///   retraining triggers see them.
    public init(
        database: Database, clock: any WallClock = SystemWallClock(), logger: Logger,
        announce: (@Sendable (_ channel: String, _ json: String) -> Void)? = nil,
        verdicts: (@Sendable (Alert, Feedback.Verdict) async throws -> Void)? = nil
    ) async throws {
        self.announce = announce
        self.verdicts = verdicts
        self.database = database
        self.clock = clock
        self.logger = logger
        let stored = try await database.sql.select().column("document").from("sentinel_rules").orderBy("id").all()
            .map { try Self.decode(DetectionRule.self, $0) }
        let rules = Self.merge(stored)
        let incidents = try await database.sql.select().column("document").from("sentinel_incidents")
            .where("status", .notEqual, Incident.Status.resolved.rawValue).all()
            .map { try Self.decode(Incident.self, $0) }
        live = Mutex(Live(
            rules: rules, engine: RuleEngine(rules: rules.map(\.rule)), grouper: IncidentGrouper(restoring: incidents)))
    }

    static func merge(_ stored: [DetectionRule]) -> [RuleEntry] {
        var entries = DetectionRule.defaults.map { RuleEntry(rule: $0, builtin: true, modified: false) }
        for rule in stored {
            if let index = entries.firstIndex(where: { $0.rule.id == rule.id }) {
                entries[index] = RuleEntry(rule: rule, builtin: true, modified: true)
            } else {
                entries.append(RuleEntry(rule: rule, builtin: false, modified: false))
            }
        }
        return entries
    }

    // MARK: Rules

    public func rules() -> [RuleEntry] { live.withLock { $0.rules } }

    /// - Throws: `not_found`.
    public func rule(id: String) throws -> RuleEntry {
        guard let entry = live.withLock({ $0.rules.first { $0.rule.id == id } }) else { throw NeuroplexError.notFound("rule", id: id) }
        return entry
    }

    /// Creates or replaces the rule `id` from a JSON or YAML document (its `id`, if given, must be `id`). A built-in
    /// rule is overridden (`enabled: false` turns it off). Live detection uses the new set at once.
    /// - Throws: `validation_failed` naming the field. - Returns: the rule, and whether it is new.
    public func putRule(id: String, document: String) async throws -> (RuleEntry, created: Bool) {
        let parsed = try DetectionRule.parse(document, defaultID: id)
        guard parsed.count == 1, var rule = parsed.first else { throw NeuroplexError.invalid("", "send one rule") }
        guard rule.id == id else { throw NeuroplexError.invalid("id", "the rule's id '\(rule.id)' is not the one in the path, '\(id)'") }
        rule.id = id
        let now = Timestamp.string(clock.now())
        let json = try Self.json(rule)
        try await database.transaction { sql in
            try await sql.delete(from: "sentinel_rules").where("id", .equal, id).run()
            try await sql.insert(into: "sentinel_rules").columns("id", "document", "updated_at")
                .values(SQLBind(id), SQLBind(json), SQLBind(now)).run()
        }
        return live.withLock { live in
            let existed = live.rules.contains { $0.rule.id == id }
            var stored = live.rules.filter { $0.modified || !$0.builtin }.map(\.rule).filter { $0.id != id }
            stored.append(rule)
            live.rules = Self.merge(stored)
            live.engine = RuleEngine(rules: live.rules.map(\.rule))
            return (live.rules.first { $0.rule.id == id }!, !existed)
        }
    }

    /// Deletes a stored rule; a built-in one goes back to how it ships.
    /// - Throws: `not_found`; `conflict` for a built-in rule that was never changed (turn it off with `enabled: false`).
    public func deleteRule(id: String) async throws {
        let entry = try rule(id: id)
        guard !entry.builtin || entry.modified else {
            throw NeuroplexError(
                .conflict, code: .conflict, "'\(id)' ships with Sentinel: turn it off with PUT {\"enabled\": false} instead")
        }
        try await database.sql.delete(from: "sentinel_rules").where("id", .equal, id).run()
        live.withLock { live in
            let stored = live.rules.filter { ($0.modified || !$0.builtin) && $0.rule.id != id }.map(\.rule)
            live.rules = Self.merge(stored)
            live.engine = RuleEngine(rules: live.rules.map(\.rule))
        }
    }

    // MARK: Events

    /// Runs honeypot and SIEM lines through the live rules; stores and returns the alerts they raised or updated.
    public func ingest(events text: String, format: EventLogs.Format? = nil) async throws -> IngestResult {
        var (events, rejected) = EventLogs.parse(text, format: format, now: clock.now())
        // Line numbers name events within this batch; the batch's id makes them unique in evidence.
        let batch = Identifier.make(prefix: "evb", at: clock.now())
        for index in events.indices { events[index].id = "\(batch):\(events[index].id)" }
        let alerts = live.withLock { live in events.sorted { $0.time < $1.time }.flatMap { live.engine.observe($0) } }
        try await record(alerts)
        return IngestResult(accepted: events.count, rejected: rejected, alerts: Self.latest(alerts))
    }

    /// Runs flows arriving live (a collector's) through the live rules and host baselines; stores and returns the
    /// alerts.
    public func observe(flows: [FlowObservation]) async throws -> [Alert] {
        let alerts = live.withLock { live in
            flows.sorted { $0.start < $1.start }.flatMap { live.engine.observe($0) + live.baselines.observe($0) }
        }
        try await record(alerts)
        return Self.latest(alerts)
    }

    /// The rules in force now, for ``detect(flows:rules:)`` run elsewhere (a capture's analysis thread).
    public var detectionRules: [DetectionRule] { live.withLock { $0.rules.map(\.rule) } }

    /// Stores a sequence of raises and updates of alerts that ``detect(flows:rules:)`` (or a model) made, with
    /// their incidents; returns each alert's last state.
    public func store(_ alerts: [Alert]) async throws -> [Alert] {
        try await record(alerts)
        return Self.latest(alerts)
    }

    /// Runs flows through a fresh rule engine and fresh host baselines, in capture time: the raises and updates of
    /// alerts in order (``latest(_:)`` keeps each alert's last state). Stores nothing.
    public static func detect(flows: [FlowObservation], rules: [DetectionRule] = DetectionRule.defaults) -> [Alert] {
        var engine = RuleEngine(rules: rules)
        var baselines = HostBaselines()
        var alerts = flows.sorted { ($0.start, $0.id) < ($1.start, $1.id) }.flatMap { engine.observe($0) + baselines.observe($0) }
        alerts += baselines.finish()
        return alerts
    }

    /// The last state of each alert of a sequence of raises and updates.
    public static func latest(_ alerts: [Alert]) -> [Alert] {
        var order: [String] = []
        var byID: [String: Alert] = [:]
        for alert in alerts {
            if byID[alert.id] == nil { order.append(alert.id) }
            byID[alert.id] = alert
        }
        return order.map { byID[$0]! }
    }

    /// Stores alerts (new or updated) and the incidents they join.
    private func record(_ alerts: [Alert]) async throws {
        let latest = Self.latest(alerts)
        guard !latest.isEmpty else { return }
        try await writer.run {
            let (incidentIds, incidentList) = live.withLock { $0.grouper.add(latest) }
            let previous = try await self.storedAlerts(ids: latest.map(\.id))
            let stored = zip(latest, incidentIds).map {
                StoredAlert(alert: $0, incidentId: $1, feedback: previous[$0.id]?.feedback)
            }
            // Each alert encoded once, for its row and its announcement.
            let documents = try stored.map { try Self.json($0) }
            let rows = zip(stored, documents).map { entry, document -> [any SQLExpression] in
                [SQLBind(entry.alert.id), SQLBind(Severity.allCases.firstIndex(of: entry.alert.severity)!),
                 SQLBind(entry.alert.lastSeen), SQLBind(document)]
            }
            let incidentDocuments = try await database.transaction { sql in
                // New or updated, many rows a statement: a capture can raise tens of thousands of alerts (a model
                // scoring a flood from many sources), and a statement each took most of its analysis time.
                for start in stride(from: 0, to: rows.count, by: Self.rowsPerStatement) {
                    try await sql.insert(into: "sentinel_alerts").columns("id", "severity", "last_seen", "document")
                        .rows(rows[start..<min(start + Self.rowsPerStatement, rows.count)])
                        .onConflict(with: "id") {
                            $0.set(excludedValueOf: "severity").set(excludedValueOf: "last_seen").set(excludedValueOf: "document")
                        }
                        .run()
                }
                return try await Self.save(incidentList, sql)
            }
            if let announce {
                for document in documents { announce("sentinel.alerts", document) }
                for document in incidentDocuments { announce("sentinel.incidents", document) }
            }
        }
    }

    /// Stores incidents, new or changed, many rows a statement; returns each one's JSON document.
    @discardableResult
    private static func save(_ incidents: [Incident], _ sql: any SQLDatabase) async throws -> [String] {
        let documents = try incidents.map { try json($0) }
        let rows = zip(incidents, documents).map { incident, document -> [any SQLExpression] in
            [SQLBind(incident.id), SQLBind(incident.status.rawValue), SQLBind(document)]
        }
        for start in stride(from: 0, to: rows.count, by: rowsPerStatement) {
            try await sql.insert(into: "sentinel_incidents").columns("id", "status", "document")
                .rows(rows[start..<min(start + rowsPerStatement, rows.count)])
                .onConflict(with: "id") { $0.set(excludedValueOf: "status").set(excludedValueOf: "document") }
                .run()
        }
        return documents
    }

    /// Rows written by one statement: 200 rows of 4 values stay under every SQLite build's limit on bound
    /// parameters (999 in old ones).
    static let rowsPerStatement = 200

    private func storedAlerts(ids: [String]) async throws -> [String: StoredAlert] {
        var alerts: [String: StoredAlert] = [:]
        for start in stride(from: 0, to: ids.count, by: 4 * Self.rowsPerStatement) {
            let chunk = Array(ids[start..<min(start + 4 * Self.rowsPerStatement, ids.count)])
            for row in try await database.sql.select().column("document").from("sentinel_alerts").where("id", .in, chunk).all() {
                let alert = try Self.decode(StoredAlert.self, row)
                alerts[alert.alert.id] = alerts[alert.alert.id] ?? alert
            }
        }
        return alerts
    }

    // MARK: Alerts

    /// Alerts, newest activity first, at or above `severity` and seen since `since` (Unix seconds).
    public func alerts(severity: Severity? = nil, since: Double? = nil, page: PageRequest) async throws -> Page<StoredAlert> {
        var query = database.sql.select().column("document").column("id").column("last_seen").from("sentinel_alerts")
        if let severity { query = query.where("severity", .greaterThanOrEqual, Severity.allCases.firstIndex(of: severity)!) }
        if let since { query = query.where("last_seen", .greaterThanOrEqual, since) }
        if let after = page.after {
            let parts = after.split(separator: "|", maxSplits: 1)
            guard parts.count == 2, let seen = Double(parts[0]) else { throw NeuroplexError.invalid("cursor", "cursor is not one this server handed out") }
            let id = String(parts[1])
            query = query.where { group in
                group.where("last_seen", .lessThan, seen).orWhere { inner in
                    inner.where("last_seen", .equal, seen).where("id", .greaterThan, id)
                }
            }
        }
        let rows = try await query.orderBy("last_seen", .descending).orderBy("id").limit(page.limit + 1).all()
        let items = try rows.prefix(page.limit).map { try Self.decode(StoredAlert.self, $0) }
        let next = rows.count > page.limit ? items.last.map { PageRequest.cursor(after: "\($0.alert.lastSeen)|\($0.alert.id)") } : nil
        return Page(items: Array(items), nextCursor: next)
    }

    /// - Throws: `not_found`.
    public func alert(id: String) async throws -> StoredAlert {
        guard let stored = try await storedAlerts(ids: [id])[id] else { throw NeuroplexError.notFound("alert", id: id) }
        return stored
    }

    /// Records an analyst's verdict on an alert (a later verdict replaces it).
    /// - Throws: `not_found`.
    public func feedback(alertId: String, verdict: Feedback.Verdict, note: String?) async throws -> StoredAlert {
        try await writer.run {
            var stored = try await alert(id: alertId)
            stored.feedback = Feedback(verdict: verdict, note: note, at: Timestamp.truncated(clock.now()))
            try await database.sql.update("sentinel_alerts").set("document", to: SQLBind(try Self.json(stored)))
                .where("id", .equal, alertId).run()
            if stored.alert.evidence.model != nil, let verdicts {
                do {
                    try await verdicts(stored.alert, verdict)
                } catch {
                    // The verdict is kept; the model may have been deleted since it raised the alert.
                    logger.warning(
                        "a verdict on a model's alert did not reach the model's feedback",
                        metadata: ["alert": "\(alertId)", "error": "\(error)"])
                }
            }
            return stored
        }
    }

    // MARK: Incidents

    /// Incidents, newest first (`status` to filter).
    public func incidents(status: Incident.Status? = nil, page: PageRequest) async throws -> Page<Incident> {
        var query = database.sql.select().column("document").from("sentinel_incidents")
        if let status { query = query.where("status", .equal, status.rawValue) }
        if let after = page.after { query = query.where("id", .lessThan, after) }
        let rows = try await query.orderBy("id", .descending).limit(page.limit + 1).all()
        let items = try rows.prefix(page.limit).map { try Self.decode(Incident.self, $0) }
        let next = rows.count > page.limit ? items.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: Array(items), nextCursor: next)
    }

    /// - Throws: `not_found`.
    public func incident(id: String) async throws -> Incident {
        guard let row = try await database.sql.select().column("document").from("sentinel_incidents").where("id", .equal, id).first() else {
            throw NeuroplexError.notFound("incident", id: id)
        }
        return try Self.decode(Incident.self, row)
    }

    /// Sets an incident's status. A resolved incident takes no more alerts: the attacker's next ones open another.
    /// - Throws: `not_found`.
    public func setStatus(incidentId: String, _ status: Incident.Status) async throws -> Incident {
        try await writer.run {
            var changed = try await incident(id: incidentId)
            changed.status = status
            let incident = changed
            live.withLock { live in _ = try? live.grouper.setStatus(incidentId, status) }
            try await database.transaction { sql in try await Self.save([incident], sql) }
            return incident
        }
    }

    /// The incident's report: timeline, affected hosts, and the models' insights.
    public func report(incidentId: String) async throws -> IncidentReport {
        let incident = try await incident(id: incidentId)
        let alerts = try await storedAlerts(ids: incident.alertIds).values.map(\.alert)
        return IncidentReport(incident: incident, alerts: alerts)
    }

    // MARK: JSON

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.string(date))
        }
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ row: any SQLRow) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            Timestamp.parse(try decoder.singleValueContainer().decode(String.self)) ?? Date(timeIntervalSince1970: 0)
        }
        return try decoder.decode(T.self, from: Data(try row.decode(column: "document", as: String.self).utf8))
    }
}
