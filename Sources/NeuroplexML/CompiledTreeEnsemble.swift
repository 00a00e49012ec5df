import Dispatch
import Foundation
import NeuroplexCore

/// A gradient-boosted tree ensemble compiled from XGBoost's JSON model into flat arrays, evaluated in Swift.
///
/// Predictions equal XGBoost's own (1.7's CPU predictor): features are compared as `Float(value) < threshold` in
/// 32-bit floats, a NaN feature takes its node's default branch, leaf values are summed in tree order in 32-bit
/// floats starting from the base margin, and the objective's transform (sigmoid, softmax) is applied in 32-bit
/// floats as XGBoost does, except that `binary:logistic`'s two probabilities are computed in 64 bits from the
/// margin (within 1e-7 of XGBoost's), so that their log-odds give the margin back. Each row of ``predict(_:)``
/// has the shape and meaning of ``XGBoostModel/predict(_:)``: two probabilities `[1 − p, p]` for `binary:*`,
/// one probability per class for `multi:softprob`, a one-hot row for `multi:softmax`, the value for regression.
///
/// ```swift
/// let ensemble = try CompiledTreeEnsemble(xgboostJSON: model.json())
/// var output = [Double](repeating: 0, count: ensemble.outputCount)
/// row.withUnsafeBufferPointer { row in
///     output.withUnsafeMutableBufferPointer { ensemble.predict(row: row, into: $0) }
/// }
/// ```
///
/// Supported: the `gbtree` booster with numerical splits, and the objectives `binary:logistic`,
/// `binary:logitraw`, `reg:logistic`, `reg:squarederror`, `multi:softprob` and `multi:softmax`. Anything else
/// (`dart`, `gblinear`, categorical splits, other objectives) is refused when compiling, never mispredicted.
///
/// Layout: every tree's nodes are renumbered breadth-first into one contiguous array, so that a node's two
/// children are adjacent (`right = left + 1`) and a node is 12 bytes: threshold (or leaf value), left child,
/// feature index with the default-left flag in its top bit. When no tree is deeper than 10 levels, the trees are
/// also laid out as complete binary trees (``CompleteTrees``), which predictions then use: fixed-length walks
/// that the processor overlaps across rows and trees.
public final class CompiledTreeEnsemble: TrainedModel, Sendable {
    /// One node of the flat layout.
    struct Node: Sendable {
        /// The split threshold, or the leaf value for a leaf.
        var value: Float
        /// The index of the left child in `nodes` (the right child follows it); negative for a leaf.
        var left: Int32
        /// The feature index; the top bit is set when a missing value goes left.
        var feature: UInt32

        static let defaultLeftBit: UInt32 = 1 << 31
    }

    /// How margins become outputs.
    enum Transform: Sendable {
        /// `[1 − p, p]` with `p = sigmoid(margin)`.
        case binaryProbability
        /// `[1 − margin, margin]`, as `XGBoostModel` reports `binary:logitraw`.
        case binaryMargin
        /// `[sigmoid(margin)]`.
        case sigmoid
        /// `[margin]`.
        case identity
        /// The softmax of the class margins.
        case softprob
        /// One-hot at the first largest class margin.
        case softmax
    }

    /// The XGBoost objective the model was trained with, such as `binary:logistic`.
    public let objective: String
    /// The number of feature columns the model expects (`num_feature`).
    public let featureCount: Int
    /// The number of values ``predict(row:into:)`` writes per row: 2 for binary classification, the number of
    /// classes for multi-class, 1 for regression.
    public let outputCount: Int
    /// The number of trees.
    public var treeCount: Int { roots.count }

    let nodes: [Node]
    /// The index in `nodes` of each tree's root.
    let roots: [Int32]
    /// The output group (class) each tree adds to.
    let groups: [Int32]
    /// The number of margins a row has: the number of classes for multi-class, else 1.
    let groupCount: Int
    /// The starting margin of every group, from `base_score` as XGBoost transforms it.
    let baseMargin: Float
    let transform: Transform
    /// The model as given, returned by ``artifact()``.
    let source: [UInt8]
    /// The complete-tree layout, when every tree is shallow enough; predictions use it when present.
    let complete: CompleteTrees?

