public import Foundation
public import Logging
public import NeuroplexCore
public import NeuroplexStorage
import SQLKit
import Synchronization

/// Uploaded packet captures, analysed as background jobs: the capture is stored as a blob, read into flows
/// (``CaptureFlows``), the flows are written as CICFlowMeter CSV (another blob) and run through the rules and host
/// baselines (``Sentinel/detect(flows:rules:)``, then ``Sentinel/store(_:)``). One capture is analysed at a time, on a
/// thread of its own; captures still queued or running when the server stopped are analysed again when it starts.
public final class SentinelCaptures: Sendable {
    public struct Progress: Codable, Sendable, Equatable {
        public var current: Int64
        public var total: Int64
        public var unit: String
    }

    public struct Capture: Codable, Sendable, Equatable {
        public enum Status: String, Codable, Sendable { case queued, running, succeeded, failed }

        public var id: String
        /// The analysis run; its state and progress are this capture's.
        public var jobId: String
        public var name: String?
        public var status: Status
        /// SHA-256 of the capture file (its blob).
        public var digest: String
        /// The file's size in bytes.
        public var size: Int64
        public var format: String?
        public var packets: Int
        /// Bytes of the packets read, as on the wire.
        public var bytes: Int64
        public var packetsWithoutFlow: Int
        public var flows: Int64
        public var alerts: Int
        /// The model that scores the flows (its name), and the version that did.
        public var model: String?
        public var modelVersion: Int?
        /// Flows the model scored as an attack.
        public var flowsScoredAsAttack: Int?
        /// The model's alerts whose evidence has no top features: past the capture's explanation budget
        /// (``FlowPipeline/explanationBudget``), or from a model that cannot explain.
        public var modelAlertsUnexplained: Int?
        public var progress: Progress
        /// Where the capture stops being readable, when it does: it was analysed up to there.
        public var damaged: CaptureDamage?
        public var error: String?
        /// Capture times of the first and last packet (Unix seconds).
        public var firstPacket: Double?
        public var lastPacket: Double?
        public var flowsDigest: String?
        public var createdAt: Date
        public var startedAt: Date?
        public var finishedAt: Date?
    }

    /// A flow row of a capture's flows, for listings.
    public struct FlowRow: Codable, Sendable, Equatable {
        /// The row in the capture's flows.csv (from 1); alerts' evidence names flows as `captureId:row`.
        public var row: Int
        public var flowId: String
        public var source: String
        public var sourcePort: Int
        public var destination: String
        public var destinationPort: Int
        public var `protocol`: Int
        public var timestamp: String
        /// CICFlowMeter's features by their column names.
        public var features: [String: Double]
        public var label: String?
    }

    let sentinel: Sentinel
    let database: Database
    let blobs: BlobStore
    let clock: any WallClock
    let logger: Logger
    let maximumUploadBytes: Int64
    /// Finds the deployed model of a name, for scoring; nil when no ML platform is wired in.
    let scorer: (@Sendable (String) async throws -> any FlowScorer)?
    /// Analyses run one at a time.
    private let worker = AsyncSerialGate()
    /// Bytes read so far by the analysis in progress, by capture id.
    private let running = Mutex<[String: Int64]>([:])

    public static let migrations: [Migration] = [
        Migration("sentinel-0002-captures") { sql in
            try await sql.create(table: "sentinel_captures")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("status", type: .text, .notNull)
                .column("document", type: .text, .notNull)
                .run()
        },
    ]

    public init(
        sentinel: Sentinel, database: Database, blobs: BlobStore, maximumUploadBytes: Int64,
        scorer: (@Sendable (String) async throws -> any FlowScorer)? = nil, clock: any WallClock = SystemWallClock(),
        logger: Logger
    ) {
        self.scorer = scorer
        self.sentinel = sentinel
        self.database = database
        self.blobs = blobs
        self.maximumUploadBytes = maximumUploadBytes
        self.clock = clock
        self.logger = logger
    }

