public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
public import SQLKit
import Synchronization

/// A background job (training), as the API shows it.
public struct MLJob: Sendable, Codable, Equatable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        case queued, running, succeeded, failed, cancelled

        public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    public struct Progress: Sendable, Codable, Equatable {
        public var current: Int
        public var total: Int
        public var unit: String
    }

    public var id: String
    public var type: String
    public var modelId: String
    public var datasetId: String?
    public var status: Status
    public var priority: Int
    public var progress: Progress
    public var metrics: [String: Double]
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var error: String?
    /// What the job needs to run (hyperparameters, split), as the request gave it.
    public var parameters: JSONValue
    /// What a finished job made besides a version: a batch prediction's `{datasetId, rows, model, version}`.
    public var result: JSONValue? = nil

    enum CodingKeys: String, CodingKey {
        case id, type, modelId, datasetId, status, priority, progress, metrics, createdAt, startedAt, finishedAt, error,
            parameters, result
    }

    /// Every field, `null` when unset (`startedAt` of a queued job, `error` of one that did not fail).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(type, forKey: .type)
        try container.encode(modelId, forKey: .modelId)
        try container.encode(datasetId, forKey: .datasetId)
        try container.encode(status, forKey: .status)
        try container.encode(priority, forKey: .priority)
        try container.encode(progress, forKey: .progress)
        try container.encode(metrics, forKey: .metrics)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(error, forKey: .error)
        try container.encode(parameters, forKey: .parameters)
        try container.encode(result, forKey: .result)
    }
}

/// What happens to a job found `running` when the server starts (its server died while it ran).
public enum OrphanedJobPolicy: String, Sendable {
    /// Put it back in the queue, to run again from the start.
    case requeue
    /// Mark it failed, saying why.
    case fail
}

/// The durable job queue in the `ml_jobs` table: jobs wait `queued` (highest priority first, then oldest), a
/// worker claims one atomically (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite one `UPDATE … RETURNING`
/// statement), runs it, and records the outcome; a job submitted while a worker of this process is idle and none
/// waits is handed to it instead (see ``enqueue(type:modelId:datasetId:priority:parameters:payload:)``). The row
/// is the truth: cancelling a running job marks the row, and the worker running it notices within its heartbeat.
public final class MLJobs: Sendable {
    let database: Database
    let clock: any WallClock
    let logger: Logger
    let events: MLEventBus
    /// Running jobs of this process, by id, so that a cancel stops them at once.
    private let running = Mutex<[String: @Sendable () -> Void]>([:])
    /// Rung when this process queues a job, so that an idle worker here claims it at once instead of at its next
    /// poll (jobs queued by other nodes are still found by polling).
    public let queued = JobSignal()
    /// Rung when this process writes a job's log lines or changes a job's status, so that a client following a
    /// log hears of it at once (changes made by other nodes are found by polling).
    public let changed = JobSignal()
    /// Jobs queued here straight to an idle worker here, and the count of idle workers (see ``enqueue``).
    private let handoff = Mutex(Handoff())

    private struct Handoff {
        /// Workers of this process waiting for a job.
        var idle = 0
        /// Submissions counting on one of them, not handed yet.
        var promised = 0
        var jobs: [HandedJob] = []
    }

    /// A job given to a worker in memory: its row already says `running`.
    struct HandedJob: Sendable {
        var job: MLJob
        /// What the submitter read to check the job (the model and dataset of a training run).
        var payload: (any Sendable)?
    }

    public init(database: Database, events: MLEventBus, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.database = database
        self.events = events
        self.clock = clock
        self.logger = logger
    }

    // MARK: Queue