    /// Compiles an XGBoost model saved as JSON (`XGBoosterSaveModelToBuffer` with format `json`, or
    /// `Booster.save_model("model.json")`), as XGBoost 1.7 writes it.
    ///
    /// - Throws: `NeuroplexError` (422) with code `invalid_model` when the bytes are not such a model or its trees
    ///   are malformed, and `unsupported_model` for a booster, objective or split type this evaluator does not
    ///   handle (`dart`, `gblinear`, categorical splits, ...).
    /// - Complexity: O(model size).
    public init(xgboostJSON bytes: [UInt8]) throws {
        let document: XGBoostJSON
        do {
            document = try JSONDecoder().decode(XGBoostJSON.self, from: Data(bytes))
        } catch {
            throw Self.invalid("it is not an XGBoost JSON model (\(Self.describe(error)))")
        }
        let learner = document.learner
        let booster = learner.gradientBooster.name
        guard booster == "gbtree" else {
            throw Self.unsupported("the booster is '\(booster)'; only 'gbtree' is compiled")
        }
        guard let model = learner.gradientBooster.model else { throw Self.invalid("the gbtree booster has no model") }

        let objective = learner.objective.name
        let parameters = learner.learnerModelParam
        guard let declaredFeatures = Int(parameters.numFeature.text), declaredFeatures >= 0,
              let declaredClasses = Int(parameters.numClass.text), declaredClasses >= 0,
              let baseScore = Float(XGBoostCompatibility.scalar(parameters.baseScore.text)), baseScore.isFinite
        else {
            throw Self.invalid("learner_model_param is malformed")
        }
        if let targets = parameters.numTarget.flatMap({ Int($0.text) }), targets > 1 {
            throw Self.unsupported("the model has \(targets) targets; only single-target models are compiled")
        }

        let transform: Transform
        let baseMargin: Float
        switch objective {
        case "binary:logistic", "reg:logistic":
            guard baseScore > 0, baseScore < 1 else {
                throw Self.invalid("base_score \(baseScore) of a logistic objective must be between 0 and 1")
            }
            // XGBoost keeps base_score as a probability and starts from its logit, computed in Float.
            baseMargin = -log(1 / baseScore - 1)
            transform = objective == "binary:logistic" ? .binaryProbability : .sigmoid
        case "binary:logitraw":
            // XGBoost 1.7 starts logitraw from base_score itself, not from its logit (measured against it).
            baseMargin = baseScore
            transform = .binaryMargin
        case "reg:squarederror":
            baseMargin = baseScore
            transform = .identity
        case "multi:softprob", "multi:softmax":
            baseMargin = baseScore
            transform = objective == "multi:softprob" ? .softprob : .softmax
        default:
            throw Self.unsupported("the objective '\(objective)' is not compiled")
        }
        let groupCount = objective.hasPrefix("multi:") ? declaredClasses : 1
        guard groupCount >= 1, !(objective.hasPrefix("multi:") && groupCount < 2) else {
            throw Self.invalid("a multi-class model needs num_class of at least 2 (got \(declaredClasses))")
        }
        guard model.treeInfo.count == model.trees.count else {
            throw Self.invalid("tree_info has \(model.treeInfo.count) entries for \(model.trees.count) trees")
        }

        var nodes: [Node] = []
        var roots: [Int32] = []
        var groups: [Int32] = []
        var usedFeatures = 0
        for (index, tree) in model.trees.enumerated() {
            let group = model.treeInfo[index]
            guard group >= 0, group < groupCount else {
                throw Self.invalid("tree \(index) adds to class \(group), outside 0..<\(groupCount)")
            }
            roots.append(Int32(nodes.count))
            groups.append(Int32(group))
            try Self.flatten(tree, index: index, into: &nodes, usedFeatures: &usedFeatures)
            guard nodes.count < Int(Int32.max) else { throw Self.unsupported("the model has too many nodes") }
        }

        self.objective = objective
        // num_feature is the width XGBoost checks data against; splits never reach past it in a sound model.
        self.featureCount = max(declaredFeatures, usedFeatures)
        self.outputCount = objective.hasPrefix("binary:") ? 2 : groupCount
        self.nodes = nodes
        self.roots = roots
        self.groups = groups
        self.groupCount = groupCount
        self.baseMargin = baseMargin
        self.transform = transform
        self.source = bytes
        self.complete = CompleteTrees(nodes: nodes, roots: roots)
    }

