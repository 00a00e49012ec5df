public import Configuration
import Foundation
import SystemPackage
public import Logging
import NeuroplexCore

/// Everything `neuroplex serve` is configured with, read once at start.
///
/// Each setting comes from, in order of precedence: a command-line flag, a `NEUROPLEX_*` environment variable,
/// the config file (`--config`, JSON or YAML), and the default below. Keys are dotted (`data.dir`); the
/// environment variable is the key in upper case with `_` for `.` behind `NEUROPLEX_` (`NEUROPLEX_DATA_DIR`).
public struct ServerConfiguration: Sendable, Equatable {
    /// The address to listen on (`host`; default `127.0.0.1`, use `0.0.0.0` to listen on every interface).
    public var host: String = "127.0.0.1"
    /// The HTTP port (`port`; default 8080).
    public var port: Int = 8080
    /// The Redis-protocol port of the memory pillar (`resp.port`; default 6380; 0 turns it off).
    public var respPort: Int = 6380
    /// The data directory: SQLite database, blobs, `admin.key` (`data.dir`; default `./neuroplex-data`).
    public var dataDirectory: String = "./neuroplex-data"
    /// A `postgres://` URL to keep platform state in PostgreSQL instead of SQLite (`database.url`).
    public var databaseURL: String?
    /// The log level: trace, debug, info, notice, warning, error, critical (`log.level`; default info).
    public var logLevel: Logger.Level = .info
    /// `text` or `json` lines (`log.format`; default text).
    public var logFormat: LogFormat = .text
    /// The largest request body accepted, in bytes (`http.max.body.bytes`; default 32 MiB).
    public var maxBodyBytes: Int = 32 * 1024 * 1024
    /// The largest dataset upload accepted, in bytes (`ml.max.upload.bytes`; default 64 GiB). Uploads stream to
    /// disk, so this bounds disk use, not memory; `http.max.body.bytes` does not apply to them.
    public var maxUploadBytes: Int64 = 64 * 1024 * 1024 * 1024
    /// When a memory write is acknowledged (`memory.durability`): `sync` (default) once it is on disk, so it
    /// survives `kill -9` and power loss; `async` at once, trading the last few milliseconds for speed.
    public var memoryDurability: String = "sync"
    /// The deployed model (name or id) that scores uploaded captures' flows unless an upload names one
    /// (`sentinel.model`, env NEUROPLEX_SENTINEL_MODEL); none by default: the rules and baselines alone.
    public var sentinelModel: String?
    /// How far (in bytes of SSE) a live watch may fall behind its pattern's feed before it ends with
    /// `watcher_lagged` (`memory.watch.lag.bytes`; default 8 MiB).
    public var memoryWatchLagBytes: Int = 8 * 1024 * 1024
    /// How many training jobs run at once on this server (`ml.workers`; default 1).
    public var mlWorkers: Int = 1
    /// What becomes of a job found running at start, whose server died (`ml.jobs.orphaned`): `requeue` (default)
    /// or `fail`.
    public var mlOrphanedJobs: String = "requeue"
    /// How long a cached prediction lives (`ml.cache.ttl.seconds`; default 300) and how much memory the result
    /// cache may hold (`ml.cache.max.bytes`; default 64 MiB).
    public var mlCacheTTLSeconds: Int = 300
    public var mlCacheMaxBytes: Int = 64 * 1024 * 1024
    /// How many recent inputs per version drift is measured on (`ml.drift.window`; default 1000), and the PSI and
    /// Kolmogorov–Smirnov statistic from which a feature has drifted (`ml.drift.psi`, 0.2; `ml.drift.ks`, 0.1).
    public var mlDriftWindow: Int = 1000
    public var mlDriftPSI: Double = 0.2
    public var mlDriftKS: Double = 0.1

    /// How many event loops (threads) the HTTP server runs (`http.event.loops`): 0 (default) for one per CPU the
    /// process may run on (its affinity mask, which `taskset` and cpusets narrow).
    public var httpEventLoops: Int = 0

    /// Whether plain `GET`/`PUT /memory/kv/{key}` requests are answered on the connection's event loop
    /// (`http.memory.fast.path`: `on`, the default, or `off`; see `MemoryKVChannelHandler`).
    public var httpMemoryFastPath: Bool = true