    /// Adds a job to the queue — or, when a worker of this process is idle and no job waits, starts it there.
    ///
    /// A job for an idle worker is written `running` (one statement, which checks the queue is empty as it
    /// writes) and handed to the worker in memory with `payload` (what the submitter read, so the worker need not
    /// read it again); its "queued" log line is written with the worker's first lines. That spares a job on an idle
    /// server the worker's claim and a log write before it starts. Otherwise the job is queued and the workers are
    /// woken.
    public func enqueue(
        type: String, modelId: String, datasetId: String?, priority: Int, parameters: JSONValue,
        payload: (any Sendable)? = nil
    ) async throws -> MLJob {
        let now = Timestamp.truncated(clock.now())
        var job = MLJob(
            id: Identifier.make(prefix: "job", at: now), type: type, modelId: modelId, datasetId: datasetId,
            status: .queued, priority: priority, progress: .init(current: 0, total: 0, unit: "rounds"), metrics: [:],
            createdAt: now, parameters: parameters)
        let promised = handoff.withLock { handoff in
            guard handoff.idle > handoff.promised else { return false }
            handoff.promised += 1
            return true
        }
        let created = Timestamp.string(now)
        if promised {
            let status: String
            do {
                // `running` only if no job waits: a job queued before it goes first.
                status = try await database.sql.raw("""
                    INSERT INTO ml_jobs (id, type, model_id, dataset_id, status, priority, progress_current,
                        progress_total, progress_unit, metrics, parameters, created_at, started_at, heartbeat_at)
                    SELECT \(bind: job.id), \(bind: type), \(bind: modelId), \(bind: datasetId),
                        CASE WHEN waiting.n = 0 THEN 'running' ELSE 'queued' END, \(bind: priority), 0, 0, 'rounds', '{}',
                        \(bind: parameters.description), \(bind: created),
                        CASE WHEN waiting.n = 0 THEN \(bind: created) END, CASE WHEN waiting.n = 0 THEN \(bind: created) END
                    FROM (SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM ml_jobs WHERE status = 'queued' LIMIT 1) AS first)
                        AS waiting
                    RETURNING status
                    """).first().map { try $0.decode(column: "status", as: String.self) } ?? "queued"
            } catch {
                handoff.withLock { $0.promised -= 1 }
                throw error
            }
            if status == "running" {
                job.status = .running
                job.startedAt = now
                handoff.withLock { handoff in
                    handoff.promised -= 1
                    handoff.jobs.append(HandedJob(job: job, payload: payload))
                }
                queued.ring()
                return job
            }
            handoff.withLock { $0.promised -= 1 }
        } else {
            try await database.sql.insert(into: "ml_jobs")
                .columns(
                    "id", "type", "model_id", "dataset_id", "status", "priority", "progress_current", "progress_total",
                    "progress_unit", "metrics", "parameters", "created_at")
                .values(
                    SQLBind(job.id), SQLBind(type), SQLBind(modelId), SQLBind(datasetId), SQLBind("queued"),
                    SQLBind(priority), SQLBind(0), SQLBind(0), SQLBind("rounds"), SQLBind("{}"),
                    SQLBind(parameters.description), SQLBind(created))
                .run()
        }
        // The worker is woken before the first log line is written, which it does not need; the line is stamped
        // when the job was made, so that "started" never comes before "queued" in the log.
        queued.ring()
        try await log(job.id, [(now, Self.queuedLine(job))])
        return job
    }

    /// The first line of a job's log.
    static func queuedLine(_ job: MLJob) -> String { "queued with priority \(job.priority)" }

    /// A job handed to this process's workers, if one waits.
    func takeHanded() -> HandedJob? {
        handoff.withLock { $0.jobs.isEmpty ? nil : $0.jobs.removeFirst() }
    }

    /// Counts a worker of this process as waiting for a job (`true`), or no longer waiting.
    func setIdle(_ idle: Bool) {
        handoff.withLock { $0.idle += idle ? 1 : -1 }
    }

    /// Workers of this process waiting for a job.
    var idleWorkers: Int { handoff.withLock { $0.idle } }

    /// The ids of the jobs handed to this process's workers and not taken yet.
    private var handedIds: [String] { handoff.withLock { $0.jobs.map(\.job.id) } }

