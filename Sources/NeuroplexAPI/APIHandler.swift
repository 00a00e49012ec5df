import Foundation
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory
import NeuroplexML
import OpenAPIRuntime

/// The operations of the contract, translating between the generated types and the engines.
struct APIHandler: APIProtocol {
    let keys: KeyStore
    let memory: Memory
    let datasets: Datasets
    let readiness: Readiness
    let metrics: ServerMetrics
    let clock: any WallClock
    /// SSE frames of change events, shared by every watcher of this engine.
    let changeFrames: ChangeFrameCache
    /// Live watches, one shared feed per pattern.
    let watchHub: WatchHub

    init(
        keys: KeyStore, memory: Memory, datasets: Datasets, readiness: Readiness, metrics: ServerMetrics,
        clock: any WallClock, changeFrames: ChangeFrameCache, watchHub: WatchHub
    ) {
        self.keys = keys
        self.memory = memory
        self.datasets = datasets
        self.readiness = readiness
        self.metrics = metrics
        self.clock = clock
        self.changeFrames = changeFrames
        self.watchHub = watchHub
    }
    static let version = NeuroplexVersion.current

    // MARK: Operations

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(
            status: .healthy,
            checks: [.init(name: "process", status: .pass, durationMs: 0)],
            timestamp: clock.now(), version: Self.version))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        let results = await readiness.run()
        let status: Components.Schemas.HealthStatus =
            results.contains { $0.status == .fail } ? .unhealthy
            : results.contains { $0.status == .warn } ? .degraded : .healthy
        let report = Components.Schemas.HealthReport(
            status: status,
            checks: results.map {
                .init(
                    name: $0.name, status: .init(rawValue: $0.status.rawValue) ?? .fail, message: $0.message,
                    durationMs: $0.durationMs)
            },
            timestamp: clock.now(), version: Self.version)
        return status == .unhealthy
            ? .serviceUnavailable(.init(body: .json(report))) : .ok(.init(body: .json(report)))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        .ok(.init(body: .plainText(HTTPBody(metrics.render()))))
    }

    func listKeys(_ input: Operations.ListKeys.Input) async throws -> Operations.ListKeys.Output {
        let page = try await keys.list(PageRequest(limit: input.query.limit, cursor: input.query.cursor))
        return .ok(.init(body: .json(.init(data: page.items.map(Self.schema), nextCursor: page.nextCursor))))
    }

    func createKey(_ input: Operations.CreateKey.Input) async throws -> Operations.CreateKey.Output {
        guard case .json(let body) = input.body else {
            throw NeuroplexError(.unsupportedMediaType, code: .unsupportedMediaType, "send the body as application/json")
        }
        let (key, secret) = try await keys.create(
            NewAPIKey(
                name: body.name, scopes: body.scopes, expiresAt: body.expiresAt,
                rateLimit: body.rateLimit.map { RateLimit(limit: $0.limit, windowSeconds: $0.windowSeconds) }))
        return .created(.init(body: .json(.init(value1: Self.schema(key), value2: .init(key: secret.value)))))
    }

    func getKey(_ input: Operations.GetKey.Input) async throws -> Operations.GetKey.Output {
        .ok(.init(body: .json(Self.schema(try await keys.get(id: input.path.id)))))
    }

    func revokeKey(_ input: Operations.RevokeKey.Input) async throws -> Operations.RevokeKey.Output {
        try await keys.revoke(id: input.path.id)
        return .noContent(.init())
    }

    // MARK: Translation

    static func schema(_ key: APIKey) -> Components.Schemas.APIKey {
        .init(
            id: key.id, name: key.name, prefix: key.prefix, scopes: key.scopes.map(\.rawValue),
            createdAt: key.createdAt, expiresAt: key.expiresAt, revokedAt: key.revokedAt,
            rateLimit: key.rateLimit.map { .init(limit: $0.limit, windowSeconds: $0.windowSeconds) })
    }
}

/// RFC 3339 timestamps on the wire: written in UTC with milliseconds, read with or without fractional seconds.
struct RFC3339DateTranscoder: DateTranscoder {
    func encode(_ date: Date) throws -> String { Timestamp.string(date) }

    func decode(_ string: String) throws -> Date {
        guard let date = Timestamp.parse(string) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "'\(string)' is not an RFC 3339 timestamp"))
        }
        return date
    }
}