    /// How log lines are written.
    public enum LogFormat: String, Sendable, Equatable, CaseIterable {
        case text
        case json
    }

    public init() {}

    /// Reads the configuration.
    /// - Throws: ``NeuroplexError`` `validation_failed` naming the key whose value is not acceptable.
    public init(reader: ConfigReader) throws {
        let defaults = ServerConfiguration()
        self.host = reader.string(forKey: "host", default: defaults.host)
        self.port = try Self.int(reader, "port") ?? defaults.port
        self.respPort = try Self.int(reader, "resp.port") ?? defaults.respPort
        self.dataDirectory = reader.string(forKey: "data.dir", default: defaults.dataDirectory)
        self.databaseURL = reader.string(forKey: "database.url", isSecret: true)
        if databaseURL?.isEmpty == true { databaseURL = nil }
        let level = reader.string(forKey: "log.level", default: defaults.logLevel.rawValue)
        guard let logLevel = Logger.Level(rawValue: level.lowercased()) else {
            throw NeuroplexError.invalid(
                "log.level", "log level '\(level)' is not one of trace, debug, info, notice, warning, error, critical")
        }
        self.logLevel = logLevel
        let format = reader.string(forKey: "log.format", default: defaults.logFormat.rawValue)
        guard let logFormat = LogFormat(rawValue: format.lowercased()) else {
            throw NeuroplexError.invalid("log.format", "log format '\(format)' is not one of text, json")
        }
        self.logFormat = logFormat
        self.maxBodyBytes = try Self.int(reader, "http.max.body.bytes") ?? defaults.maxBodyBytes
        self.maxUploadBytes = Int64(try Self.int(reader, "ml.max.upload.bytes") ?? Int(defaults.maxUploadBytes))
        self.memoryDurability = reader.string(forKey: "memory.durability", default: defaults.memoryDurability).lowercased()
        self.sentinelModel = reader.string(forKey: "sentinel.model").flatMap { $0.isEmpty ? nil : $0 }
        self.memoryWatchLagBytes = try Self.int(reader, "memory.watch.lag.bytes") ?? defaults.memoryWatchLagBytes
        self.mlWorkers = try Self.int(reader, "ml.workers") ?? defaults.mlWorkers
        self.mlOrphanedJobs = reader.string(forKey: "ml.jobs.orphaned", default: defaults.mlOrphanedJobs).lowercased()
        self.httpEventLoops = try Self.int(reader, "http.event.loops") ?? defaults.httpEventLoops
        switch reader.string(forKey: "http.memory.fast.path", default: defaults.httpMemoryFastPath ? "on" : "off").lowercased() {
        case "on", "true": self.httpMemoryFastPath = true
        case "off", "false": self.httpMemoryFastPath = false
        case let other:
            throw NeuroplexError.invalid("http.memory.fast.path", "http.memory.fast.path must be on or off, not '\(other)'")
        }
        self.mlCacheTTLSeconds = try Self.int(reader, "ml.cache.ttl.seconds") ?? defaults.mlCacheTTLSeconds
        self.mlCacheMaxBytes = try Self.int(reader, "ml.cache.max.bytes") ?? defaults.mlCacheMaxBytes
        self.mlDriftWindow = try Self.int(reader, "ml.drift.window") ?? defaults.mlDriftWindow
        self.mlDriftPSI = try Self.double(reader, "ml.drift.psi") ?? defaults.mlDriftPSI
        self.mlDriftKS = try Self.double(reader, "ml.drift.ks") ?? defaults.mlDriftKS
        try validate()
    }

    /// An integer setting; a value that is present but not an integer is an error, never silently the default.
    private static func int(_ reader: ConfigReader, _ key: String) throws -> Int? {
        if let value = reader.int(forKey: ConfigKey(key)) { return value }
        if let text = reader.string(forKey: ConfigKey(key)) {
            throw NeuroplexError.invalid(key, "\(key) must be an integer, not '\(text)'")
        }
        return nil
    }

    /// A number setting; a value that is present but not a number is an error.
    private static func double(_ reader: ConfigReader, _ key: String) throws -> Double? {
        if let value = reader.double(forKey: ConfigKey(key)) { return value }
        if let text = reader.string(forKey: ConfigKey(key)) {
            guard let value = Double(text) else { throw NeuroplexError.invalid(key, "\(key) must be a number, not '\(text)'") }
            return value
        }
        return nil
    }

