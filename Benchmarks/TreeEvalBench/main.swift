// The native tree-ensemble evaluator against XGBoost's own predictor, in one process on the same model and rows:
// single-row latency and 100k-row batch throughput. Release build only (bench/tree-eval.sh):
//   swift run -c release tree-eval-bench [rows]      (default 100,000 batch rows)
import CXGBoost
import Dispatch
import Foundation
import NeuroplexCore
import NeuroplexML

let batchRows = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
let featureCount = 40

/// Deterministic synthetic rows: 40 features in −1…1, 3% missing; the label mixes interactions so 100 trees of
/// depth 6 are all used.
struct Rows {
    var state: UInt64
    mutating func uniform() -> Double {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
    }
    mutating func matrix(_ rows: Int) -> FeatureMatrix {
        var values = [Double]()
        values.reserveCapacity(rows * featureCount)
        for _ in 0..<rows * featureCount {
            let value = uniform()
            values.append(uniform() > 0.94 ? .nan : value)
        }
        return FeatureMatrix(rows: rows, columns: featureCount, values: values)
    }
    static func labels(_ m: FeatureMatrix) -> [Double] {
        (0..<m.rows).map { r in
            func x(_ c: Int) -> Double { m[r, c].isNaN ? 0 : m[r, c] }
            var s = sin(3 * x(0)) * x(1) + x(2) * x(3) - 0.5 * x(4) + (x(5) > 0.2 ? 0.7 : -0.3)
            for c in stride(from: 6, to: 40, by: 2) { s += 0.15 * x(c) * x(c + 1) }
            return s > 0.1 ? 1 : 0
        }
    }
}