    /// Claims the next queued job for this worker, or `nil` when none waits.
    ///
    /// An empty queue costs one read. On PostgreSQL the claim is a transaction that locks the chosen row with
    /// `FOR UPDATE SKIP LOCKED`, so workers on several nodes never take the same job nor wait for each other; on
    /// SQLite (one server per file) it is one `UPDATE … WHERE id = (SELECT …) RETURNING *` statement, atomic on
    /// the shared connection and without a transaction connection of its own; both return the claimed row.
    /// - Parameter expected: a job was just queued here, so the read that spares an empty queue a write is skipped.
    func claim(expected: Bool = false) async throws -> MLJob? {
        if !expected {
            let waiting = try await database.sql.select().column("id").from("ml_jobs").where("status", .equal, "queued")
                .limit(1).first()
            guard waiting != nil else { return nil }
        }
        let now = Timestamp.string(clock.now())
        let row: (any SQLRow)?
        if database.engine == .postgres {
            row = try await database.transaction { sql in
                guard let row = try await sql.raw(
                    "SELECT id FROM ml_jobs WHERE status = 'queued' ORDER BY priority DESC, created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
                ).first() else { return nil }
                let id = try row.decode(column: "id", as: String.self)
                return try await sql.update("ml_jobs").set("status", to: "running").set("started_at", to: now)
                    .set("heartbeat_at", to: now).set("finished_at", to: String?.none).set("error", to: String?.none)
                    .where("id", .equal, id).where("status", .equal, "queued").returning("*").first()
            }
        } else {
            row = try await database.sql.raw("""
                UPDATE ml_jobs SET status = 'running', started_at = \(bind: now), heartbeat_at = \(bind: now),
                    finished_at = NULL, error = NULL
                WHERE status = 'queued' AND id = (
                    SELECT id FROM ml_jobs WHERE status = 'queued' ORDER BY priority DESC, created_at, id LIMIT 1)
                RETURNING *
                """).first()
        }
        return try row.map(Self.job(from:))
    }

    /// Records the progress of a running job (also its heartbeat). Returns `false` when the job is no longer
    /// running (cancelled).
    func report(_ id: String, progress: MLJob.Progress, metrics: [String: Double]) async throws -> Bool {
        let metricsJSON = try String(decoding: JSONEncoder().encode(metrics), as: UTF8.self)
        try await database.sql.update("ml_jobs")
            .set("progress_current", to: progress.current).set("progress_total", to: progress.total)
            .set("progress_unit", to: progress.unit).set("metrics", to: metricsJSON)
            .set("heartbeat_at", to: Timestamp.string(clock.now()))
            .where("id", .equal, id).where("status", .equal, "running").run()
        let status = try await database.sql.select().column("status").from("ml_jobs").where("id", .equal, id).first()
            .map { try $0.decode(column: "status", as: String.self) }
        return status == "running"
    }

    /// Ends a running job (a job cancelled meanwhile stays cancelled), with the last lines of its log in the same
    /// commit: a client following the log sees the lines and the end at once.
    func finish(
        _ id: String, status: MLJob.Status, error: String? = nil, metrics: [String: Double]? = nil,
        progress: MLJob.Progress? = nil, result: JSONValue? = nil, lines: [(at: Date, message: String)] = []
    ) async throws {
        let end = try ending(id, status: status, error: error, metrics: metrics, progress: progress, result: result)
        if lines.isEmpty {
            _ = try await end(database.sql)
        } else {
            try await database.transaction { sql in
                try await Self.insert(lines, of: id, into: sql)
                _ = try await end(sql)
            }
        }
        changed.ring()
    }

    /// Ends a running job in the commit that writes what it made (`first`, such as a model version's row), with
    /// the last lines of its log, which may name what was made. Nothing is written when `first` throws, nor when
    /// the job is no longer running (cancelled in the instant before its worker could be told): then
    /// ``JobNotRunning`` is thrown.
    func finish<Made: Sendable>(
        _ id: String, status: MLJob.Status, metrics: [String: Double]?, progress: MLJob.Progress?,
        after first: @escaping @Sendable (any SQLDatabase) async throws -> Made,
        lines: @escaping @Sendable (Made) -> [(at: Date, message: String)]
    ) async throws -> Made {
        let end = try ending(id, status: status, error: nil, metrics: metrics, progress: progress, result: nil)
        let made = try await database.transaction { sql in
            // The job's row first: what `first` makes may still be in the making (a model's file), and this
            // statement needs none of it.
            guard try await end(sql) else { throw JobNotRunning(id: id) }
            let made = try await first(sql)
            try await Self.insert(lines(made), of: id, into: sql)
            return made
        }
        changed.ring()
        return made
    }