    /// A copy of `other` with or without the complete-tree layout.
    private init(_ other: CompiledTreeEnsemble, complete: CompleteTrees?) {
        objective = other.objective
        featureCount = other.featureCount
        outputCount = other.outputCount
        nodes = other.nodes
        roots = other.roots
        groups = other.groups
        groupCount = other.groupCount
        baseMargin = other.baseMargin
        transform = other.transform
        source = other.source
        self.complete = complete
    }

    /// Whether predictions walk complete trees (every tree at most 10 deep) rather than the node layout.
    package var usesCompleteTrees: Bool { complete != nil }

    /// The same ensemble evaluated through the node layout only, for tests and benchmarks of that path.
    package func withNodeLayoutOnly() -> CompiledTreeEnsemble { CompiledTreeEnsemble(self, complete: nil) }

    /// Appends one tree's reachable nodes breadth-first, children adjacent, and checks its structure.
    private static func flatten(_ tree: XGBoostJSON.Tree, index: Int, into nodes: inout [Node], usedFeatures: inout Int) throws {
        let count = tree.leftChildren.count
        guard count >= 1, tree.rightChildren.count == count, tree.splitIndices.count == count,
              tree.splitConditions.count == count, tree.defaultLeft.count == count
        else {
            throw invalid("tree \(index) has arrays of different lengths or no nodes")
        }
        if let types = tree.splitType, types.contains(where: { $0 != 0 }) {
            throw unsupported("tree \(index) has categorical splits; only numerical splits are compiled")
        }
        let base = nodes.count
        // Slots are handed out in breadth-first order: `queue[k]` is the source node placed at `base + k`.
        var queue: [Int] = [0]
        var seen = [Bool](repeating: false, count: count)
        seen[0] = true
        nodes.append(Node(value: 0, left: -1, feature: 0))
        var head = 0
        while head < queue.count {
            let source = queue[head]
            let left = tree.leftChildren[source], right = tree.rightChildren[source]
            let slot = base + head
            head += 1
            if left == -1 {
                guard right == -1 else { throw invalid("tree \(index) node \(source) has only one child") }
                guard tree.splitConditions[source].isFinite else {
                    throw invalid("tree \(index) leaf \(source) has a value that is not finite")
                }
                nodes[slot] = Node(value: tree.splitConditions[source], left: -1, feature: 0)
                continue
            }
            for child in [left, right] {
                guard child > 0, child < count, !seen[child] else {
                    throw invalid("tree \(index) node \(source) has an invalid or repeated child \(child)")
                }
                seen[child] = true
            }
            let feature = tree.splitIndices[source]
            guard feature >= 0, feature < Int(Node.defaultLeftBit) else {
                throw invalid("tree \(index) node \(source) splits on feature \(feature)")
            }
            usedFeatures = max(usedFeatures, feature + 1)
            let leftSlot = base + queue.count
            queue.append(left)
            queue.append(right)
            nodes.append(Node(value: 0, left: -1, feature: 0))
            nodes.append(Node(value: 0, left: -1, feature: 0))
            nodes[slot] = Node(
                value: tree.splitConditions[source], left: Int32(leftSlot),
                feature: UInt32(feature) | (tree.defaultLeft[source].value ? Node.defaultLeftBit : 0))
        }
    }