func check(_ status: Int32, _ what: String) {
    if status != 0 {
        print("XGBoost failed to \(what): \(String(cString: XGBGetLastError()))")
        exit(1)
    }
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

func percentiles(_ samples: [UInt64]) -> (p50: UInt64, p99: UInt64, mean: Double) {
    let sorted = samples.sorted()
    return (sorted[sorted.count / 2], sorted[sorted.count * 99 / 100],
            Double(sorted.reduce(0, +)) / Double(sorted.count))
}

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func report(_ name: String, _ samples: [UInt64]) {
    let p = percentiles(samples)
    print("  \(name.padding(toLength: 48, withPad: " ", startingAt: 0)) p50 \(p.p50) ns  p99 \(p.p99) ns  mean \(Int(p.mean)) ns")
}

/// A booster read from the model's JSON, predicting on `threads` threads.
func booster(_ bytes: [UInt8], threads: Int) -> BoosterHandle {
    var handle: BoosterHandle?
    check(XGBoosterCreate(nil, 0, &handle), "create a booster")
    bytes.withUnsafeBytes { check(XGBoosterLoadModelFromBuffer(handle, $0.baseAddress, bst_ulong($0.count)), "load") }
    check(XGBoosterSetParam(handle, "nthread", String(threads)), "set nthread")
    return handle!
}

/// XGBoost's in-place prediction over a dense float32 buffer (no DMatrix): `XGBoosterPredictFromDense`.
func inplacePredict(_ handle: BoosterHandle, _ floats: UnsafeBufferPointer<Float>, rows: Int) -> UnsafePointer<Float> {
    let address = UInt(bitPattern: floats.baseAddress!)
    let interface = #"{"data": [\#(address), true], "shape": [\#(rows), \#(featureCount)], "typestr": "<f4", "version": 3}"#
    let config = #"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "cache_id": 0, "missing": NaN}"#
    var shape: UnsafePointer<bst_ulong>?
    var dimension: bst_ulong = 0
    var result: UnsafePointer<Float>?
    check(XGBoosterPredictFromDense(handle, interface, config, nil, &shape, &dimension, &result), "predict in place")
    return result!
}

func dmatrix(_ floats: [Float], rows: Int) -> DMatrixHandle {
    var handle: DMatrixHandle?
    floats.withUnsafeBufferPointer {
        check(XGDMatrixCreateFromMat($0.baseAddress, bst_ulong(rows), bst_ulong(featureCount), .nan, &handle), "build a DMatrix")
    }
    return handle!
}

func predictDMatrix(_ handle: BoosterHandle, _ matrix: DMatrixHandle) -> UnsafePointer<Float> {
    let config = #"{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false}"#
    var shape: UnsafePointer<bst_ulong>?
    var dimension: bst_ulong = 0
    var result: UnsafePointer<Float>?
    check(XGBoosterPredictFromDMatrix(handle, matrix, config, &shape, &dimension, &result), "predict")
    return result!
}

// MARK: Model

var generator = Rows(state: 42)
let training = generator.matrix(20_000)
let fitStart = ContinuousClock.now
let trained = try await XGBoostLearner.train(
    features: training, labels: Rows.labels(training), classCount: 2, task: .classification,
    hyperparameters: ["n_estimators": 100, "max_depth": 6, "learning_rate": 0.3], validation: nil) { _, _, _ in }
guard let model = trained as? XGBoostModel else { fatalError("not an XGBoost model") }
let artifact = try model.artifact().bytes
let compileStart = ContinuousClock.now
let ensemble = try CompiledTreeEnsemble(xgboostJSON: artifact)
let compileTime = ContinuousClock.now - compileStart
let nodeLayout = ensemble.withNodeLayoutOnly()
print("machine: \(ProcessInfo.processInfo.activeProcessorCount) cores")
var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
XGBoostVersion(&major, &minor, &patch)
print("model: binary:logistic, \(ensemble.treeCount) trees, max_depth 6, \(featureCount) features (fit \(String(format: "%.1f", seconds(compileStart - fitStart))) s); XGBoost \(major).\(minor).\(patch)")
print("compile from JSON (\(artifact.count / 1024) KB): \(String(format: "%.2f", seconds(compileTime) * 1000)) ms; complete-tree layout: \(ensemble.usesCompleteTrees)")

let rows = generator.matrix(batchRows)
let floats = rows.values.map { Float($0) }

// Agreement on every batch row.
let expected = try model.predict(rows)
var largest = 0.0
for candidate in [ensemble, nodeLayout] {
    for (a, b) in zip(expected, try candidate.predict(rows)) { largest = max(largest, abs(a[1] - b[1])) }
}
print("largest |native − XGBoost| over \(batchRows) rows: \(largest)")

// MARK: Single row

let singleCalls = 100_000
let serial = booster(artifact, threads: 1)
// XGBoost's default is all cores; set explicitly, because XGBoostModel's calls set the calling thread's OpenMP
// default to one thread on main (after this branch was cut), which an unset nthread would then inherit.
let defaultThreads = booster(artifact, threads: ProcessInfo.processInfo.activeProcessorCount)
print("single row (\(singleCalls) calls, each timed; includes ~20-40 ns of clock reads):")
var output = [Double](repeating: 0, count: ensemble.outputCount)
var sink = 0.0
for (name, candidate) in [("native predict(row:into:), complete trees", ensemble), ("native predict(row:into:), node layout", nodeLayout)] {
    for warm in 0..<2 {
        var samples = [UInt64](repeating: 0, count: singleCalls)
        rows.values.withUnsafeBufferPointer { values in
            output.withUnsafeMutableBufferPointer { output in
                for call in 0..<singleCalls {
                    let row = call % batchRows
                    let slice = UnsafeBufferPointer(rebasing: values[row * featureCount..<(row + 1) * featureCount])
                    let start = now()
                    candidate.predict(row: slice, into: output)
                    samples[call] = now() - start
                    sink += output[1]
                }
            }
        }
        if warm == 1 { report(name, samples) }
    }
}
for (name, handle) in [("XGBoosterPredictFromDense, nthread 1", serial), ("XGBoosterPredictFromDense, all cores", defaultThreads)] {
    var samples = [UInt64](repeating: 0, count: singleCalls)
    var scratch = [Float](repeating: 0, count: featureCount)
    for warm in 0..<2 {
        scratch.withUnsafeMutableBufferPointer { scratch in
            for call in 0..<singleCalls {
                let row = call % batchRows
                let start = now()
                for column in 0..<featureCount { scratch[column] = Float(rows.values[row * featureCount + column]) }
                sink += Double(inplacePredict(handle, UnsafeBufferPointer(scratch), rows: 1)[0])
                samples[call] = now() - start
            }
        }
        if warm == 1 { report(name, samples) }
    }
}
do {
    // The serving path today: XGBoostModel.predict builds a one-row DMatrix per call (nthread 1).
    let calls = singleCalls / 5
    var samples = [UInt64](repeating: 0, count: calls)
    for call in 0..<calls {
        let row = call % batchRows
        let start = now()
        let matrix = FeatureMatrix(
            rows: 1, columns: featureCount, values: Array(rows.values[row * featureCount..<(row + 1) * featureCount]))
        sink += try model.predict(matrix)[0][1]
        samples[call] = now() - start
    }
    report("XGBoostModel.predict (1-row DMatrix)", samples)
}

// MARK: Batch

func measure(_ name: String, repeats: Int = 5, _ body: () throws -> Void) rethrows {
    var times: [Double] = []
    for _ in 0..<repeats {
        let start = ContinuousClock.now
        try body()
        times.append(seconds(ContinuousClock.now - start))
    }
    times.sort()
    let best = times[0], median = times[times.count / 2]
    print("  \(name.padding(toLength: 62, withPad: " ", startingAt: 0)) best \(String(format: "%7.1f", best * 1000)) ms = \(String(format: "%5.2f", Double(batchRows) / best / 1e6)) M rows/s   median \(String(format: "%7.1f", median * 1000)) ms")
}

print("batch of \(batchRows) rows (best and median of 5):")
try floats.withUnsafeBufferPointer { floatBuffer in
    measure("XGBoosterPredictFromDense, all cores") {
        sink += Double(inplacePredict(defaultThreads, floatBuffer, rows: batchRows)[0])
    }
    measure("XGBoosterPredictFromDense, nthread 1") {
        sink += Double(inplacePredict(serial, floatBuffer, rows: batchRows)[0])
    }
    // A fresh DMatrix each time: XGBoost caches predictions per DMatrix, so a reused one would not predict again.
    for (name, handle) in [("XGBoosterPredictFromDMatrix, all cores", defaultThreads), ("XGBoosterPredictFromDMatrix, nthread 1", serial)] {
        var times: [Double] = []
        for _ in 0..<5 {
            let matrix = dmatrix(floats, rows: batchRows)
            let start = ContinuousClock.now
            sink += Double(predictDMatrix(handle, matrix)[0])
            times.append(seconds(ContinuousClock.now - start))
            XGDMatrixFree(matrix)
        }
        times.sort()
        print("  \(name.padding(toLength: 62, withPad: " ", startingAt: 0)) best \(String(format: "%7.1f", times[0] * 1000)) ms = \(String(format: "%5.2f", Double(batchRows) / times[0] / 1e6)) M rows/s   median \(String(format: "%7.1f", times[2] * 1000)) ms   (DMatrix built outside the timing)")
    }
    var flat = [Double](repeating: 0, count: batchRows * ensemble.outputCount)
    for (layout, candidate) in [("complete trees", ensemble), ("node layout", nodeLayout)] {
        for threads in [1, 2] {
            rows.values.withUnsafeBufferPointer { values in
                flat.withUnsafeMutableBufferPointer { out in
                    measure("native predict(rows:into:), \(layout), threads \(threads)") {
                        candidate.predict(rows: values, into: out, threads: threads)
                    }
                }
            }
            sink += flat[1]
        }
    }
    try measure("native predictFlat(threads: 2)") { sink += try ensemble.predictFlat(rows, threads: 2)[1] }
    try measure("native predict(_:) -> [[Double]], 1 thread") { sink += try ensemble.predict(rows)[0][1] }
    try measure("XGBoostModel.predict (DMatrix built inside, nthread 1)", repeats: 3) { sink += try model.predict(rows)[0][1] }
}
print("(checksum \(sink))")
XGBoosterFree(serial)
XGBoosterFree(defaultThreads)
