public import Foundation
public import Logging
public import NeuroplexStorage
import SQLKit
import Synchronization

/// The database engines the tests run against: SQLite always, PostgreSQL when `NEUROPLEX_TEST_POSTGRES_URL`
/// names a server (as `scripts/with-postgres` and `.ci/run` arrange).
public enum TestEngines {
    public static let postgresURL: String? = {
        let url = ProcessInfo.processInfo.environment["NEUROPLEX_TEST_POSTGRES_URL"]
        return url?.isEmpty == false ? url : nil
    }()

    public static let all: [Database.Engine] = postgresURL == nil ? [.sqlite] : [.sqlite, .postgres]
}

/// A new empty directory under the system's temporary directory.
public func makeTemporaryDirectory() -> String {
    let path = NSTemporaryDirectory() + "neuroplex-test-" + UUID().uuidString
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// A database of its own for one test: a fresh SQLite file, or a fresh PostgreSQL database on the test server.
public func makeDatabaseLocation(_ engine: Database.Engine) async throws -> Database.Configuration {
    let directory = makeTemporaryDirectory()
    switch engine {
    case .sqlite:
        return .init(dataDirectory: directory)
    case .postgres:
        guard let base = TestEngines.postgresURL, var components = URLComponents(string: base) else {
            fatalError("PostgreSQL tests need NEUROPLEX_TEST_POSTGRES_URL")
        }
        let name = "nplx_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(20)
        let admin = try await Database.open(.init(dataDirectory: directory, url: base), logger: quietLogger)
        try await admin.sql.raw("CREATE DATABASE \(ident: String(name))").run()
        await admin.close()
        components.path = "/" + name
        return .init(dataDirectory: directory, url: components.string!)
    }
}

/// A logger that drops everything below warning, for tests that do not look at logs.
public let quietLogger: Logger = {
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    return logger
}()

/// Collects every log line (rendered with its metadata), at every level, for assertions about logs.
public final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])

    public init() {}

    /// A logger at `trace` level writing into this capture.
    public func logger(label: String = "test") -> Logger {
        var logger = Logger(label: label) { label in CapturingHandler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }

    public var all: [String] { lines.withLock { $0 } }

    func append(_ line: String) { lines.withLock { $0.append(line) } }
}

private struct CapturingHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let rendered = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) \(label): \(event.message) \(rendered)")
    }
}
