import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Memory over HTTP", .timeLimit(.minutes(3)))
struct MemoryAPITests {
    @Test("key-value: write, read, conditions, counters, CAS, batches, scan, scopes")
    func keyValue() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let put = try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":{"name":"Alice","age":30}}"#)
            #expect(put.status == .ok)
            let version = try #require(put.json["version"] as? Int)
            let got = try await client.send(.get, "/memory/kv/user:1", key: admin)
            #expect((got.json["value"] as? [String: Any])?["age"] as? Int == 30 && got.json["version"] as? Int == version)
            #expect(try await client.send(.head, "/memory/kv/user:1", key: admin).status == .ok)
            #expect(try await client.send(.head, "/memory/kv/nope", key: admin).status == .notFound)
            expectProblem(try await client.send(.get, "/memory/kv/nope", key: admin), .notFound, code: "not_found")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":1,"ifVersion":\#(version + 100)}"#),
                .preconditionFailed, code: "precondition_failed")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":1,"ifAbsent":true}"#),
                .preconditionFailed, code: "precondition_failed")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"ttl":5}"#), .badRequest,
                code: "validation_failed")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":1,"ttl":-1}"#),
                .unprocessableContent, code: "validation_failed")
            #expect((try await client.send(.get, "/memory/kv/user:1", key: admin).json["value"] as? [String: Any])?["name"] as? String == "Alice")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":"#), .badRequest,
                code: "invalid_json")
            expectProblem(
                try await client.send(
                    .put, "/memory/kv/user:1", key: admin, json: "value=1", headers: [.contentType: "text/plain"]),
                .unsupportedMediaType, code: "unsupported_media_type")
            expectProblem(
                try await client.send(.put, "/memory/kv/user:1", key: admin, json: #"{"value":1,"ifVersion":"7"}"#),
                .badRequest, code: "validation_failed")
            expectProblem(
                try await client.send(.get, "/memory/kv/user:1", key: admin, headers: [.accept: "text/html"]),
                .notAcceptable, code: "not_acceptable")
            // The fast routes decode the key as the generated ones do: one key, however it is spelled.
            _ = try await client.send(.put, "/memory/kv/space%20key%2Fx", key: admin, json: #"{"value":7}"#)
            #expect(try await client.send(.get, "/memory/kv/space%20key%2Fx", key: admin).json["key"] as? String == "space key/x")
            #expect(try await client.send(.delete, "/memory/kv/space%20key%2Fx", key: admin).json["deleted"] as? Bool == true)
            // GET /memory/kv/{key} is a fast route; it must say what the generated scan says of the same entry.
            let single = try await client.send(.get, "/memory/kv/user:1", key: admin)
            let scanned = try await client.send(.get, "/memory/scan?pattern=user:1", key: admin)
            let fromScan = (scanned.json["entries"] as? [[String: Any]])?.first ?? [:]
            #expect(NSDictionary(dictionary: single.json) == NSDictionary(dictionary: fromScan))

            _ = try await client.send(.put, "/memory/kv/visits", key: admin, json: #"{"value":10}"#)
            #expect(try await client.send(.post, "/memory/kv/visits/increment", key: admin, json: #"{"delta":5}"#).json["value"] as? Int == 15)
            #expect(try await client.send(.post, "/memory/kv/visits/decrement", key: admin).json["value"] as? Int == 14)
            expectProblem(
                try await client.send(.post, "/memory/kv/user:1/increment", key: admin, json: #"{"delta":1}"#), .conflict,
                code: "wrong_type")
            #expect(try await client.send(.post, "/memory/kv/visits/cas", key: admin, json: #"{"expected":14,"value":1}"#).json["swapped"] as? Bool == true)
            #expect(try await client.send(.post, "/memory/kv/visits/cas", key: admin, json: #"{"expected":14,"value":2}"#).json["swapped"] as? Bool == false)

            #expect(try await client.send(.post, "/memory/batch/set", key: admin, json: #"{"entries":{"b:1":1,"b:2":[2],"b:3":"3"}}"#).status == .ok)
            let many = try await client.send(.post, "/memory/batch/get", key: admin, json: #"{"keys":["b:1","b:2","b:9"]}"#)
            #expect((many.json["entries"] as? [String: Any])?.keys.sorted() == ["b:1", "b:2"])
            let first = try await client.send(.get, "/memory/scan?pattern=b:*&limit=2", key: admin)
            let cursor = try #require(first.json["nextCursor"] as? String)
            let second = try await client.send(.get, "/memory/scan?pattern=b:*&limit=2&cursor=\(cursor)", key: admin)
            let keys = ((first.json["entries"] as? [[String: Any]] ?? []) + (second.json["entries"] as? [[String: Any]] ?? []))
                .compactMap { $0["key"] as? String }
            #expect(keys == ["b:1", "b:2", "b:3"])
            let deleted = try await client.send(.post, "/memory/batch/delete", key: admin, json: #"{"keys":["b:1","b:9"]}"#)
            #expect(deleted.json["results"] as? [String: Bool] == ["b:1": true, "b:9": false])

            let stats = try await client.send(.get, "/memory/stats", key: admin)
            #expect(stats.json["keys"] as? Int == 4)  // user:1, visits, b:2, b:3
            let operations = stats.json["operations"] as? [[String: Any]] ?? []
            let sets = operations.first { $0["operation"] as? String == "set" }
            #expect((sets?["count"] as? Int ?? 0) >= 5 && (sets?["errors"] as? Int ?? 0) >= 2)  // the two 412s
            #expect((sets?["p99Ms"] as? Double ?? 0) > 0)

            let levels = try await client.send(
                .put, "/memory/consistency", key: admin, json: #"{"defaultLevel":"causal","keyLevels":{"session:*":"eventual"}}"#)
            #expect(levels.json["defaultLevel"] as? String == "causal" && (levels.json["token"] as? String)?.hasPrefix("c1:") == true)
            expectProblem(
                try await client.send(.put, "/memory/consistency", key: admin, json: #"{"keyLevels":{"k":"psychic"}}"#),
                .unprocessableContent, code: "validation_failed")
            #expect((try await client.send(.get, "/memory/conflicts", key: admin).json["conflicts"] as? [Any])?.isEmpty == true)

            // Scopes: a read-only key reads but cannot write.
            let created = try await client.send(.post, "/keys", key: admin, json: #"{"name":"reader","scopes":["memory:read"]}"#)
            let reader = try #require(created.json["key"] as? String)
            #expect(try await client.send(.get, "/memory/kv/visits", key: reader).status == .ok)
            expectProblem(
                try await client.send(.put, "/memory/kv/visits", key: reader, json: #"{"value":0}"#), .forbidden,
                code: "insufficient_scope")
            // Testing set membership is a read; changing the set is not.
            _ = try await client.send(.post, "/memory/sets/tags", key: admin, json: #"{"initial":["ai"]}"#)
            let contains = try await client.send(.post, "/memory/sets/tags/contains", key: reader, json: #"{"element":"ai"}"#)
            #expect(contains.status == .ok && contains.json["contains"] as? Bool == true)
            expectProblem(
                try await client.send(.post, "/memory/sets/tags/add", key: reader, json: #"{"element":"x"}"#), .forbidden,
                code: "insufficient_scope")
        }
    }

    @Test("batches report each operation; serializable transactions conflict; atomic transactions are all or nothing")
    func batchesAndTransactions() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            _ = try await client.send(.put, "/memory/kv/name", key: admin, json: #"{"value":"x"}"#)
            let batch = try await client.send(
                .post, "/memory/batch", key: admin,
                json: #"{"operations":[{"op":"set","key":"a","value":100},{"op":"increment","key":"a","delta":5},{"op":"increment","key":"name"},{"op":"get","key":"a"}],"continueOnError":true}"#)
            #expect(batch.json["totalOperations"] as? Int == 4 && batch.json["failedOperations"] as? Int == 1)
            #expect((batch.json["results"] as? [Any])?[3] as? Int == 105)
            #expect(((batch.json["errors"] as? [[String: Any]])?.first)?["code"] as? String == "wrong_type")
            expectProblem(
                try await client.send(.post, "/memory/batch", key: admin, json: #"{"operations":[{"op":"fly","key":"a"}]}"#),
                .badRequest, code: "validation_failed")

            let t1 = try #require(try await client.send(.post, "/memory/transactions", key: admin, json: #"{"isolation":"serializable"}"#).json["id"] as? String)
            let t2 = try #require(try await client.send(.post, "/memory/transactions", key: admin, json: #"{"isolation":"serializable"}"#).json["id"] as? String)
            #expect(try await client.send(.get, "/memory/transactions/\(t1)/kv/a", key: admin).json["value"] as? Int == 105)
            _ = try await client.send(.get, "/memory/transactions/\(t2)/kv/a", key: admin)
            #expect(try await client.send(.put, "/memory/transactions/\(t1)/kv/a", key: admin, json: #"{"value":75}"#).status == .noContent)
            _ = try await client.send(.put, "/memory/transactions/\(t2)/kv/a", key: admin, json: #"{"value":55}"#)
            #expect(try await client.send(.post, "/memory/transactions/\(t1)/commit", key: admin).status == .ok)
            expectProblem(
                try await client.send(.post, "/memory/transactions/\(t2)/commit", key: admin), .conflict,
                code: "transaction_conflict")
            expectProblem(
                try await client.send(.post, "/memory/transactions/\(t2)/rollback", key: admin), .notFound,
                code: "transaction_not_found")
            #expect(try await client.send(.get, "/memory/kv/a", key: admin).json["value"] as? Int == 75)

            let refused = try await client.send(
                .post, "/memory/transactions/atomic", key: admin,
                json: #"{"conditions":[{"key":"a","value":1}],"operations":[{"op":"set","key":"a","value":0}]}"#)
            #expect(refused.json["succeeded"] as? Bool == false)
            let applied = try await client.send(
                .post, "/memory/transactions/atomic", key: admin,
                json: #"{"conditions":[{"key":"a","value":75},{"key":"b","exists":false}],"operations":[{"op":"decrement","key":"a","delta":25},{"op":"set","key":"b","value":25}]}"#)
            #expect(applied.json["succeeded"] as? Bool == true)
            #expect(try await client.send(.get, "/memory/kv/a", key: admin).json["value"] as? Int == 50)
        }
    }

    @Test("bulk insert/update/delete report counts; migrate copies and moves a prefix; bad requests change nothing")
    func bulkAndMigrate() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.router) { client in
            let inserted = try await client.send(
                .post, "/memory/bulk/insert", key: admin, json: #"{"entries":{"cfg:a":1,"cfg:b":{"on":true}},"ttl":60}"#)
            #expect(inserted.status == .ok && inserted.json["inserted"] as? Int == 2 && inserted.json["success"] as? Bool == true)
            let updated = try await client.send(
                .post, "/memory/bulk/update", key: admin, json: #"{"entries":{"cfg:a":2,"cfg:zz":3}}"#)
            #expect(updated.json["updated"] as? Int == 1 && updated.json["success"] as? Bool == false)
            #expect((updated.json["errors"] as? [[String: Any]])?.first?["code"] as? String == "not_found")
            expectProblem(
                try await client.send(.post, "/memory/bulk/insert", key: admin, json: #"{"entries":{"cfg:c":1,"":2}}"#),
                .unprocessableContent, code: "validation_failed")
            #expect(try await client.send(.head, "/memory/kv/cfg:c", key: admin).status == .notFound)
            expectProblem(
                try await client.send(.post, "/memory/bulk/delete", key: admin, json: #"{"entries":{}}"#),
                .unprocessableContent, code: "validation_failed")
            expectProblem(
                try await client.send(.post, "/memory/bulk/upsert", key: admin, json: #"{"keys":[]}"#),
                .badRequest, code: "validation_failed")

            let copied = try await client.send(
                .post, "/memory/migrate", key: admin, json: #"{"source":"cfg:","target":"settings:"}"#)
            #expect(copied.status == .ok && copied.json["migrated"] as? Int == 2 && copied.json["removed"] as? Int == 0)
            #expect(try await client.send(.get, "/memory/kv/settings:a", key: admin).json["value"] as? Int == 2)
            let moved = try await client.send(
                .post, "/memory/migrate", key: admin, json: #"{"source":"cfg:","target":"old:","mode":"move"}"#)
            #expect(moved.json["removed"] as? Int == 2)
            #expect(try await client.send(.head, "/memory/kv/cfg:a", key: admin).status == .notFound)
            expectProblem(
                try await client.send(.post, "/memory/migrate", key: admin, json: #"{"source":"old:","target":"old:x:"}"#),
                .unprocessableContent, code: "validation_failed")
            let deleted = try await client.send(
                .post, "/memory/bulk/delete", key: admin, json: #"{"keys":["old:a","old:b","nope"]}"#)
            #expect(deleted.json["deleted"] as? Int == 2 && deleted.json["processed"] as? Int == 3)
            // An empty body is no body: an action whose body is optional runs with its defaults.
            _ = try await client.send(.post, "/memory/counters/hits", key: admin, json: #"{"initial":5}"#)
            let reset = try await client.send(.post, "/memory/counters/hits/reset", key: admin, json: "")
            #expect(reset.status == .ok && reset.json["value"] as? Int == 0)
        }
    }

    @Test("writes answer with a causal token; a read carrying a later one waits for that change; a bad one is 400")
    func causalTokens() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        let header = HTTPField.Name("Neuroplex-Causal-Token")!
        try await app.test(.router) { client in
            let put = try await client.send(.put, "/memory/kv/a", key: admin, json: #"{"value":1}"#)
            let token = try #require(put.headers[header])
            #expect(token == "c1:\(try #require(put.json["version"] as? Int))")
            let read = try await client.send(.get, "/memory/kv/a", key: admin, headers: [header: token])
            #expect(read.status == .ok && read.headers[header] == token)
            #expect(try await client.send(.get, "/memory/kv/a", key: admin).headers[header] == nil)
            expectProblem(
                try await client.send(.get, "/memory/kv/a", key: admin, headers: [header: "yesterday"]),
                .badRequest, code: "validation_failed")
            let position = Int(token.dropFirst(3))!
            async let waited = client.send(.get, "/memory/kv/a", key: admin, headers: [header: "c1:\(position + 1)"])
            _ = try await client.send(.put, "/memory/kv/a", key: admin, json: #"{"value":2}"#)
            #expect(try await waited.json["value"] as? Int == 2)
        }
    }

    @Test("acknowledged memory writes are there after a restart on the same data directory")
    func restart() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let admin: String
        do {
            let app = try await buildApplication(configuration, logger: quietLogger)
            admin = try adminKey(configuration)
            try await app.test(.router) { client in
                for index in 0..<20 {
                    _ = try await client.send(.put, "/memory/kv/k\(index)", key: admin, json: #"{"value":\#(index)}"#)
                }
            }
        }
        let app = try await buildApplication(configuration, logger: quietLogger)
        try await app.test(.router) { client in
            let read = try await client.send(.get, "/memory/kv/k19", key: admin)
            #expect(read.json["value"] as? Int == 19)
        }
    }
}
