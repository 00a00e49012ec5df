import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import Metrics
import Prometheus
import Synchronization

/// The server's metrics, exported at `GET /metrics` in Prometheus text format.
///
/// Metrics are made with swift-metrics against this registry's own factory (not the process-wide
/// `MetricsSystem`), so that several applications in one process — as in the tests — keep separate counts.
final class ServerMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    private let processGauges: ProcessGauges
    /// Request counts and times (`http_requests_*`).
    let http: HTTPInstruments
    /// Exposition text made by the engines at each scrape (model serving's figures), appended after the registry's.
    private let sources = Mutex<[@Sendable () -> String]>([])

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10),
        ]
        self.registry = registry
        self.factory = factory
        self.processGauges = ProcessGauges(factory: factory)
        self.http = HTTPInstruments(factory: factory)
    }

    /// The exposition text (version 0.0.4), with process metrics read now.
    func render() -> [UInt8] {
        processGauges.update()
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        for source in sources.withLock({ $0 }) { buffer += Array(source().utf8) }
        return buffer
    }

    /// Adds text to every scrape.
    func add(_ source: @escaping @Sendable () -> String) { sources.withLock { $0.append(source) } }
}

/// Counts requests by route template, method and status (`http_requests_total`), times them
/// (`http_request_duration_seconds`) and tracks those in flight (`http_requests_in_flight`).
///
/// Unmatched paths are counted under the route `unmatched`, so that scanners cannot blow up the label set.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = NeuroplexRequestContext

    private let instruments: HTTPInstruments

    init(metrics: ServerMetrics) {
        self.instruments = metrics.http
    }

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        instruments.inFlight.increment()
        defer { instruments.inFlight.decrement() }
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Errors are rendered inside; anything reaching here is Hummingbird's own.
            record(request, context, status: (error as? any HTTPResponseError)?.status.code ?? 500, start: start)
            throw error
        }
        record(request, context, status: response.status.code, start: start)
        return response
    }

    private func record(_ request: Request, _ context: Context, status: Int, start: UInt64) {
        // Hummingbird names the path of an unmatched request "NotFound"; real routes always start with "/".
        let route = context.endpointPath.flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "unmatched"
        instruments.record(route: route, method: request.method, status: status, start: start)
    }
}

/// The HTTP request metrics, shared by ``HTTPMetricsMiddleware`` and the memory routes' event-loop fast path
/// (``MemoryKVChannelHandler``), so that both count under the same names.
final class HTTPInstruments: Sendable {
    struct Key: Hashable {
        var route: String
        var method: HTTPRequest.Method
        var status: Int
    }
    struct Handles: Sendable {
        var counter: Metrics.Counter
        var timer: Metrics.Timer
    }
    let factory: PrometheusMetricsFactory
    let inFlight: Meter
    let cache = Mutex<[Key: Handles]>([:])

    init(factory: PrometheusMetricsFactory) {
        self.factory = factory
        self.inFlight = Meter(label: "http_requests_in_flight", dimensions: [], factory: factory)
    }

    func handles(_ key: Key) -> Handles {
        cache.withLock { cache in
            if let handles = cache[key] { return handles }
            let dimensions = [
                ("route", key.route), ("method", key.method.rawValue), ("status", String(key.status)),
            ]
            let handles = Handles(
                counter: Metrics.Counter(label: "http_requests_total", dimensions: dimensions, factory: factory),
                timer: Metrics.Timer(
                    label: "http_request_duration_seconds", dimensions: dimensions,
                    preferredDisplayUnit: .seconds, factory: factory))
            cache[key] = handles
            return handles
        }
    }

    /// Counts one answered request and its time since `start` (`DispatchTime` nanoseconds).
    func record(route: String, method: HTTPRequest.Method, status: Int, start: UInt64) {
        let handles = handles(.init(route: route, method: method, status: status))
        handles.counter.increment()
        handles.timer.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - start))
    }
}

/// `process_*` gauges read from `/proc/self` at each scrape (Linux; absent elsewhere).
final class ProcessGauges: Sendable {
    private let residentMemory: Metrics.Gauge
    private let virtualMemory: Metrics.Gauge
    private let cpuSeconds: Metrics.Gauge
    private let openFileDescriptors: Metrics.Gauge
    private let startTime: Metrics.Gauge
    private let pageSize = Double(sysconf(Int32(_SC_PAGESIZE)))
    private let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    init(factory: PrometheusMetricsFactory) {
        residentMemory = Metrics.Gauge(label: "process_resident_memory_bytes", dimensions: [], factory: factory)
        virtualMemory = Metrics.Gauge(label: "process_virtual_memory_bytes", dimensions: [], factory: factory)
        cpuSeconds = Metrics.Gauge(label: "process_cpu_seconds", dimensions: [], factory: factory)
        openFileDescriptors = Metrics.Gauge(label: "process_open_fds", dimensions: [], factory: factory)
        startTime = Metrics.Gauge(label: "process_start_time_seconds", dimensions: [], factory: factory)
        startTime.record(Date().timeIntervalSince1970 - ProcessInfo.processInfo.systemUptime + bootRelativeStart())
    }

    /// Seconds since boot at which this process started, from field 22 of `/proc/self/stat`.
    private func bootRelativeStart() -> Double {
        guard let fields = statFields(), fields.count > 19, let ticks = Double(fields[19]) else {
            return ProcessInfo.processInfo.systemUptime
        }
        return ticks / ticksPerSecond
    }

    /// The fields of `/proc/self/stat` after the command name (which may contain spaces): index 0 is field 3.
    private func statFields() -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    func update() {
        if let fields = statFields(), fields.count > 21 {
            let user = Double(fields[11]) ?? 0
            let system = Double(fields[12]) ?? 0
            cpuSeconds.record((user + system) / ticksPerSecond)
            virtualMemory.record(Double(fields[20]) ?? 0)
            residentMemory.record((Double(fields[21]) ?? 0) * pageSize)
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFileDescriptors.record(entries.count)
        }
    }
}
