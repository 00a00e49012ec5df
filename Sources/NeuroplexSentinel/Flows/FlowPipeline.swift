/// What happens to each flow of a capture: its CSV row, its observation for the rules, and (with a model) its
/// score, in batches. Flows are numbered by their row in the CSV (from 1); `id` names a row in evidence.
public struct FlowPipeline {
    /// Flows scored per call to the model.
    public static let batchSize = 2048
    /// Flows explained at most per capture. Explaining a flow (TreeSHAP) costs about as much as scoring a thousand,
    /// and each model alert explains its strongest flow: a capture with tens of thousands of distinct attackers
    /// would spend nearly all its time there (30k packets/s instead of 500k+). The alerts past the budget keep
    /// their class, score, model and flows, without top features.
    public static let explanationBudget = 1_000

    /// The CSV rows not yet taken (when `writesCSV`); the owner writes and empties it as it likes.
    public var csv: [UInt8] = []
    public private(set) var observations: [FlowObservation] = []
    public private(set) var modelAlerts: ModelAlerts?
    private let scorer: (any FlowScorer)?
    private let id: (Int) -> String
    private let writesCSV: Bool
    private var writer = FlowCSVWriter()
    private var features: [Double] = []
    private var batch: [Double] = []
    private var batchStart = 0
    /// Flows explained so far.
    public private(set) var explained = 0

    public init(scorer: (any FlowScorer)?, writesCSV: Bool = true, id: @escaping (Int) -> String) {
        self.scorer = scorer
        self.id = id
        self.writesCSV = writesCSV
        if writesCSV { csv = Array(FlowCSVWriter.header.utf8) }
        modelAlerts = scorer.map { ModelAlerts(model: $0.model, modelVersion: $0.modelVersion) }
        batch.reserveCapacity(Self.batchSize * FlowRecord.featureNames.count)
    }

    public mutating func add(_ flow: FlowRecord) throws {
        if writesCSV { writer.append(flow, to: &csv) }
        observations.append(flow.observation(id: id(observations.count + 1)))
        guard scorer != nil else { return }
        flow.features(into: &features)
        batch += features
        if batch.count >= Self.batchSize * features.count { try score() }
    }

    /// Scores the flows still waiting for the model.
    public mutating func finish() throws {
        try score()
    }

    private mutating func score() throws {
        guard let scorer, !batch.isEmpty else { return }
        let count = observations.count - batchStart
        // Only flows that would become an alert's evidence are explained: the best of each alert in the batch,
        // when it opens the alert or beats its confidence.
        let observations = observations
        let start = batchStart
        let alerts = modelAlerts
        var chosen: [String: Double] = [:]
        var budget = Self.explanationBudget - explained
        let scores = try scorer.score(features: batch, count: count) { row, score in
            guard budget > 0 else { return false }
            let key = ModelAlerts.key(observations[start + row], score)
            if let best = chosen[key], best >= score.confidence { return false }
            guard alerts?.wantsExplanation(key: key, score) ?? true else { return false }
            chosen[key] = score.confidence
            budget -= 1
            return true
        }
        explained = Self.explanationBudget - budget
        for (offset, score) in scores.enumerated() { modelAlerts?.add(observations[batchStart + offset], score) }
        batchStart = observations.count
        batch.removeAll(keepingCapacity: true)
    }
}