    /// Queues the captures left queued or running by an earlier run of the server.
    public func resume() async throws {
        let rows = try await database.sql.select().column("document").from("sentinel_captures")
            .where("status", .in, [Capture.Status.queued.rawValue, Capture.Status.running.rawValue]).orderBy("id").all()
        for row in rows {
            let capture = try Sentinel.decode(Capture.self, row)
            logger.info("analysing a capture again after a restart", metadata: ["capture": "\(capture.id)"])
            schedule(capture.id)
        }
    }

    /// Stores a capture read from `body` and queues its analysis; `model` names a deployed model to score its flows.
    /// - Throws: `invalid_capture` (400) when the first bytes are not a pcap or pcapng file's (nothing is stored);
    ///   `payload_too_large` past the upload limit; the ML platform's error for a model that is not deployed.
    public func upload<Body: AsyncSequence>(_ body: Body, name: String?, model: String? = nil) async throws -> Capture
    where Body.Element == ArraySlice<UInt8> {
        if let name, name.count > 200 { throw NeuroplexError.invalid("name", "name is at most 200 characters") }
        if let model {
            guard let scorer else { throw NeuroplexError.invalid("model", "this server scores no flows with models") }
            _ = try await scorer(model)
        }
        let writer = try blobs.makeWriter()
        var format: CaptureReader.Format?
        var head: [UInt8] = []
        do {
            var chunks = body.makeAsyncIterator()
            while let chunk = try await chunks.next() {
                if format == nil {
                    head += chunk.prefix(4 - head.count)
                    if head.count == 4 {
                        guard let detected = CaptureReader.detect(head) else { throw Self.notACapture() }
                        format = detected
                    }
                }
                guard writer.byteCount + Int64(chunk.count) <= maximumUploadBytes else {
                    throw NeuroplexError(
                        .payloadTooLarge, code: .payloadTooLarge, "the capture is larger than the limit of \(maximumUploadBytes) bytes")
                }
                try writer.write(chunk)
            }
            guard format != nil else {
                throw head.isEmpty
                    ? NeuroplexError(.badRequest, code: .invalidCapture, "the body is empty: send a pcap or pcapng file")
                    : Self.notACapture()
            }
            let size = writer.byteCount
            let (digest, _) = try writer.commit()
            let now = clock.now()
            let capture = Capture(
                id: Identifier.make(prefix: "cap", at: now), jobId: Identifier.make(prefix: "job", at: now), name: name,
                status: .queued, digest: digest, size: size, format: format?.rawValue, packets: 0, bytes: 0,
                packetsWithoutFlow: 0, flows: 0, alerts: 0, model: model, progress: Progress(current: 0, total: size, unit: "bytes"),
                createdAt: Timestamp.truncated(now))
            try await database.sql.insert(into: "sentinel_captures").columns("id", "status", "document")
                .values(SQLBind(capture.id), SQLBind(capture.status.rawValue), SQLBind(try Sentinel.json(capture))).run()
            schedule(capture.id)
            return capture
        } catch {
            writer.discard()
            throw error
        }
    }

    private static func notACapture() -> NeuroplexError {
        NeuroplexError(
            .badRequest, code: .invalidCapture,
            "the body is not a pcap or pcapng capture (its first bytes are not a capture file's magic number)")
    }

    /// The capture, with the progress of its analysis.
    /// - Throws: `not_found`.
    public func capture(id: String) async throws -> Capture {
        guard let row = try await database.sql.select().column("document").from("sentinel_captures").where("id", .equal, id).first() else {
            throw NeuroplexError.notFound("capture", id: id)
        }
        var capture = try Sentinel.decode(Capture.self, row)
        if let read = running.withLock({ $0[id] }) { capture.progress.current = read }
        return capture
    }