    /// The statement that ends a running job; it tells whether the job was still running.
    private func ending(
        _ id: String, status: MLJob.Status, error: String?, metrics: [String: Double]?, progress: MLJob.Progress?,
        result: JSONValue?
    ) throws -> @Sendable (any SQLDatabase) async throws -> Bool {
        let metricsJSON = try metrics.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        let finishedAt = Timestamp.string(clock.now())
        return { sql in
            var update = sql.update("ml_jobs").set("status", to: status.rawValue)
                .set("finished_at", to: finishedAt).set("error", to: error)
            if let result { update = update.set("result", to: result.description) }
            if let progress {
                update = update.set("progress_current", to: progress.current).set("progress_total", to: progress.total)
                    .set("progress_unit", to: progress.unit)
            }
            if let metricsJSON { update = update.set("metrics", to: metricsJSON) }
            return try await update.where("id", .equal, id).where("status", .equal, "running").returning("id").first()
                != nil
        }
    }

    /// A job's outcome came after the job had stopped running (it was cancelled): nothing of it was written.
    struct JobNotRunning: Error, CustomStringConvertible {
        var id: String
        var description: String { "job '\(id)' is no longer running" }
    }

    /// Puts a running job back in the queue (graceful shutdown).
    func requeue(_ id: String, reason: String) async throws {
        try await database.sql.update("ml_jobs").set("status", to: "queued").set("started_at", to: String?.none)
            .set("progress_current", to: 0).where("id", .equal, id).where("status", .equal, "running").run()
        try await log(id, "re-queued: \(reason)")
    }

    /// Re-queues (or fails) the jobs left `running` by a server that stopped without finishing them, once their
    /// heartbeat is older than `staleAfter` seconds (0: all of them, for a single server at start).
    public func recoverOrphans(policy: OrphanedJobPolicy, staleAfter: Double = 0) async throws {
        let cutoff = Timestamp.string(clock.now().addingTimeInterval(-staleAfter))
        var query = database.sql.select().column("id").from("ml_jobs").where("status", .equal, "running")
        if staleAfter > 0 { query = query.where("heartbeat_at", .lessThan, cutoff) }
        let local = Set(running.withLock { $0.keys }).union(handedIds)
        for row in try await query.all() {
            let id = try row.decode(column: "id", as: String.self)
            guard !local.contains(id) else { continue }
            switch policy {
            case .requeue:
                try await requeue(id, reason: "the server stopped while the job ran")
                logger.warning("re-queued an interrupted job", metadata: ["job.id": "\(id)"])
            case .fail:
                try await finish(id, status: .failed, error: "the server stopped while the job ran")
                try await log(id, "failed: the server stopped while the job ran")
                logger.warning("failed an interrupted job", metadata: ["job.id": "\(id)"])
            }
        }
    }

    // MARK: Control

    /// Cancels a queued or running job; a running one stops within a second.
    /// - Throws: `not_found`; `job_finished` (409) for a job that already ended.
    public func cancel(id: String) async throws -> MLJob {
        let job = try await get(id: id)
        guard !job.status.isFinished else {
            throw NeuroplexError(.conflict, code: "job_finished", "job '\(id)' has already \(job.status.rawValue)")
        }
        try await database.sql.update("ml_jobs").set("status", to: "cancelled")
            .set("finished_at", to: Timestamp.string(clock.now()))
            .where("id", .equal, id).where("status", .in, ["queued", "running"]).run()
        running.withLock { $0[id] }?()
        try await log(id, "cancelled")
        events.publish(.jobFinished(jobId: id, modelId: job.modelId, status: .cancelled))
        return try await get(id: id)
    }

    /// Changes the priority of a queued job.
    /// - Throws: `not_found`; `job_not_queued` (409) once it runs or ended.
    public func setPriority(id: String, _ priority: Int) async throws -> MLJob {
        let job = try await get(id: id)
        guard job.status == .queued else {
            throw NeuroplexError(
                .conflict, code: "job_not_queued", "job '\(id)' is \(job.status.rawValue); only a queued job's priority can change")
        }
        try await database.sql.update("ml_jobs").set("priority", to: priority).where("id", .equal, id)
            .where("status", .equal, "queued").run()
        return try await get(id: id)
    }

    func registerRunning(_ id: String, cancel: @escaping @Sendable () -> Void) {
        running.withLock { $0[id] = cancel }
    }

