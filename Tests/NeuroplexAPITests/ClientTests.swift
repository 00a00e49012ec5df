import Foundation
import Hummingbird
import HummingbirdTesting
import NeuroplexAPI
import NeuroplexClient
import NeuroplexStorage
import NeuroplexTestSupport
import Testing

@Suite("Swift SDK against a live server", .timeLimit(.minutes(3)))
struct ClientTests {
    @Test("NeuroplexClient creates, lists, reads and revokes keys, and surfaces problem codes")
    func sdkRoundTrip() async throws {
        let configuration = try await testConfiguration(.sqlite)
        let app = try await buildApplication(configuration, logger: quietLogger)
        let admin = try adminKey(configuration)
        try await app.test(.live) { client in
            let base = URL(string: "http://127.0.0.1:\(client.port!)")!
            let sdk = NeuroplexClient(baseURL: base, apiKey: admin)
            #expect(try await sdk.health().status == "healthy")
            #expect(try await sdk.readiness().checks.map(\.name).contains("database"))

            let expiry = Date().addingTimeInterval(3600)
            let created = try await sdk.createKey(
                name: "sdk", scopes: ["memory:write"], expiresAt: expiry,
                rateLimit: RateLimit(limit: 10, windowSeconds: 1))
            #expect(created.key.hasPrefix("nplx_"))
            #expect(abs((created.info.expiresAt ?? .distantPast).timeIntervalSince(expiry)) < 0.01)
            #expect(try await sdk.getKey(id: created.info.id) == created.info)

            let firstPage = try await sdk.listKeys(limit: 1)
            #expect(firstPage.keys.count == 1 && firstPage.nextCursor != nil)
            let secondPage = try await sdk.listKeys(limit: 1, cursor: firstPage.nextCursor)
            #expect(secondPage.keys.map(\.id) == [created.info.id])

            let writer = NeuroplexClient(baseURL: base, apiKey: created.key)
            do {
                _ = try await writer.listKeys()
                Issue.record("a memory:write key listed keys")
            } catch let error as NeuroplexClientError {
                #expect(error.status == 403 && error.code == "insufficient_scope")
            }
            try await sdk.revokeKey(id: created.info.id)
            do {
                _ = try await writer.listKeys()
                Issue.record("a revoked key was accepted")
            } catch let error as NeuroplexClientError {
                #expect(error.status == 401 && error.code == "revoked_api_key" && error.requestID != nil)
            }
        }
    }
}
