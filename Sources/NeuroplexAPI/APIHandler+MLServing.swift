import NeuroplexCore

/// Model serving, the Open Inference Protocol and seed 004's model paths are served by ``MLServingRoutes`` (fast
/// routes); the generated entry points are never reached.
extension APIHandler {
    func getModelDeployment(_ input: Operations.GetModelDeployment.Input) async throws -> Operations.GetModelDeployment.Output { throw Self.servedByFastRoute }
    func getModelDrift(_ input: Operations.GetModelDrift.Input) async throws -> Operations.GetModelDrift.Output { throw Self.servedByFastRoute }
    func getModelExperiments(_ input: Operations.GetModelExperiments.Input) async throws -> Operations.GetModelExperiments.Output { throw Self.servedByFastRoute }
    func predict(_ input: Operations.Predict.Input) async throws -> Operations.Predict.Output { throw Self.servedByFastRoute }
    func postFeedback(_ input: Operations.PostFeedback.Input) async throws -> Operations.PostFeedback.Output { throw Self.servedByFastRoute }
    func getMLMetrics(_ input: Operations.GetMLMetrics.Input) async throws -> Operations.GetMLMetrics.Output { throw Self.servedByFastRoute }
    func oipLive(_ input: Operations.OipLive.Input) async throws -> Operations.OipLive.Output { throw Self.servedByFastRoute }
    func oipReady(_ input: Operations.OipReady.Input) async throws -> Operations.OipReady.Output { throw Self.servedByFastRoute }
    func oipServer(_ input: Operations.OipServer.Input) async throws -> Operations.OipServer.Output { throw Self.servedByFastRoute }
    func oipModel(_ input: Operations.OipModel.Input) async throws -> Operations.OipModel.Output { throw Self.servedByFastRoute }
    func oipModelVersion(_ input: Operations.OipModelVersion.Input) async throws -> Operations.OipModelVersion.Output { throw Self.servedByFastRoute }
    func oipModelReady(_ input: Operations.OipModelReady.Input) async throws -> Operations.OipModelReady.Output { throw Self.servedByFastRoute }
    func oipModelVersionReady(_ input: Operations.OipModelVersionReady.Input) async throws -> Operations.OipModelVersionReady.Output { throw Self.servedByFastRoute }
    func oipInfer(_ input: Operations.OipInfer.Input) async throws -> Operations.OipInfer.Output { throw Self.servedByFastRoute }
    func oipInferVersion(_ input: Operations.OipInferVersion.Input) async throws -> Operations.OipInferVersion.Output { throw Self.servedByFastRoute }
    func oipRepositoryIndex(_ input: Operations.OipRepositoryIndex.Input) async throws -> Operations.OipRepositoryIndex.Output { throw Self.servedByFastRoute }
    func oipRepositoryLoad(_ input: Operations.OipRepositoryLoad.Input) async throws -> Operations.OipRepositoryLoad.Output { throw Self.servedByFastRoute }
    func oipRepositoryUnload(_ input: Operations.OipRepositoryUnload.Input) async throws -> Operations.OipRepositoryUnload.Output { throw Self.servedByFastRoute }
    func modelHealth(_ input: Operations.ModelHealth.Input) async throws -> Operations.ModelHealth.Output { throw Self.servedByFastRoute }
    func modelInfo(_ input: Operations.ModelInfo.Input) async throws -> Operations.ModelInfo.Output { throw Self.servedByFastRoute }
    func updateModels(_ input: Operations.UpdateModels.Input) async throws -> Operations.UpdateModels.Output { throw Self.servedByFastRoute }
    func getMLEvents(_ input: Operations.GetMLEvents.Input) async throws -> Operations.GetMLEvents.Output { throw Self.servedByFastRoute }
    func getModelImportance(_ input: Operations.GetModelImportance.Input) async throws -> Operations.GetModelImportance.Output { throw Self.servedByFastRoute }
    func predictBatch(_ input: Operations.PredictBatch.Input) async throws -> Operations.PredictBatch.Output { throw Self.servedByFastRoute }
    func downloadDataset(_ input: Operations.DownloadDataset.Input) async throws -> Operations.DownloadDataset.Output { throw Self.servedByFastRoute }
    func createTrigger(_ input: Operations.CreateTrigger.Input) async throws -> Operations.CreateTrigger.Output { throw Self.servedByFastRoute }
    func listTriggers(_ input: Operations.ListTriggers.Input) async throws -> Operations.ListTriggers.Output { throw Self.servedByFastRoute }
    func deleteTrigger(_ input: Operations.DeleteTrigger.Input) async throws -> Operations.DeleteTrigger.Output { throw Self.servedByFastRoute }
    func fireTrigger(_ input: Operations.FireTrigger.Input) async throws -> Operations.FireTrigger.Output { throw Self.servedByFastRoute }
}