    /// Captures, newest first.
    public func captures(page: PageRequest) async throws -> Page<Capture> {
        var query = database.sql.select().column("document").from("sentinel_captures")
        if let after = page.after { query = query.where("id", .lessThan, after) }
        let rows = try await query.orderBy("id", .descending).limit(page.limit + 1).all()
        let items = try rows.prefix(page.limit).map { try Sentinel.decode(Capture.self, $0) }
        let next = rows.count > page.limit ? items.last.map { PageRequest.cursor(after: $0.id) } : nil
        return Page(items: Array(items), nextCursor: next)
    }

    /// Where the capture's flows.csv is.
    /// - Throws: `not_found`; `conflict` while the capture is still being analysed.
    public func flowsFile(id: String) async throws -> URL {
        let capture = try await capture(id: id)
        guard let digest = capture.flowsDigest else {
            throw NeuroplexError(
                .conflict, code: .captureNotReady, "capture '\(id)' is \(capture.status.rawValue): its flows are not ready yet")
        }
        return try blobs.url(for: digest)
    }

    /// A page of the capture's flows, in flows.csv order.
    public func flows(captureId: String, page: PageRequest) async throws -> Page<FlowRow> {
        let url = try await flowsFile(id: captureId)
        var offset: UInt64 = 0
        var row = 0
        if let after = page.after {
            let parts = after.split(separator: ":")
            guard parts.count == 2, let byte = UInt64(parts[0]), let number = Int(parts[1]) else {
                throw NeuroplexError.invalid("cursor", "cursor is not one this server handed out")
            }
            (offset, row) = (byte, number)
        }
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        if offset == 0 {
            // Skip the header line.
            let header = try handle.read(upToCount: 64 << 10) ?? Data()
            guard let end = header.firstIndex(of: UInt8(ascii: "\n")) else { return Page(items: [], nextCursor: nil) }
            offset = UInt64(end - header.startIndex + 1)
        }
        try handle.seek(toOffset: offset)
        var items: [FlowRow] = []
        var buffer = Data()
        var exhausted = false
        while items.count < page.limit {
            if let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[buffer.startIndex..<newline]
                offset += UInt64(line.count + 1)
                buffer = buffer[(newline + 1)...]
                row += 1
                if let parsed = Self.parse(String(decoding: line, as: UTF8.self), row: row) { items.append(parsed) }
                continue
            }
            guard !exhausted, let more = try handle.read(upToCount: 256 << 10), !more.isEmpty else { break }
            exhausted = more.count < 256 << 10
            buffer = Data(buffer) + more
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.uint64Value ?? 0
        let next = offset < size && items.count == page.limit ? PageRequest.cursor(after: "\(offset):\(row)") : nil
        return Page(items: items, nextCursor: next)
    }

    static func parse(_ line: String, row: Int) -> FlowRow? {
        let fields = line.split(separator: ",", omittingEmptySubsequences: false)
        let columns = FlowRecord.csvColumns
        guard fields.count == columns.count else { return nil }
        var features: [String: Double] = [:]
        for index in 7..<(columns.count - 1) { features[columns[index]] = Double(fields[index]) ?? 0 }
        return FlowRow(
            row: row, flowId: String(fields[0]), source: String(fields[1]), sourcePort: Int(fields[2]) ?? 0,
            destination: String(fields[3]), destinationPort: Int(fields[4]) ?? 0, protocol: Int(fields[5]) ?? 0,
            timestamp: String(fields[6]), features: features, label: fields[columns.count - 1].isEmpty ? nil : String(fields[columns.count - 1]))
    }

    // MARK: Labelled datasets

    /// One labelled stretch of a capture, as the lab's manifests write them: flows between `attacker` and `victim`
    /// (either way) that start within [`start`, `end`] (Unix seconds), on `port` when one is given, are `label`.
    public struct LabelEntry: Codable, Sendable, Equatable {
        public var start: Double
        public var end: Double
        public var attacker: String
        public var victim: String
        public var port: Int?
        public var label: String