    func unregisterRunning(_ id: String) {
        _ = running.withLock { $0.removeValue(forKey: id) }
    }

    // MARK: Logs

    /// Appends a line to the job's log.
    public func log(_ id: String, _ message: String) async throws {
        try await log(id, [(clock.now(), message)])
    }

    /// Appends lines to the job's log in one statement (one commit), each with the time it was produced.
    public func log(_ id: String, _ lines: [(at: Date, message: String)]) async throws {
        guard !lines.isEmpty else { return }
        try await Self.insert(lines, of: id, into: database.sql)
        changed.ring()
    }

    private static func insert(_ lines: [(at: Date, message: String)], of id: String, into sql: any SQLDatabase) async throws {
        // `seq` orders the lines: the time in microseconds, with three random digits so that two nodes writing
        // the same microsecond do not collide, and kept increasing within the batch.
        var previous = Int64.min
        let rows = lines.map { line -> [any SQLExpression] in
            let micros = Int64(line.at.timeIntervalSince1970 * 1_000_000)
            let seq = max(micros &* 1000 &+ Int64.random(in: 0..<1000), previous &+ 1)
            previous = seq
            return [SQLBind(id), SQLBind(seq), SQLBind(Timestamp.string(line.at)), SQLBind(line.message)]
        }
        // At most 200 rows (800 parameters) a statement: under every SQLite build's limit on bound parameters.
        for start in stride(from: 0, to: rows.count, by: 200) {
            try await sql.insert(into: "ml_job_logs").columns("job_id", "seq", "at", "message")
                .rows(rows[start..<min(start + 200, rows.count)]).run()
        }
    }

    /// The job's log lines, oldest first: `(seq, line)`. (A client following the log reads
    /// ``statusAndLogs(id:after:)``.)
    public func logs(id: String) async throws -> [(seq: Int64, line: String)] {
        _ = try await get(id: id)
        return try await database.sql.select().columns("seq", "at", "message").from("ml_job_logs")
            .where("job_id", .equal, id).orderBy("seq").all()
            .map {
                (try $0.decode(column: "seq", as: Int64.self),
                 "\(try $0.decode(column: "at", as: String.self)) \(try $0.decode(column: "message", as: String.self))")
            }
    }

    /// The job's status and its log lines after `after` (a `seq`), read in one statement, so that both come from
    /// the same moment: when the status is finished, the lines are its last ones (they are written with or before
    /// the outcome). What a client following the log reads at each wake-up.
    /// - Throws: `not_found` when there is no such job.
    public func statusAndLogs(id: String, after: Int64 = -1) async throws -> (status: MLJob.Status, lines: [(seq: Int64, line: String)]) {
        let rows = try await database.sql.raw("""
            SELECT j.status AS status, l.seq AS seq, l.at AS at, l.message AS message
            FROM ml_jobs j LEFT JOIN ml_job_logs l ON l.job_id = j.id AND l.seq > \(bind: after)
            WHERE j.id = \(bind: id) ORDER BY l.seq
            """).all()
        guard let first = rows.first else { throw NeuroplexError.notFound("job", id: id) }
        let raw = try first.decode(column: "status", as: String.self)
        guard let status = MLJob.Status(rawValue: raw) else {
            throw NeuroplexError(.internal, code: .internal, "job '\(id)' has an unknown status '\(raw)'")
        }
        let lines = try rows.compactMap { row -> (seq: Int64, line: String)? in
            guard let seq = try row.decode(column: "seq", as: Int64?.self) else { return nil }
            return (seq, "\(try row.decode(column: "at", as: String.self)) \(try row.decode(column: "message", as: String.self))")
        }
        return (status, lines)
    }

    // MARK: Reading

    public func get(id: String) async throws -> MLJob {
        guard let row = try await database.sql.select().column("*").from("ml_jobs").where("id", .equal, id).first() else {
            throw NeuroplexError.notFound("job", id: id)
        }
        return try Self.job(from: row)
    }

