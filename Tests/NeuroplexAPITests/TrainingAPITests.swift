import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Models, training jobs and validation over HTTP")
struct TrainingAPITests {
    @Test("register, train as a job, read the version and its artifact, validate; errors are problems")
    func lifecycle() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let dataset = try await client.send(
                .post, "/ml/datasets/upload?name=traffic&label=label", key: admin, body: trafficCSV(rows: 800),
                contentType: "text/csv"
            ).json
            let datasetId = try #require(dataset["id"] as? String)

            let bogus = try await client.send(
                .post, "/ml/models", key: admin,
                json: #"{"name":"m","task":"classification","algorithm":"xgboost","hyperparameters":{"bogus_param":1}}"#)
            expectProblem(bogus, .badRequest, code: "invalid_hyperparameter")
            #expect(bogus.text.contains("bogus_param"))
            expectProblem(
                try await client.send(
                    .post, "/ml/models", key: admin, json: #"{"name":"lr","task":"classification","algorithm":"svm"}"#),
                .badRequest, code: "unsupported_algorithm")

            let created = try await client.send(
                .post, "/ml/models", key: admin,
                json: #"{"name":"gbdt","task":"classification","algorithm":"xgboost","hyperparameters":{"n_estimators":20}}"#)
            #expect(created.status == .created, "\(created.text)")
            let modelId = try #require(created.json["id"] as? String)
            expectProblem(
                try await client.send(.post, "/ml/models", key: admin, json: #"{"name":"gbdt","task":"classification","algorithm":"xgboost"}"#),
                .conflict, code: "name_taken")

            let accepted = try await client.send(
                .post, "/ml/models/\(modelId)/train", key: admin, json: #"{"datasetId":"\#(datasetId)"}"#)
            #expect(accepted.status == .accepted, "\(accepted.text)")
            let jobId = try #require(accepted.json["jobId"] as? String)
            let queued = try #require(accepted.json["job"] as? [String: Any])
            #expect(queued["status"] as? String == "queued" && queued["startedAt"] is NSNull && queued["error"] is NSNull)

            var job: [String: Any] = [:]
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                job = try await client.send(.get, "/ml/jobs/\(jobId)", key: admin).json
                if ["succeeded", "failed", "cancelled"].contains(job["status"] as? String ?? "") { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(job["status"] as? String == "succeeded", "\(job)")
            #expect((job["progress"] as? [String: Any])?["total"] as? Int == 20)
            let logs = try await client.send(.get, "/ml/jobs/\(jobId)/logs", key: admin)
            #expect(logs.status == .ok && logs.text.contains("round 20/20"))
            let followed = try await client.send(.get, "/ml/jobs/\(jobId)/logs?follow=true", key: admin)
            #expect(followed.headers[.contentType] == "text/event-stream" && followed.text.contains("event: end\ndata: succeeded"))

            let status = try await client.send(.get, "/ml/models/\(modelId)/status", key: admin).json
            #expect(status["status"] as? String == "trained" && status["latestVersion"] as? Int == 1)
            let versions = try await client.send(.get, "/ml/models/\(modelId)/versions", key: admin).json
            #expect((versions["data"] as? [[String: Any]])?.count == 1)
            let artifact = try await client.send(.get, "/ml/models/\(modelId)/versions/1/artifact", key: admin)
            #expect(artifact.status == .ok && artifact.text.contains("\"learner\""))

            let validation = try await client.send(.post, "/ml/models/\(modelId)/validate", key: admin, json: "{}")
            #expect(validation.status == .ok, "\(validation.text)")
            #expect((validation.json["accuracy"] as? Double ?? 0) >= 0.5)
            #expect(validation.json["confusionMatrix"] != nil && validation.json["rocAuc"] != nil)

            let deployed = try await client.send(.post, "/ml/models/\(modelId)/deploy", key: admin)
            #expect(deployed.status == .ok && deployed.json["primaryVersion"] as? Int == 1, "\(deployed.text)")
            expectProblem(try await client.send(.post, "/ml/jobs/\(jobId)/cancel", key: admin), .conflict, code: "job_finished")
            let jobs = try await client.send(.get, "/ml/jobs?status=succeeded&model=\(modelId)", key: admin).json
            #expect((jobs["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [jobId])
        }
    }
}