        public init(start: Double, end: Double, attacker: String, victim: String, port: Int? = nil, label: String) {
            (self.start, self.end, self.attacker, self.victim, self.port, self.label) = (start, end, attacker, victim, port, label)
        }

        /// Whether `flow` is in this stretch: between the two hosts either way, begun within [`start`, `end`], on
        /// `port` (either end) when one is given.
        public func matches(_ flow: FlowRecord) -> Bool { matches(flow, start: Double(flow.start) / 1_000_000) }

        func matches(_ flow: FlowRecord, start: Double) -> Bool {
            let hosts = (flow.source.description, flow.destination.description)
            guard hosts == (attacker, victim) || hosts == (victim, attacker), self.start <= start, start <= end else { return false }
            guard let port else { return true }
            return Int(flow.destinationPort) == port || Int(flow.sourcePort) == port
        }
    }

    /// The flows of analysed captures as a CSV for an ML dataset: the flow features (``FlowRecord/featureNames``;
    /// no addresses, source ports or times) and `Label` from `manifest` (`defaultLabel` where no entry matches).
    /// - Throws: `not_found` for an unknown capture; `capture_not_ready` for one not analysed yet;
    ///   `validation_failed` for a bad manifest entry.
    public func labelledFlows(captureIds: [String], manifest: [LabelEntry], defaultLabel: String) async throws
        -> (csv: [UInt8], counts: [String: Int])
    {
        guard !captureIds.isEmpty else { throw NeuroplexError.invalid("captureIds", "name at least one capture", kind: .badRequest) }
        for (index, entry) in manifest.enumerated() {
            guard entry.start <= entry.end, IPAddress(entry.attacker) != nil, IPAddress(entry.victim) != nil, !entry.label.isEmpty else {
                throw NeuroplexError.invalid(
                    "manifest[\(index)]", "an entry needs start <= end, attacker and victim addresses and a label")
            }
        }
        guard !defaultLabel.isEmpty, !defaultLabel.contains(","), manifest.allSatisfy({ !$0.label.contains(",") }) else {
            throw NeuroplexError.invalid("manifest", "labels are non-empty and contain no commas")
        }
        // Addresses as the meter writes them (the manifest may spell IPv6 differently).
        let entries = manifest.map { entry -> LabelEntry in
            var entry = entry
            entry.attacker = IPAddress(entry.attacker)!.description
            entry.victim = IPAddress(entry.victim)!.description
            return entry
        }
        var paths: [String] = []
        for id in captureIds {
            let capture = try await capture(id: id)
            guard capture.status == .succeeded else {
                throw NeuroplexError(.conflict, code: .captureNotReady, "capture '\(id)' is \(capture.status.rawValue), not analysed")
            }
            paths.append(try blobs.url(for: capture.digest).path)
        }
        let files = paths
        return try await DedicatedThread.run("sentinel-dataset", background: true) { _ in
            var csv = Array((FlowRecord.featureNames + ["Label"]).joined(separator: ",").utf8)
            csv.append(UInt8(ascii: "\n"))
            var counts: [String: Int] = [:]
            var features: [Double] = []
            for path in files {
                _ = try CaptureFlows.read(path: path) { flow in
                    let start = Double(flow.start) / 1_000_000
                    let label = entries.first { $0.matches(flow, start: start) }?.label ?? defaultLabel
                    counts[label, default: 0] += 1
                    flow.features(into: &features)
                    for value in features {
                        FlowCSVWriter.number(value, &csv)
                        csv.append(UInt8(ascii: ","))
                    }
                    csv.append(contentsOf: label.utf8)
                    csv.append(UInt8(ascii: "\n"))
                }
            }
            return (csv, counts)
        }
    }

    // MARK: Analysis

    private func schedule(_ id: String) {
        Task {
            do {
                try await worker.run { try await self.analyse(id) }
            } catch {
                logger.error("capture analysis failed", metadata: ["capture": "\(id)", "error": "\(error)"])
            }
        }
    }