    /// A page of jobs, newest first, optionally of one status or model.
    public func list(status: MLJob.Status?, modelId: String?, page: PageRequest) async throws -> Page<MLJob> {
        var query = database.sql.select().column("*").from("ml_jobs")
        if let status { query = query.where("status", .equal, status.rawValue) }
        if let modelId { query = query.where("model_id", .equal, modelId) }
        if let after = page.after { query = query.where("id", .lessThan, after) }
        let rows = try await query.orderBy("id", .descending).limit(page.limit + 1).all()
        let jobs = try rows.prefix(page.limit).map(Self.job(from:))
        let next = rows.count > page.limit ? jobs.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: jobs, nextCursor: next)
    }

    /// The model's queued or running job, if any.
    public func activeJob(modelId: String) async throws -> MLJob? {
        try await database.sql.select().column("*").from("ml_jobs").where("model_id", .equal, modelId)
            .where("status", .in, ["queued", "running"]).orderBy("id", .descending).limit(1).first()
            .map(Self.job(from:))
    }

    /// The model's latest job, if any.
    public func latestJob(modelId: String) async throws -> MLJob? {
        try await database.sql.select().column("*").from("ml_jobs").where("model_id", .equal, modelId)
            .orderBy("id", .descending).limit(1).first().map(Self.job(from:))
    }

    static func job(from row: any SQLRow) throws -> MLJob {
        func date(_ column: String) throws -> Date? {
            try row.decode(column: column, as: String?.self).flatMap(Timestamp.parse)
        }
        let metrics = try row.decode(column: "metrics", as: String.self)
        let parameters = try row.decode(column: "parameters", as: String.self)
        return MLJob(
            id: try row.decode(column: "id", as: String.self),
            type: try row.decode(column: "type", as: String.self),
            modelId: try row.decode(column: "model_id", as: String.self),
            datasetId: try row.decode(column: "dataset_id", as: String?.self),
            status: MLJob.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .failed,
            priority: try row.decode(column: "priority", as: Int.self),
            progress: .init(
                current: try row.decode(column: "progress_current", as: Int.self),
                total: try row.decode(column: "progress_total", as: Int.self),
                unit: try row.decode(column: "progress_unit", as: String.self)),
            metrics: (try? JSONDecoder().decode([String: Double].self, from: Data(metrics.utf8))) ?? [:],
            createdAt: try date("created_at") ?? Date(timeIntervalSince1970: 0),
            startedAt: try date("started_at"), finishedAt: try date("finished_at"),
            error: try row.decode(column: "error", as: String?.self),
            parameters: (try? JSONValue.parse(parameters)) ?? .object([:]),
            result: (try? row.decode(column: "result", as: String?.self))?.flatMap { try? JSONValue.parse($0) })
    }
}

extension MLJobs: DatasetUsage {
    public func activeJobs(usingDataset id: String, in sql: any SQLDatabase) async throws -> [String] {
        try await sql.select().column("id").from("ml_jobs").where("dataset_id", .equal, id)
            .where("status", .in, ["queued", "running"]).all()
            .map { try $0.decode(column: "id", as: String.self) }
    }
}

// MARK: Events

/// What happens to models and jobs, for listeners in the process (the serving issue streams them over WebSocket).
public enum MLEvent: Sendable, Equatable {
    case jobProgress(jobId: String, modelId: String, current: Int, total: Int, metrics: [String: Double])
    case jobFinished(jobId: String, modelId: String, status: MLJob.Status)
    case versionCreated(modelId: String, version: Int)
    case validated(modelId: String, version: Int, metrics: [String: Double], passed: Bool?)
    /// A deployment changed: deployed, a canary step, promoted, rolled back or retired (`change`), with a reason.
    case deployment(modelId: String, version: Int?, change: String, detail: String?)
    /// Monitoring found something, or a retraining trigger fired: `kind` is `drift`, `accuracy` or `trigger`.
    case alert(modelId: String, version: Int, kind: String, detail: String)
}

/// A small typed event bus: every subscriber gets every event published after it subscribed. A slow subscriber
/// loses the oldest events past its buffer rather than holding up the publisher.
public final class MLEventBus: Sendable {
    private let subscribers = Mutex<[UInt64: AsyncStream<MLEvent>.Continuation]>([:])
    private let nextID = Atomic<UInt64>(0)

    public init() {}

