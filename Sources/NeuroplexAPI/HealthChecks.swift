import Foundation
import NeuroplexCore
import NeuroplexStorage

/// One component's readiness, as `/health/ready` reports it.
struct HealthCheckResult: Sendable {
    enum Status: String, Sendable { case pass, warn, fail }
    var name: String
    var status: Status
    var message: String?
    var durationMs: Double
}

/// A component that can say whether it is ready. Each engine adds one as it arrives.
protocol ReadinessCheck: Sendable {
    var name: String { get }
    /// The component's state; a thrown error counts as `fail` with the error as message.
    func check() async throws -> (HealthCheckResult.Status, String?)
}

/// The database answers a trivial query.
struct DatabaseCheck: ReadinessCheck {
    let database: Database
    var name: String { "database" }

    func check() async throws -> (HealthCheckResult.Status, String?) {
        try await database.ping()
        return (.pass, database.engine.rawValue)
    }
}

/// Free space in the data directory: warn under 1 GiB, fail under 100 MiB.
struct DiskSpaceCheck: ReadinessCheck {
    let directory: String
    var name: String { "disk" }

    func check() async throws -> (HealthCheckResult.Status, String?) {
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return (.warn, "cannot read free space (errno \(errno))") }
        let free = Double(stats.f_bavail) * Double(stats.f_frsize)
        let text = String(format: "%.1f GiB free", free / 1_073_741_824)
        if free < 100 * 1_048_576 { return (.fail, text) }
        if free < 1_073_741_824 { return (.warn, text) }
        return (.pass, text)
    }
}

/// Runs the readiness checks concurrently, each bounded in time.
struct Readiness: Sendable {
    let checks: [any ReadinessCheck]
    var timeout: Duration = .seconds(5)

    func run() async -> [HealthCheckResult] {
        await withTaskGroup(of: (Int, HealthCheckResult).self) { group in
            for (position, check) in checks.enumerated() {
                group.addTask {
                    let clock = ContinuousClock()
                    let start = clock.now
                    let outcome: (HealthCheckResult.Status, String?)
                    do {
                        outcome = try await withThrowingTaskGroup(of: (HealthCheckResult.Status, String?).self) { race in
                            race.addTask { try await check.check() }
                            race.addTask {
                                try await Task.sleep(for: timeout)
                                return (.fail, "no answer within \(timeout)")
                            }
                            let first = try await race.next() ?? (.fail, "no answer")
                            race.cancelAll()
                            return first
                        }
                    } catch {
                        outcome = (.fail, "\(error)")
                    }
                    let elapsed = clock.now - start
                    let ms = Double(elapsed.components.seconds) * 1000
                        + Double(elapsed.components.attoseconds) / 1e15
                    return (position, HealthCheckResult(name: check.name, status: outcome.0, message: outcome.1, durationMs: ms))
                }
            }
            var results = [HealthCheckResult?](repeating: nil, count: checks.count)
            for await (position, result) in group { results[position] = result }
            return results.compactMap { $0 }
        }
    }
}