    private func save(_ capture: Capture) async throws {
        try await database.sql.update("sentinel_captures").set("status", to: SQLBind(capture.status.rawValue))
            .set("document", to: SQLBind(try Sentinel.json(capture))).where("id", .equal, capture.id).run()
    }

    private func analyse(_ id: String) async throws {
        var capture = try await capture(id: id)
        guard capture.status == .queued || capture.status == .running else { return }
        capture.status = .running
        capture.startedAt = Timestamp.truncated(clock.now())
        try await save(capture)
        running.withLock { $0[id] = 0 }
        defer { running.withLock { _ = $0.removeValue(forKey: id) } }
        do {
            let path = try blobs.url(for: capture.digest).path
            var flowScorer: (any FlowScorer)?
            if let model = capture.model {
                guard let scorer else { throw NeuroplexError.invalid("model", "this server scores no flows with models") }
                flowScorer = try await scorer(model)
            }
            let chosenScorer = flowScorer
            let rules = sentinel.detectionRules
            // Everything but storing runs on the analysis thread, the rules too (sorting and windowing a large
            // capture's flows would hold one of the cooperative pool's threads).
            let (summary, flowsDigest, raised, modelAlerts) = try await DedicatedThread.run("sentinel-capture", background: true) { _ in
                let output = try self.blobs.makeWriter()
                var pipeline = FlowPipeline(scorer: chosenScorer, id: { "\(id):\($0)" })
                var failure: (any Error)?
                let summary = try CaptureFlows.read(path: path, progress: { read in self.running.withLock { $0[id] = Int64(read) } }) { flow in
                    guard failure == nil else { return }
                    do {
                        try pipeline.add(flow)
                        if pipeline.csv.count >= 1 << 20 {
                            try output.write(pipeline.csv[...])
                            pipeline.csv.removeAll(keepingCapacity: true)
                        }
                    } catch {
                        failure = error
                    }
                }
                if let failure { throw failure }
                try pipeline.finish()
                try output.write(pipeline.csv[...])
                let digest = try output.commit().digest
                return (summary, digest, Sentinel.detect(flows: pipeline.observations, rules: rules), pipeline.modelAlerts)
            }
            let alerts = try await sentinel.store(raised + (modelAlerts?.alerts ?? []))
            capture.modelVersion = modelAlerts?.modelVersion
            capture.flowsScoredAsAttack = modelAlerts.map { $0.alerts.reduce(0) { $0 + $1.count } }
            capture.modelAlertsUnexplained = modelAlerts.map { $0.alerts.filter { $0.evidence.topFeatures == nil }.count }
            capture.status = .succeeded
            capture.format = summary.format
            capture.packets = summary.packets
            capture.bytes = summary.bytes
            capture.packetsWithoutFlow = summary.packetsWithoutFlow
            capture.flows = summary.flows
            capture.alerts = alerts.count
            capture.damaged = summary.damaged
            capture.firstPacket = summary.firstPacket.map { Double($0) / 1_000_000 }
            capture.lastPacket = summary.lastPacket.map { Double($0) / 1_000_000 }
            capture.flowsDigest = flowsDigest
            capture.progress.current = summary.damaged.map { Int64($0.offset) } ?? capture.size
        } catch {
            capture.status = .failed
            capture.error = "\(error)"
        }
        capture.finishedAt = Timestamp.truncated(clock.now())
        try await save(capture)
        logger.info(
            "capture analysed",
            metadata: [
                "capture": "\(id)", "status": "\(capture.status.rawValue)", "packets": "\(capture.packets)",
                "flows": "\(capture.flows)", "alerts": "\(capture.alerts)",
            ])
    }
}

extension NeuroplexError.Code {
    public static let invalidCapture: Self = "invalid_capture"
    public static let captureNotReady: Self = "capture_not_ready"
}
