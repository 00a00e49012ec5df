import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NeuroplexAPI
import NeuroplexClient
import NeuroplexCore
import NeuroplexGateway

@main
struct Neuroplex: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neuroplex",
        abstract: "Neuroplex: memory, ML, Sentinel, Vision and a secure gateway in one self-hosted server.",
        version: NeuroplexVersion.current,
        subcommands: [Serve.self, Keys.self, SentinelCommand.self, Health.self, Version.self])
}

/// Where the platform's state is; shared by `serve` and the operator commands.
struct StorageOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "Data directory (env NEUROPLEX_DATA_DIR; default ./neuroplex-data).")
    var dataDir: String?

    @Option(name: .customLong("database-url"), help: "postgres:// URL to use PostgreSQL instead of SQLite (env NEUROPLEX_DATABASE_URL).")
    var databaseURL: String?

    @Option(name: .customLong("config"), help: "A JSON or YAML config file (env NEUROPLEX_CONFIG).")
    var config: String?

    var flags: [String: String] {
        var flags: [String: String] = [:]
        if let dataDir { flags["data.dir"] = dataDir }
        if let databaseURL { flags["database.url"] = databaseURL }
        return flags
    }

    func load(_ extra: [String: String] = [:]) async throws -> ServerConfiguration {
        try await ServerConfiguration.load(
            flags: flags.merging(extra) { $1 }, environment: ProcessInfo.processInfo.environment, configFile: config)
    }
}

/// Runs `body`, printing a ``NeuroplexError`` as one clear line and exiting 1 instead of a stack of Swift text.
func reportingErrors<T>(_ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as NeuroplexError {
        var message = "error: \(error.message)"
        if let field = error.field, !error.message.contains(field) { message += " (\(field))" }
        FileHandle.standardError.write(Data((message + "\n").utf8))
        throw ExitCode.failure
    } catch let error as NeuroplexClientError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server (until SIGTERM or SIGINT).")

    @OptionGroup var storage: StorageOptions

    @Option(help: "Address to listen on (env NEUROPLEX_HOST; default 127.0.0.1).")
    var host: String?

    @Option(help: "HTTP port (env NEUROPLEX_PORT; default 8080).")
    var port: Int?

    @Option(name: .customLong("resp-port"), help: "Redis-protocol port of the memory pillar (env NEUROPLEX_RESP_PORT; default 6380).")
    var respPort: Int?

    @Option(name: .customLong("log-level"), help: "trace|debug|info|notice|warning|error|critical (env NEUROPLEX_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text|json (env NEUROPLEX_LOG_FORMAT; default text).")
    var logFormat: String?

    @Option(
        name: .customLong("memory-durability"),
        help: "sync (acknowledge memory writes once on disk) or async (faster; env NEUROPLEX_MEMORY_DURABILITY; default sync).")
    var memoryDurability: String?

    func run() async throws {
        OpenMPSettings.applyByRestarting()
        AllocatorSettings.keepFreedMemory()
        try await reportingErrors {
            var flags: [String: String] = [:]
            if let host { flags["host"] = host }
            if let port { flags["port"] = String(port) }
            if let respPort { flags["resp.port"] = String(respPort) }
            if let logLevel { flags["log.level"] = logLevel }
            if let logFormat { flags["log.format"] = logFormat }
            if let memoryDurability { flags["memory.durability"] = memoryDurability }
            let configuration = try await storage.load(flags)
            let level = configuration.logLevel
            let json = configuration.logFormat == .json
            LoggingSystem.bootstrap { label in
                var handler: any LogHandler =
                    json
                    ? JSONLogHandler(label: label, metadataProvider: requestMetadataProvider)
                    : StreamLogHandler.standardError(label: label, metadataProvider: requestMetadataProvider)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "neuroplex")
            let app = try await buildApplication(configuration, logger: logger)
            let shown = configuration.host == "0.0.0.0" ? "localhost" : configuration.host
            logger.notice(
                "neuroplex \(NeuroplexVersion.current) serving",
                metadata: [
                    "url": "http://\(shown):\(configuration.port)", "docs": "http://\(shown):\(configuration.port)/docs",
                    "data.dir": "\(configuration.dataDirectory)",
                    "database": "\(configuration.databaseURL == nil ? "sqlite" : "postgres")",
                    "admin.key.file": "\(configuration.adminKeyPath)",
                ])
            try await app.runService()
        }
    }
}

/// XGBoost's OpenMP threads spin on a core after every parallel region before they sleep: with libgomp's default
/// of 300,000 spins, a worker thread burned a core for 5–8 ms after each fit, the very time the server spends
/// storing the version and answering its clients (on a two-core machine, half of it). 10,000 spins end that and
/// leave the fits' rounds as fast (breast_cancer, digits and wine alike, measured). libgomp reads the setting from
/// the environment once, when the process loads it, before `main`: so `serve` sets it and starts itself again,
/// unless the operator chose a spin count or wait policy of their own.
enum OpenMPSettings {
    static func applyByRestarting() {
        #if os(Linux)
        guard getenv("GOMP_SPINCOUNT") == nil, getenv("OMP_WAIT_POLICY") == nil else { return }
        setenv("GOMP_SPINCOUNT", "10000", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // Not restarted (no /proc): carry on with libgomp's defaults.
        #endif
    }
}

/// glibc's malloc hands blocks above a threshold (128 KiB at first) to `mmap` and gives a heap's free top back to the
/// system once it passes another (also 128 KiB at first); both thresholds rise as such blocks are freed, up to 32
/// and 64 MiB. XGBoost's fits allocate their histograms anew each time, in blocks of 256 KiB to 8 MiB, and with the
/// thresholds low those pages went back to the system after one fit and were faulted in, zeroed, by the next: the
/// first round of a breast_cancer fit took 5.2 ms instead of 3.1, a whole job 40 ms instead of 36 (medians of 60
/// interleaved jobs). `serve` starts at the ceilings glibc's own adjustment would reach, unless the operator set
/// malloc's thresholds in the environment; a heap keeps at most 64 MiB of free memory on top.
enum AllocatorSettings {
    static func keepFreedMemory() {
        #if canImport(Glibc)
        let environment = ProcessInfo.processInfo.environment
        guard environment["MALLOC_MMAP_THRESHOLD_"] == nil, environment["MALLOC_TRIM_THRESHOLD_"] == nil,
            environment["GLIBC_TUNABLES"] == nil
        else { return }
        // `mallopt` is in <malloc.h>, which Swift's Glibc module leaves out; its parameters are fixed by glibc's ABI.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3
        _ = mallopt(mmapThreshold, 32 << 20)
        _ = mallopt(trimThreshold, 64 << 20)
        #endif
    }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the version.")
    func run() { print("neuroplex \(NeuroplexVersion.current)") }
}

struct Health: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running server whether it is ready; exits 1 when it is not.")

    @Option(help: "The server's URL.")
    var url: String = "http://127.0.0.1:8080"

    func run() async throws {
        try await reportingErrors {
            guard let base = URL(string: url), base.scheme != nil else {
                throw NeuroplexError.invalid("url", "'\(url)' is not a URL")
            }
            let report = try await NeuroplexClient(baseURL: base).readiness()
            print("\(report.status) (version \(report.version ?? "?"))")
            for check in report.checks {
                let message = check.message.map { " — \($0)" } ?? ""
                print(String(format: "  %-10@ %@ %.1f ms%@", check.name, check.status, check.durationMs, message))
            }
            if report.status == "unhealthy" { throw ExitCode.failure }
        }
    }
}