    /// Checks ranges; called by ``init(reader:)``.
    public func validate() throws {
        guard (0...65535).contains(port) else { throw NeuroplexError.invalid("port", "port must be 0–65535") }
        guard (0...65535).contains(respPort) else {
            throw NeuroplexError.invalid("resp.port", "resp.port must be 0–65535")
        }
        guard !host.isEmpty else { throw NeuroplexError.invalid("host", "host must not be empty") }
        guard !dataDirectory.isEmpty else { throw NeuroplexError.invalid("data.dir", "data.dir must not be empty") }
        guard ["sync", "async"].contains(memoryDurability) else {
            throw NeuroplexError.invalid("memory.durability", "memory.durability must be sync or async")
        }
        guard memoryWatchLagBytes >= 1024 else {
            throw NeuroplexError.invalid("memory.watch.lag.bytes", "memory.watch.lag.bytes must be at least 1024")
        }
        guard maxUploadBytes >= 1024 else {
            throw NeuroplexError.invalid("ml.max.upload.bytes", "ml.max.upload.bytes must be at least 1024")
        }
        guard (0...64).contains(mlWorkers) else {
            throw NeuroplexError.invalid("ml.workers", "ml.workers must be 0–64")
        }
        guard ["requeue", "fail"].contains(mlOrphanedJobs) else {
            throw NeuroplexError.invalid("ml.jobs.orphaned", "ml.jobs.orphaned must be requeue or fail")
        }
        guard (0...256).contains(httpEventLoops) else {
            throw NeuroplexError.invalid("http.event.loops", "http.event.loops must be 0–256 (0: one per allowed CPU)")
        }
        guard mlCacheTTLSeconds >= 0, mlCacheMaxBytes >= 0 else {
            throw NeuroplexError.invalid("ml.cache.ttl.seconds", "ml.cache.ttl.seconds and ml.cache.max.bytes must not be negative")
        }
        guard (100...1_000_000).contains(mlDriftWindow) else {
            throw NeuroplexError.invalid("ml.drift.window", "ml.drift.window must be 100–1000000")
        }
        guard mlDriftPSI > 0, mlDriftKS > 0, mlDriftKS <= 1 else {
            throw NeuroplexError.invalid("ml.drift.psi", "ml.drift.psi must be above 0 and ml.drift.ks in (0, 1]")
        }
        guard maxBodyBytes >= 1024 else {
            throw NeuroplexError.invalid("http.max.body.bytes", "http.max.body.bytes must be at least 1024")
        }
    }

    /// The file holding the first admin key.
    public var adminKeyPath: String { (dataDirectory as NSString).appendingPathComponent("admin.key") }
}

extension ServerConfiguration {
    /// Reads the configuration with its precedence: `flags` over `environment` (`NEUROPLEX_*`) over the config
    /// file over the defaults.
    ///
    /// - Parameters:
    ///   - flags: command-line values by dotted key (`"data.dir"`), as typed; converted like environment values.
    ///   - environment: the process environment.
    ///   - configFile: a JSON or YAML file (by its extension: `.yaml`/`.yml` is YAML); when `nil`,
    ///     `NEUROPLEX_CONFIG` names it, if set.
    /// - Throws: `validation_failed` for a missing or malformed file, or a value out of range.
    public static func load(
        flags: [String: String], environment: [String: String], configFile: String?
    ) async throws -> ServerConfiguration {
        let encodedFlags = Dictionary(uniqueKeysWithValues: flags.map {
            ($0.key.uppercased().replacingOccurrences(of: ".", with: "_"), $0.value)
        })
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: encodedFlags),
            EnvironmentVariablesProvider(environmentVariables: environment).prefixKeys(with: "neuroplex"),
        ]
        if let path = configFile ?? environment["NEUROPLEX_CONFIG"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                throw NeuroplexError.invalid("config", "the config file \(path) does not exist")
            }
            do {
                if path.hasSuffix(".yaml") || path.hasSuffix(".yml") {
                    providers.append(try await FileProvider<YAMLSnapshot>(filePath: FilePath(path)))
                } else {
                    providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
                }
            } catch {
                throw NeuroplexError.invalid("config", "the config file \(path) cannot be read: \(error)")
            }
        }
        return try ServerConfiguration(reader: ConfigReader(providers: providers))
    }
}
