/// Sentinel's routes are served by ``SentinelRoutes`` (fast routes); the generated entry points are never reached.
extension APIHandler {
    func listSentinelRules(_ input: Operations.ListSentinelRules.Input) async throws -> Operations.ListSentinelRules.Output { throw Self.servedByFastRoute }
    func getSentinelRule(_ input: Operations.GetSentinelRule.Input) async throws -> Operations.GetSentinelRule.Output { throw Self.servedByFastRoute }
    func putSentinelRule(_ input: Operations.PutSentinelRule.Input) async throws -> Operations.PutSentinelRule.Output { throw Self.servedByFastRoute }
    func deleteSentinelRule(_ input: Operations.DeleteSentinelRule.Input) async throws -> Operations.DeleteSentinelRule.Output { throw Self.servedByFastRoute }
    func postSentinelEvents(_ input: Operations.PostSentinelEvents.Input) async throws -> Operations.PostSentinelEvents.Output { throw Self.servedByFastRoute }
    func startSentinelSource(_ input: Operations.StartSentinelSource.Input) async throws -> Operations.StartSentinelSource.Output { throw Self.servedByFastRoute }
    func listSentinelSources(_ input: Operations.ListSentinelSources.Input) async throws -> Operations.ListSentinelSources.Output { throw Self.servedByFastRoute }
    func stopSentinelSource(_ input: Operations.StopSentinelSource.Input) async throws -> Operations.StopSentinelSource.Output { throw Self.servedByFastRoute }
    func listSentinelAlerts(_ input: Operations.ListSentinelAlerts.Input) async throws -> Operations.ListSentinelAlerts.Output { throw Self.servedByFastRoute }
    func getSentinelAlert(_ input: Operations.GetSentinelAlert.Input) async throws -> Operations.GetSentinelAlert.Output { throw Self.servedByFastRoute }
    func postSentinelAlertFeedback(_ input: Operations.PostSentinelAlertFeedback.Input) async throws -> Operations.PostSentinelAlertFeedback.Output { throw Self.servedByFastRoute }
    func listSentinelIncidents(_ input: Operations.ListSentinelIncidents.Input) async throws -> Operations.ListSentinelIncidents.Output { throw Self.servedByFastRoute }
    func getSentinelIncident(_ input: Operations.GetSentinelIncident.Input) async throws -> Operations.GetSentinelIncident.Output { throw Self.servedByFastRoute }
    func patchSentinelIncident(_ input: Operations.PatchSentinelIncident.Input) async throws -> Operations.PatchSentinelIncident.Output { throw Self.servedByFastRoute }
    func getSentinelIncidentReport(_ input: Operations.GetSentinelIncidentReport.Input) async throws -> Operations.GetSentinelIncidentReport.Output { throw Self.servedByFastRoute }
    func uploadSentinelCapture(_ input: Operations.UploadSentinelCapture.Input) async throws -> Operations.UploadSentinelCapture.Output { throw Self.servedByFastRoute }
    func listSentinelCaptures(_ input: Operations.ListSentinelCaptures.Input) async throws -> Operations.ListSentinelCaptures.Output { throw Self.servedByFastRoute }
    func getSentinelCapture(_ input: Operations.GetSentinelCapture.Input) async throws -> Operations.GetSentinelCapture.Output { throw Self.servedByFastRoute }
    func getSentinelCaptureFlows(_ input: Operations.GetSentinelCaptureFlows.Input) async throws -> Operations.GetSentinelCaptureFlows.Output { throw Self.servedByFastRoute }
    func listSentinelFlows(_ input: Operations.ListSentinelFlows.Input) async throws -> Operations.ListSentinelFlows.Output { throw Self.servedByFastRoute }
    func createSentinelDataset(_ input: Operations.CreateSentinelDataset.Input) async throws -> Operations.CreateSentinelDataset.Output { throw Self.servedByFastRoute }
}
