import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Logging
import NeuroplexAPI
import NeuroplexCore
import NeuroplexMemory
import NeuroplexSentinel
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Sentinel captures over HTTP: upload, analysis job, flows, model scoring", .timeLimit(.minutes(3)))
struct SentinelCaptureAPITests {
    func upload(_ client: some TestClientProtocol, _ bytes: [UInt8], key: String, query: String = "", type: String = "application/vnd.tcpdump.pcap") async throws -> TestResponse {
        try await client.execute(
            uri: "/sentinel/captures\(query)", method: .post, headers: [.authorization: "Bearer \(key)", .contentType: type],
            body: ByteBuffer(bytes: bytes))
    }

    /// Polls the capture until its analysis ends (or a minute passes).
    func finished(_ client: some TestClientProtocol, _ id: String, key: String) async throws -> [String: Any] {
        var capture: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            capture = try await client.send(.get, "/sentinel/captures/\(id)", key: key).json
            if ["succeeded", "failed"].contains(capture["status"] as? String ?? "") { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return capture
    }

    /// The rows of the capture's flows, following cursors page by page.
    func flowRows(_ client: some TestClientProtocol, _ id: String, key: String) async throws -> [Int] {
        var rows: [Int] = []
        var cursor: String?
        repeat {
            let page = try await client.send(
                .get, "/sentinel/flows?captureId=\(id)&limit=64" + (cursor.map { "&cursor=\($0)" } ?? ""), key: key)
            guard page.status == .ok else { return rows }
            rows += (page.json["data"] as? [[String: Any]] ?? []).compactMap { $0["row"] as? Int }
            cursor = page.json["nextCursor"] as? String
        } while cursor != nil && rows.count < 1000
        return rows
    }

    @Test("a capture is analysed as a job: counts, CICFlowMeter CSV, paged flows, rule alerts; bad uploads are problems")
    func captureAnalysis() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let bytes = CaptureBuilder.scenario().pcap()
        let captureID: String
        let admin: String
        do {
            let app = try await buildApplication(configuration, logger: quietLogger)
            admin = try adminKey(configuration)
            captureID = try await app.test(.live) { client in
                let accepted = try await upload(client, bytes, key: admin, query: "?name=scan")
                #expect(accepted.status == .accepted, "\(accepted.text)")
                #expect(accepted.json["jobId"] is String && accepted.headers[.location] != nil)
                let id = try #require(accepted.json["id"] as? String)
                let capture = try await finished(client, id, key: admin)
                #expect(capture["status"] as? String == "succeeded", "\(capture)")
                #expect(capture["packets"] as? Int == 580 && capture["flows"] as? Int == 220 && capture["name"] as? String == "scan")
                #expect(capture["damaged"] == nil && (capture["alerts"] as? Int ?? 0) >= 1)
                #expect((capture["progress"] as? [String: Any])?["current"] as? Int == bytes.count)

                let csv = try await client.send(.get, "/sentinel/captures/\(id)/flows.csv", key: admin)
                #expect(csv.headers[.contentType]?.hasPrefix("text/csv") == true)
                let lines = csv.text.split(separator: "\n")
                #expect(lines.count == 221 && lines[0].hasPrefix("Flow ID,Src IP,Src Port,Dst IP,Dst Port,Protocol,Timestamp,Flow Duration"))

                // Every flow once, page by page.
                let rows = try await flowRows(client, id, key: admin)
                #expect(rows == Array(1...220))
                let first = try await client.send(.get, "/sentinel/flows?captureId=\(id)&limit=1", key: admin)
                let flow = try #require((first.json["data"] as? [[String: Any]])?.first)
                #expect((flow["features"] as? [String: Any])?["Tot Fwd Pkts"] as? Int == 5 && flow["sourcePort"] as? Int == 40000)

                let alerts = try await client.send(.get, "/sentinel/alerts", key: admin).json["data"] as? [[String: Any]] ?? []
                let scan = alerts.compactMap { $0["alert"] as? [String: Any] }.first { $0["technique"] as? String == "T1046" }
                #expect(scan?["source"] as? String == "198.18.2.66")
                let evidence = (scan?["evidence"] as? [String: Any])?["flowIds"] as? [String] ?? []
                #expect(evidence.first?.hasPrefix("\(id):") == true)

                // A cut capture is read up to the damage, and says where.
                let cut = try await upload(client, Array(bytes.prefix(bytes.count - 700)), key: admin)
                let damaged = try await finished(client, try #require(cut.json["id"] as? String), key: admin)
                let damage = damaged["damaged"] as? [String: Any]
                #expect(damaged["status"] as? String == "succeeded" && (damage?["offset"] as? Int ?? 0) > bytes.count - 1800)

                expectProblem(try await upload(client, Array("not a capture at all".utf8), key: admin), .badRequest, code: "invalid_capture")
                expectProblem(try await upload(client, [], key: admin), .badRequest, code: "invalid_capture")
                expectProblem(try await upload(client, bytes, key: admin, type: "text/csv"), .unsupportedMediaType, code: "unsupported_media_type")
                expectProblem(try await upload(client, bytes, key: admin, query: "?model=nope"), .notFound, code: "not_found")
                expectProblem(try await client.send(.get, "/sentinel/captures/cap_nope", key: admin), .notFound, code: "not_found")
                expectProblem(try await client.send(.get, "/sentinel/flows", key: admin), .badRequest, code: "validation_failed")
                expectProblem(
                    try await client.send(.get, "/sentinel/flows?captureId=\(id)&cursor=garbage", key: admin), .unprocessableContent,
                    code: "validation_failed")
                let listed = try await client.send(.get, "/sentinel/captures", key: admin).json["data"] as? [[String: Any]]
                #expect(listed?.count == 2)
                return id
            }
        }
        // After a restart the analysis is still there.
        let app = try await buildApplication(configuration, logger: quietLogger)
        try await app.test(.router) { client in
            let capture = try await client.send(.get, "/sentinel/captures/\(captureID)", key: admin).json
            #expect(capture["status"] as? String == "succeeded" && capture["flows"] as? Int == 220)
            #expect(try await client.send(.get, "/sentinel/captures/\(captureID)/flows.csv", key: admin).text.split(separator: "\n").count == 221)
        }
    }

    @Test("labelled flows become a dataset; a model trained on it scores an upload's flows into alerts with its insights")
    func modelScoring() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let bytes = CaptureBuilder.scenario().pcap()
            let id = try #require(try await upload(client, bytes, key: admin).json["id"] as? String)
            #expect(try await finished(client, id, key: admin)["status"] as? String == "succeeded")
            // The scan's probes (t0 + 3.002 … 3.4) are `portscan`; every other flow is benign.
            let manifest = #"[{"start":1700000002.9,"end":1700000003.5,"attacker":"198.18.2.66","victim":"198.18.1.1","label":"portscan"}]"#
            let made = try await client.send(
                .post, "/sentinel/datasets", key: admin, json: #"{"name":"scan flows","captureIds":["\#(id)"],"manifest":\#(manifest)}"#)
            #expect(made.status == .created, "\(made.text)")
            #expect(made.json["labels"] as? [String: Int] == ["portscan": 200, "benign": 20] && made.json["rows"] as? Int == 220)
            let datasetId = try #require(made.json["datasetId"] as? String)
            expectProblem(
                try await client.send(.post, "/sentinel/datasets", key: admin, json: #"{"captureIds":["cap_nope"]}"#), .notFound, code: "not_found")
            expectProblem(
                try await client.send(
                    .post, "/sentinel/datasets", key: admin,
                    json: #"{"captureIds":["\#(id)"],"manifest":[{"start":2,"end":1,"attacker":"x","victim":"y","label":"a"}]}"#),
                .unprocessableContent, code: "validation_failed")

            let model = try await client.send(
                .post, "/ml/models", key: admin,
                json: #"{"name":"flows","task":"classification","algorithm":"xgboost","hyperparameters":{"n_estimators":10}}"#)
            let modelId = try #require(model.json["id"] as? String)
            let job = try #require(try await client.send(
                .post, "/ml/models/\(modelId)/train", key: admin, json: #"{"datasetId":"\#(datasetId)"}"#).json["jobId"] as? String)
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                let status = try await client.send(.get, "/ml/jobs/\(job)", key: admin).json["status"] as? String ?? ""
                if ["succeeded", "failed"].contains(status) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            expectProblem(try await upload(client, bytes, key: admin, query: "?model=flows"), .conflict, code: "not_deployed")
            #expect(try await client.send(.post, "/ml/models/\(modelId)/deploy", key: admin).status == .ok)

            let scored = try #require(try await upload(client, bytes, key: admin, query: "?model=flows").json["id"] as? String)
            let capture = try await finished(client, scored, key: admin)
            #expect(capture["status"] as? String == "succeeded", "\(capture)")
            #expect(capture["model"] as? String == "flows" && capture["modelVersion"] as? Int == 1)
            #expect(capture["flowsScoredAsAttack"] as? Int == 200)
            let alerts = try await client.send(.get, "/sentinel/alerts", key: admin).json["data"] as? [[String: Any]] ?? []
            let byModel = alerts.compactMap { $0["alert"] as? [String: Any] }.filter {
                ($0["evidence"] as? [String: Any])?["model"] as? String == "flows"
            }
            #expect(byModel.count == 1)
            let alert = try #require(byModel.first)
            let evidence = alert["evidence"] as? [String: Any] ?? [:]
            #expect(alert["technique"] as? String == "T1046" && alert["source"] as? String == "198.18.2.66" && alert["count"] as? Int == 200)
            #expect(evidence["modelVersion"] as? Int == 1 && (evidence["score"] as? Double ?? 0) > 0.5)
            #expect((evidence["topFeatures"] as? [[String: Any]])?.isEmpty == false)
            #expect(!alerts.contains { ($0["alert"] as? [String: Any])?["source"] as? String == "198.18.0.10" })
            #expect(evidence["predicted"] as? String == "portscan")

            // An analyst's verdict reaches the model's live accuracy: a false positive means the flows were benign.
            let alertID = try #require(alert["id"] as? String)
            let verdict = try await client.send(.post, "/sentinel/alerts/\(alertID)/feedback", key: admin, json: #"{"verdict":"false_positive"}"#)
            #expect(verdict.status == .ok, "\(verdict.text)")
            let metrics = try await client.send(.get, "/ml/metrics?model=flows", key: admin)
            #expect(metrics.text.contains(#""feedback":{"accuracy":0"#) && metrics.text.contains(#""count":1"#), "\(metrics.text)")
        }
    }

    @Test("alerts and incidents are announced on the platform's channels sentinel.alerts and sentinel.incidents")
    func announced() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let platform = try await Platform.open(configuration, logger: quietLogger)
        let (_, messages) = platform.memory.events.subscribe(patterns: [GlobPattern("sentinel.*")])
        let lines = (0..<6).map {
            "<38>1 2026-11-24T01:00:0\($0)Z victim sshd 812 - - Failed password for root from 198.18.2.99 port 4012\($0) ssh2"
        }
        let result = try await platform.sentinel.ingest(events: lines.joined(separator: "\n"))
        #expect(result.alerts.count == 1)
        var received: [ChannelMessage] = []
        for try await message in messages {
            received.append(message)
            if received.count == 2 { break }
        }
        #expect(received.map(\.channel) == ["sentinel.alerts", "sentinel.incidents"])
        #expect(received.first?.data["alert"]?["source"] == .string("198.18.2.99"))
        #expect(received.last?.data["attacker"] == .string("198.18.2.99"))
        await platform.close(logger: quietLogger)
    }
}
