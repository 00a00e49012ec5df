import NeuroplexCore

/// The registry, job and validation operations are served by ``MLTrainingRoutes`` (fast routes); the generated
/// entry points are never reached.
extension APIHandler {
    func importModel(_ input: Operations.ImportModel.Input) async throws -> Operations.ImportModel.Output { throw Self.servedByFastRoute }
    func listModels(_ input: Operations.ListModels.Input) async throws -> Operations.ListModels.Output { throw Self.servedByFastRoute }
    func createModel(_ input: Operations.CreateModel.Input) async throws -> Operations.CreateModel.Output { throw Self.servedByFastRoute }
    func getModel(_ input: Operations.GetModel.Input) async throws -> Operations.GetModel.Output { throw Self.servedByFastRoute }
    func updateModel(_ input: Operations.UpdateModel.Input) async throws -> Operations.UpdateModel.Output { throw Self.servedByFastRoute }
    func deleteModel(_ input: Operations.DeleteModel.Input) async throws -> Operations.DeleteModel.Output { throw Self.servedByFastRoute }
    func trainModel(_ input: Operations.TrainModel.Input) async throws -> Operations.TrainModel.Output { throw Self.servedByFastRoute }
    func getModelStatus(_ input: Operations.GetModelStatus.Input) async throws -> Operations.GetModelStatus.Output { throw Self.servedByFastRoute }
    func deployModel(_ input: Operations.DeployModel.Input) async throws -> Operations.DeployModel.Output { throw Self.servedByFastRoute }
    func retireModel(_ input: Operations.RetireModel.Input) async throws -> Operations.RetireModel.Output { throw Self.servedByFastRoute }
    func validateModel(_ input: Operations.ValidateModel.Input) async throws -> Operations.ValidateModel.Output { throw Self.servedByFastRoute }
    func listModelVersions(_ input: Operations.ListModelVersions.Input) async throws -> Operations.ListModelVersions.Output { throw Self.servedByFastRoute }
    func getModelVersion(_ input: Operations.GetModelVersion.Input) async throws -> Operations.GetModelVersion.Output { throw Self.servedByFastRoute }
    func getModelArtifact(_ input: Operations.GetModelArtifact.Input) async throws -> Operations.GetModelArtifact.Output { throw Self.servedByFastRoute }
    func setModelAlias(_ input: Operations.SetModelAlias.Input) async throws -> Operations.SetModelAlias.Output { throw Self.servedByFastRoute }
    func listJobs(_ input: Operations.ListJobs.Input) async throws -> Operations.ListJobs.Output { throw Self.servedByFastRoute }
    func getJob(_ input: Operations.GetJob.Input) async throws -> Operations.GetJob.Output { throw Self.servedByFastRoute }
    func updateJob(_ input: Operations.UpdateJob.Input) async throws -> Operations.UpdateJob.Output { throw Self.servedByFastRoute }
    func cancelJob(_ input: Operations.CancelJob.Input) async throws -> Operations.CancelJob.Output { throw Self.servedByFastRoute }
    func getJobLogs(_ input: Operations.GetJobLogs.Input) async throws -> Operations.GetJobLogs.Output { throw Self.servedByFastRoute }

    static var servedByFastRoute: NeuroplexError {
        NeuroplexError(.internal, code: .internal, "this operation is served by a fast route")
    }
}
