import NeuroplexCore
import NeuroplexML
import NeuroplexSentinel

/// Sentinel's ``FlowScorer`` over a deployed model: flows' CICFlowMeter features go through the version's
/// preprocessing and evaluator (the columns it was trained on are taken by name; identifiers it never saw are
/// ignored), and the flows scored as an attack that the caller asks about are explained with the model's feature
/// contributions (TreeSHAP for XGBoost), up to ``explainedPerBatch`` a call.
struct ServingFlowScorer: FlowScorer {
    static let explainedPerBatch = 256

    let served: ServedModel
    let layout: ServedModel.NumericLayout

    var model: String { served.modelName }
    var modelVersion: Int { served.version.version }

    /// The primary version of the deployed model `reference` (a name or id).
    /// - Throws: 404 for an unknown model, 409 `not_deployed`; 422 when the model is not a classifier.
    static func resolve(_ reference: String, serving: ModelServing) async throws -> ServingFlowScorer {
        guard let entry = serving.served().first(where: { $0.name == reference || $0.modelId == reference }),
            let primary = entry.models.first(where: { $0.version.version == entry.deployment.primaryVersion })
        else { throw await serving.notServing(reference) }
        guard primary.classes != nil else {
            throw NeuroplexError.invalid("model", "model '\(reference)' is not a classifier: Sentinel scores flows with one")
        }
        return ServingFlowScorer(served: primary, layout: primary.layout(for: FlowRecord.featureNames))
    }

    func score(features: [Double], count: Int, explain: (Int, FlowScore) -> Bool) throws -> [FlowScore] {
        let (outputs, preprocessed) = try served.predict(numeric: features, count: count, layout: layout)
        var scores = outputs.map { FlowScore(label: $0.label ?? "", confidence: $0.confidence ?? 0) }
        // `explain` is asked only until the bound is reached, so that every row it agreed to is explained.
        var attacks: [Int] = []
        for row in scores.indices where attacks.count < Self.explainedPerBatch {
            if scores[row].isAttack && explain(row, scores[row]) { attacks.append(row) }
        }
        // A model that cannot explain still scores.
        if let explanations = try? served.explain(preprocessed: preprocessed, rows: attacks, outputs: outputs) {
            for (row, explanation) in zip(attacks, explanations) {
                scores[row].topFeatures = explanation.contributions.sorted { abs($0.value) > abs($1.value) }.prefix(5)
                    .map { Alert.FeatureContribution(feature: $0.name, contribution: $0.value) }
            }
        }
        return scores
    }
}
