import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexML
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Models, training jobs and validation over HTTP", .timeLimit(.minutes(3)))
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
            // On an idle server the job starts as it is accepted; queued, it has not started.
            let state = queued["status"] as? String
            #expect(state == "running" || (state == "queued" && queued["startedAt"] is NSNull), "\(queued)")
            #expect(queued["error"] is NSNull)

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
            // XGBoost's UBJSON, named as such, which XGBoost itself reads back (the learner's load).
            #expect(artifact.status == .ok && artifact.headers[.contentType] == "application/ubjson")
            #expect(artifact.headers[.contentDisposition]?.hasSuffix(".ubj\"") == true)
            #expect(artifact.text.contains("learner") && (try? XGBoostLearner.load(Array(buffer: artifact.body))) != nil)

            let validation = try await client.send(.post, "/ml/models/\(modelId)/validate", key: admin, json: "{}")
            #expect(validation.status == .ok, "\(validation.text)")
            #expect((validation.json["accuracy"] as? Double ?? 0) >= 0.5)
            #expect(validation.json["confusionMatrix"] != nil && validation.json["rocAuc"] != nil)

            let deployed = try await client.send(.post, "/ml/models/\(modelId)/deploy", key: admin)
            #expect(deployed.status == .ok && deployed.json["primaryVersion"] as? Int == 1, "\(deployed.text)")
            let status2 = try await client.send(.get, "/ml/models/\(modelId)/status", key: admin).json
            #expect(status2["status"] as? String == "deployed" && status2["deployedVersion"] as? Int == 1)
            let predicted = try await client.send(
                .post, "/ml/predict", key: admin, json: #"{"model":"gbdt","instances":[{"f1":0.5,"proto":"tcp","blank":7}]}"#)
            let first = (predicted.json["predictions"] as? [[String: Any]])?.first
            #expect(predicted.status == .ok && first?["label"] is String && first?["id"] is String, "\(predicted.text)")
            let unknown = try await client.send(
                .post, "/ml/predict", key: admin, json: #"{"model":"gbdt","instances":[{"f1":0.5,"proto":"tcp","blank":7,"x":1}]}"#)
            expectProblem(unknown, .unprocessableContent, code: "unknown_feature")
            #expect(unknown.text.contains("'x'"))
            expectProblem(
                try await client.send(.post, "/ml/predict", key: admin, json: #"{"model":"nope","instances":[{}]}"#),
                .notFound, code: "not_found")
            expectProblem(
                try await client.send(.post, "/ml/predict", key: admin, json: #"{"instances":[{}]}"#), .badRequest,
                code: "validation_failed")
            expectProblem(
                try await client.send(.post, "/ml/feedback", key: admin, json: #"{"predictionId":"prd_x","actual":"attack"}"#),
                .notFound, code: "unknown_prediction")
            let feedback = try await client.send(
                .post, "/ml/feedback", key: admin, json: #"{"predictionId":"\#(first?["id"] as? String ?? "")","actual":"attack"}"#)
            #expect(feedback.status == .ok && feedback.json["actual"] as? String == "attack", "\(feedback.text)")
            let oip = try await client.send(
                .post, "/v2/models/nope/infer", key: admin, json: #"{"inputs":[{"name":"f1","shape":[1],"datatype":"FP64","data":[1]}]}"#)
            #expect(oip.status == .notFound && (oip.json["error"] as? String)?.contains("nope") == true, "\(oip.text)")
            let exported = try await client.send(.get, "/metrics").text
            #expect(exported.contains(#"neuroplex_ml_predictions_total{model="gbdt",version="1"} 1.0"#), "\(exported.suffix(2000))")
            #expect(exported.contains(#"neuroplex_ml_feedback_accuracy{model="gbdt",version="1"}"#))
            let live = try await client.send(.get, "/v2/health/live")
            #expect(live.status == .ok && live.json["live"] as? Bool == true)
            expectProblem(try await client.send(.post, "/ml/jobs/\(jobId)/cancel", key: admin), .conflict, code: "job_finished")
            let jobs = try await client.send(.get, "/ml/jobs?status=succeeded&model=\(modelId)", key: admin).json
            #expect((jobs["data"] as? [[String: Any]])?.map { $0["id"] as? String } == [jobId])
        }
    }
}