    /// The events from now on; ends when the caller stops iterating.
    public func subscribe(buffer: Int = 1024) -> AsyncStream<MLEvent> { subscription(buffer: buffer).events }

    /// The events from now on, and a function that ends the stream from any task (at shutdown).
    public func subscription(buffer: Int = 1024) -> (events: AsyncStream<MLEvent>, end: @Sendable () -> Void) {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).oldValue
        let (stream, continuation) = AsyncStream<MLEvent>.makeStream(bufferingPolicy: .bufferingNewest(buffer))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return (stream, { continuation.finish() })
    }

    public func publish(_ event: MLEvent) {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(event) }
    }
}

/// A doorbell for idle workers: `ring` wakes every worker waiting in `wait(after:timeout:)`; a ring between a
/// worker's look at the queue and its wait is not lost (the generation it saw has moved on).
public final class JobSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits released (timed out or cancelled) before they were registered.
        var released: Set<UInt64> = []
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// The number of rings so far: read it before looking at the queue, and wait after it.
    public var generation: UInt64 { state.withLock { $0.generation } }

    public func ring() {
        let waiting = state.withLock { state in
            state.generation += 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns at the first ring after `generation`, after `timeout`, or when the task is cancelled.
    public func wait(after generation: UInt64, timeout: Duration) async {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        let timer = Task { [weak self] in
            guard (try? await Task.sleep(for: timeout)) != nil else { return }  // cancelled: the wait is over
            self?.release(id)
        }
        defer {
            timer.cancel()
            // A release that came after the wait ended leaves its id behind; nothing will register it again.
            state.withLock { _ = $0.released.remove(id) }
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.released.remove(id) != nil || state.generation != generation { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            release(id)
        }
    }

    /// Resumes one waiter; one not registered yet returns as soon as it registers.
    private func release(_ id: UInt64) {
        let waiter = state.withLock { state in
            let waiter = state.waiters.removeValue(forKey: id)
            if waiter == nil { state.released.insert(id) }
            return waiter
        }
        waiter?.resume()
    }
}

extension MLEvent {
    /// The event's name on the wire: `job.progress`, `job.finished`, `version.created`, `version.validated`,
    /// `deployment.<change>` (`deployed`, `canary_step`, `promoted`, `rolled_back`, `retired`), `drift.alert`,
    /// `accuracy.alert`, `trigger.alert`.
    public var type: String {
        switch self {
        case .jobProgress: "job.progress"
        case .jobFinished: "job.finished"
        case .versionCreated: "version.created"
        case .validated: "version.validated"
        case .deployment(_, _, let change, _): "deployment.\(change)"
        case .alert(_, _, let kind, _): "\(kind).alert"
        }
    }

    public var modelId: String {
        switch self {
        case .jobProgress(_, let modelId, _, _, _), .jobFinished(_, let modelId, _), .versionCreated(let modelId, _),
            .validated(let modelId, _, _, _), .deployment(let modelId, _, _, _), .alert(let modelId, _, _, _):
            modelId
        }
    }

    /// The event as a JSON object with its `type`.
    public var json: JSONValue {
        var fields: [String: JSONValue] = ["type": .string(type), "modelId": .string(modelId)]
        switch self {
        case .jobProgress(let jobId, _, let current, let total, let metrics):
            fields["jobId"] = .string(jobId)
            fields["current"] = .int(Int64(current))
            fields["total"] = .int(Int64(total))
            fields["metrics"] = .object(metrics.mapValues { .double($0) })
        case .jobFinished(let jobId, _, let status):
            fields["jobId"] = .string(jobId)
            fields["status"] = .string(status.rawValue)
        case .versionCreated(_, let version):
            fields["version"] = .int(Int64(version))
        case .validated(_, let version, let metrics, let passed):
            fields["version"] = .int(Int64(version))
            fields["metrics"] = .object(metrics.mapValues { .double($0) })
            fields["passed"] = passed.map { .bool($0) } ?? .null
        case .deployment(_, let version, _, let detail):
            fields["version"] = version.map { .int(Int64($0)) } ?? .null
            fields["detail"] = detail.map { .string($0) } ?? .null
        case .alert(_, let version, _, let detail):
            fields["version"] = .int(Int64(version))
            fields["detail"] = .string(detail)
        }
        return .object(fields)
    }
}