    // MARK: Prediction

    /// Predicts one row without allocating: writes ``outputCount`` values into `output`.
    ///
    /// - Parameters:
    ///   - row: ``featureCount`` feature values; NaN marks a missing value.
    ///   - output: room for at least ``outputCount`` values: the same values as one row of ``predict(_:)``.
    /// - Precondition: `row.count >= featureCount` and `output.count >= outputCount`.
    /// - Complexity: O(trees × depth).
    public func predict(row: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>) {
        precondition(row.count >= featureCount, "a row needs \(featureCount) features (got \(row.count))")
        precondition(output.count >= outputCount, "the output needs room for \(outputCount) values")
        withUnsafeTemporaryAllocation(of: Float.self, capacity: max(featureCount, 1)) { features in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: groupCount) { margins in
                for column in 0..<featureCount { features[column] = Float(row[column]) }
                margins.initialize(repeating: baseMargin)
                if let complete {
                    complete.splits.withUnsafeBufferPointer { splits in
                        complete.leaves.withUnsafeBufferPointer { leaves in
                            complete.trees.withUnsafeBufferPointer { trees in
                                let splits = splits.baseAddress!, leaves = leaves.baseAddress!
                                let features = UnsafePointer(features.baseAddress!)
                                if groupCount == 1 {
                                    var sum = margins[0]
                                    for tree in trees { sum += CompleteTrees.leaf(tree, features, splits, leaves) }
                                    margins[0] = sum
                                } else {
                                    groups.withUnsafeBufferPointer { groups in
                                        for index in trees.indices {
                                            margins[Int(groups[index])] += CompleteTrees.leaf(trees[index], features, splits, leaves)
                                        }
                                    }
                                }
                            }
                        }
                    }
                    finish(margins.baseAddress!, into: output.baseAddress!)
                    return
                }
                nodes.withUnsafeBufferPointer { nodes in
                    roots.withUnsafeBufferPointer { roots in
                        if groupCount == 1 {
                            var sum = margins[0]
                            for root in roots { sum += Self.leaf(root, features.baseAddress!, nodes.baseAddress!) }
                            margins[0] = sum
                        } else {
                            groups.withUnsafeBufferPointer { groups in
                                for tree in roots.indices {
                                    margins[Int(groups[tree])] += Self.leaf(roots[tree], features.baseAddress!, nodes.baseAddress!)
                                }
                            }
                        }
                    }
                }
                finish(margins.baseAddress!, into: output.baseAddress!)
            }
        }
    }

    /// Predicts every row: per row, the same values as ``XGBoostModel/predict(_:)`` (see the type's summary).
    ///
    /// Rows are evaluated in blocks on the calling thread; use ``predict(rows:into:threads:)`` to spread a large
    /// batch over threads or to avoid the per-row arrays.
    /// - Throws: `NeuroplexError` (422, `invalid_input`) when the matrix has a different number of columns
    ///   than ``featureCount``.
    public func predict(_ features: FeatureMatrix) throws -> [[Double]] {
        let flat = try predictFlat(features, threads: 1)
        return (0..<features.rows).map { row in Array(flat[row * outputCount..<(row + 1) * outputCount]) }
    }

    /// Predicts every row into one row-major array of `rows × outputCount` values.
    ///
    /// - Parameter threads: how many threads share a large batch (`DispatchQueue.concurrentPerform`); 1 runs on
    ///   the caller's thread only. Batches under a few thousand rows always run on the caller's thread.
    /// - Throws: as ``predict(_:)``.
    public func predictFlat(_ features: FeatureMatrix, threads: Int = 1) throws -> [Double] {
        guard features.columns == featureCount else {
            throw NeuroplexError(
                .invalidInput, code: .validationFailed,
                "the model expects \(featureCount) features per row (got \(features.columns))")
        }
        guard features.rows > 0 else { return [] }
        return [Double](unsafeUninitializedCapacity: features.rows * outputCount) { buffer, initialized in
            features.values.withUnsafeBufferPointer { values in
                predict(rows: values, into: buffer, threads: threads)
            }
            initialized = features.rows * outputCount
        }
    }

    /// Predicts a batch of rows, row-major, `featureCount` values each, into `output` (`outputCount` per row).
    ///
    /// Rows go through the trees in blocks (a block of rows converted to `Float` once, then all trees over it),
    /// so that the block's features stay in the first-level cache while the trees stream through.
    /// - Parameter threads: as in ``predictFlat(_:threads:)``. The call blocks its thread until every part is done:
    ///   from async code, keep large threaded batches off the cooperative pool (as `DedicatedThread` does).
    /// - Precondition: `rows.count` is a multiple of ``featureCount`` and `output` has room for every row.
    public func predict(rows: UnsafeBufferPointer<Double>, into output: UnsafeMutableBufferPointer<Double>, threads: Int = 1) {
        let width = max(featureCount, 1)
        precondition(featureCount == 0 || rows.count % featureCount == 0, "rows must hold whole rows of \(featureCount) features")
        let rowCount = featureCount == 0 ? output.count / outputCount : rows.count / featureCount
        precondition(output.count >= rowCount * outputCount, "the output needs room for \(rowCount * outputCount) values")
        guard rowCount > 0 else { return }
        let input = rows.baseAddress!, out = output.baseAddress!
        let parts = min(max(threads, 1), rowCount / Self.minimumRowsPerThread)
        if parts <= 1 {
            predictRows(0..<rowCount, input: input, width: width, output: out)
            return
        }
        // Whole blocks per part, so parts never share a cache line of output.
        let blocks = (rowCount + Self.rowBlock - 1) / Self.rowBlock
        let perPart = (blocks + parts - 1) / parts * Self.rowBlock
        // Each part writes only its own rows of `output`.
        let shared = UnsafeSendable(input: input, output: out)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let lower = part * perPart, upper = min(rowCount, lower + perPart)
            if lower < upper {
                predictRows(lower..<upper, input: shared.input, width: width, output: shared.output)
            }
        }
    }

    /// Rows evaluated together: 64 rows of 40 features are 10 KB of `Float`, well within the L1 cache.
    static let rowBlock = 64
    static let minimumRowsPerThread = 2048

    /// The rows of `range`, block by block, on the calling thread.
    private func predictRows(_ range: Range<Int>, input: UnsafePointer<Double>, width: Int, output: UnsafeMutablePointer<Double>) {
        let block = Self.rowBlock
        withUnsafeTemporaryAllocation(of: Float.self, capacity: block * width) { features in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: block * groupCount) { margins in
                let features = features.baseAddress!, margins = margins.baseAddress!
                nodes.withUnsafeBufferPointer { nodes in
                    roots.withUnsafeBufferPointer { roots in
                        groups.withUnsafeBufferPointer { groups in
                            let nodes = nodes.baseAddress!
                            var start = range.lowerBound
                            while start < range.upperBound {
                                let count = min(block, range.upperBound - start)
                                let source = input + start * featureCount
                                for index in 0..<count * featureCount { features[index] = Float(source[index]) }
                                margins.update(repeating: baseMargin, count: count * groupCount)
                                if let complete {
                                    Self.addComplete(
                                        complete, groups: groups, groupCount: groupCount, rows: count,
                                        features: features, width: width, margins: margins)
                                } else if groupCount == 1 {
                                    // Tree-major over the block: one tree's nodes serve all its rows while cached.
                                    for root in roots {
                                        for row in 0..<count {
                                            margins[row] += Self.leaf(root, features + row * width, nodes)
                                        }
                                    }
                                } else {
                                    for tree in roots.indices {
                                        let root = roots[tree], group = Int(groups[tree])
                                        for row in 0..<count {
                                            margins[row * groupCount + group] += Self.leaf(root, features + row * width, nodes)
                                        }
                                    }
                                }
                                for row in 0..<count {
                                    finish(margins + row * groupCount, into: output + (start + row) * outputCount)
                                }
                                start += count
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds every tree's leaf to the margins of a block of rows, through the complete layout, four rows at a time.
    private static func addComplete(
        _ complete: CompleteTrees, groups: UnsafeBufferPointer<Int32>, groupCount: Int, rows count: Int,
        features: UnsafePointer<Float>, width: Int, margins: UnsafeMutablePointer<Float>
    ) {
        complete.splits.withUnsafeBufferPointer { splits in
            complete.leaves.withUnsafeBufferPointer { leaves in
                complete.trees.withUnsafeBufferPointer { trees in
                    let splits = splits.baseAddress!, leaves = leaves.baseAddress!
                    // Tree-major over the block: one tree's splits serve all its rows while cached.
                    for index in trees.indices {
                        let tree = trees[index]
                        let group = groupCount == 1 ? 0 : Int(groups[index])
                        var row = 0
                        while row + 4 <= count {
                            let (a, b, c, d) = CompleteTrees.leaves4(
                                tree, features + row * width, width: width, splits, leaves)
                            margins[row * groupCount + group] += a
                            margins[(row + 1) * groupCount + group] += b
                            margins[(row + 2) * groupCount + group] += c
                            margins[(row + 3) * groupCount + group] += d
                            row += 4
                        }
                        while row < count {
                            margins[row * groupCount + group] += CompleteTrees.leaf(tree, features + row * width, splits, leaves)
                            row += 1
                        }
                    }
                }
            }
        }
    }

    /// The leaf value the row reaches in the tree rooted at `root`.
    @inline(__always)
    private static func leaf(_ root: Int32, _ features: UnsafePointer<Float>, _ nodes: UnsafePointer<Node>) -> Float {
        var node = nodes[Int(root)]
        while node.left >= 0 {
            let value = features[Int(node.feature & ~Node.defaultLeftBit)]
            // As XGBoost: a missing value takes the default branch, any other goes left when below the threshold.
            let goLeft = value.isNaN ? node.feature & Node.defaultLeftBit != 0 : value < node.value
            node = nodes[Int(node.left) + (goLeft ? 0 : 1)]
        }
        return node.value
    }

    /// Applies the objective's transform to one row's margins, in Float as XGBoost does.
    @inline(__always)
    private func finish(_ margins: UnsafeMutablePointer<Float>, into output: UnsafeMutablePointer<Double>) {
        switch transform {
        case .binaryProbability:
            // In Double from the Float margin (within 1e-7 of XGBoost's Float sigmoid), so that the log-odds of
            // either probability give the margin back, as explanations need, even for p near 0 or 1.
            let margin = Double(margins[0])
            output[0] = 1 / (1 + Foundation.exp(margin))
            output[1] = 1 / (1 + Foundation.exp(-margin))
        case .binaryMargin:
            output[0] = 1 - Double(margins[0])
            output[1] = Double(margins[0])
        case .sigmoid:
            output[0] = Double(Self.sigmoid(margins[0]))
        case .identity:
            output[0] = Double(margins[0])
        case .softprob:
            var largest = margins[0]
            for group in 1..<groupCount { largest = max(margins[group], largest) }
            var sum: Double = 0
            for group in 0..<groupCount {
                margins[group] = exp(margins[group] - largest)
                sum += Double(margins[group])
            }
            let total = Float(sum)
            for group in 0..<groupCount { output[group] = Double(margins[group] / total) }
        case .softmax:
            var best = 0
            for group in 1..<groupCount where margins[group] > margins[best] { best = group }
            for group in 0..<groupCount { output[group] = group == best ? 1 : 0 }
        }
    }

    @inline(__always)
    private static func sigmoid(_ x: Float) -> Float { 1 / (1 + exp(-x)) }

    /// The model as it was compiled from: XGBoost's JSON.
    public func artifact() throws -> (bytes: [UInt8], mediaType: String) { (source, "application/json") }

    // MARK: Errors

    private static func invalid(_ reason: String) -> NeuroplexError {
        NeuroplexError(.invalidInput, code: TrainingCodes.invalidModel, "cannot compile the XGBoost model: \(reason)")
    }

    private static func unsupported(_ reason: String) -> NeuroplexError {
        NeuroplexError(.invalidInput, code: TrainingCodes.unsupportedModel, "cannot compile the XGBoost model: \(reason)")
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \((context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: "."))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "unexpected value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "bad value at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        default:
            return "unreadable"
        }
    }
}

extension TrainingCodes {
    /// A model of a kind the native evaluator does not compile (a `dart` or `gblinear` booster, categorical
    /// splits, an objective it does not know).
    static let unsupportedModel: NeuroplexError.Code = "unsupported_model"
}

/// The two buffers shared by the parts of a threaded batch; each part touches only its own rows.
private struct UnsafeSendable: @unchecked Sendable {
    let input: UnsafePointer<Double>
    let output: UnsafeMutablePointer<Double>
}

// MARK: XGBoost's JSON schema (1.7)

/// The parts of XGBoost's JSON model the evaluator reads.
struct XGBoostJSON: Decodable {
    var learner: Learner

    struct Learner: Decodable {
        var learnerModelParam: ModelParam
        var objective: Objective
        var gradientBooster: GradientBooster

        enum CodingKeys: String, CodingKey {
            case learnerModelParam = "learner_model_param", objective, gradientBooster = "gradient_booster"
        }
    }

    struct ModelParam: Decodable {
        var baseScore: Text
        var numClass: Text
        var numFeature: Text
        var numTarget: Text?

        enum CodingKeys: String, CodingKey {
            case baseScore = "base_score", numClass = "num_class", numFeature = "num_feature", numTarget = "num_target"
        }
    }

    struct Objective: Decodable { var name: String }

    struct GradientBooster: Decodable {
        var name: String
        /// Present for `gbtree`; `dart` nests its trees differently and `gblinear` has weights instead.
        var model: Model?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            name = try container.decode(String.self, forKey: .name)
            if name == "gbtree" {
                model = try container.decode(Model.self, forKey: .model)
            } else {
                model = nil
            }
        }

        enum CodingKeys: String, CodingKey { case name, model }
    }

    struct Model: Decodable {
        var trees: [Tree]
        var treeInfo: [Int]

        enum CodingKeys: String, CodingKey { case trees, treeInfo = "tree_info" }
    }

    struct Tree: Decodable {
        var leftChildren: [Int]
        var rightChildren: [Int]
        var splitIndices: [Int]
        /// The threshold of a split node, the value of a leaf.
        var splitConditions: [Float]
        var defaultLeft: [Flag]
        var splitType: [Int]?

        enum CodingKeys: String, CodingKey {
            case leftChildren = "left_children", rightChildren = "right_children", splitIndices = "split_indices"
            case splitConditions = "split_conditions", defaultLeft = "default_left", splitType = "split_type"
        }
    }

    /// A parameter XGBoost writes as a string (`"5E-1"`), read also when written as a number.
    struct Text: Decodable {
        var text: String

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                text = string
            } else {
                let number = try container.decode(Double.self)
                text = number.rounded() == number && abs(number) < 1e15 ? String(Int64(number)) : String(number)
            }
        }
    }

    /// `default_left`: 0/1 in XGBoost 1.7, also read as a Boolean.
    struct Flag: Decodable {
        var value: Bool

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) {
                value = flag
            } else {
                value = try container.decode(Int.self) != 0
            }
        }
    }
}
