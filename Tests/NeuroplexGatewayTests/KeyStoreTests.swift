import Foundation
import Logging
import NeuroplexCore
import NeuroplexGateway
import NeuroplexStorage
import NeuroplexTestSupport
import SQLKit
import Testing

@Suite("Key store", .timeLimit(.minutes(3)))
struct KeyStoreTests {
    struct Fixture {
        let database: Database
        let keys: KeyStore
        let clock: ManualWallClock
        let location: Database.Configuration
    }

    func open(_ engine: Database.Engine, logger: Logger = quietLogger) async throws -> Fixture {
        let location = try await makeDatabaseLocation(engine)
        let database = try await Database.open(location, logger: logger)
        try await database.migrate(GatewayMigrations.all, logger: logger)
        let clock = ManualWallClock()
        return Fixture(
            database: database, keys: try await KeyStore(database: database, clock: clock, logger: logger),
            clock: clock, location: location)
    }

    @Test("a created key authenticates; expired and revoked keys do not, with distinct codes", arguments: TestEngines.all)
    func lifecycle(engine: Database.Engine) async throws {
        let f = try await open(engine)
        let (key, secret) = try await f.keys.create(
            NewAPIKey(name: "svc", scopes: ["memory:read"], expiresAt: f.clock.now().addingTimeInterval(60)))
        #expect(try await f.keys.authenticate(secret.value).id == key.id)

        f.clock.advance(by: 61)
        let expired = await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(secret.value) }
        #expect(expired?.code == .expiredAPIKey && expired?.kind == .unauthenticated)

        let (other, otherSecret) = try await f.keys.create(NewAPIKey(name: "other", scopes: ["admin"]))
        try await f.keys.revoke(id: other.id)
        try await f.keys.revoke(id: other.id)  // idempotent
        let revoked = await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(otherSecret.value) }
        #expect(revoked?.code == .revokedAPIKey)

        // A key in use is remembered by its text (not parsed and hashed again for every request); a revocation
        // still refuses it at once, on the fast path's lookup as on the full one.
        let (busy, busySecret) = try await f.keys.create(NewAPIKey(name: "busy", scopes: ["memory:write"]))
        #expect(f.keys.unrestrictedCachedKey(busySecret.value)?.id == busy.id)
        #expect(f.keys.unrestrictedCachedKey(busySecret.value)?.id == busy.id)
        #expect(try await f.keys.authenticate(busySecret.value).id == busy.id)
        try await f.keys.revoke(id: busy.id)
        #expect(f.keys.unrestrictedCachedKey(busySecret.value) == nil)
        let busyRevoked = await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(busySecret.value) }
        #expect(busyRevoked?.code == .revokedAPIKey)

        let madeUp = APIKeySecret.generate().value
        let unknown = await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(madeUp) }
        #expect(unknown?.code == .invalidAPIKey)
        // Asked again, it is refused from memory instead of costing another query, until the next reload.
        let remembered = #expect(throws: NeuroplexError.self) { try f.keys.authenticateCached(madeUp) }
        #expect(remembered?.code == .invalidAPIKey)
        try await f.keys.reload()
        guard case .unknown = try f.keys.authenticateCached(madeUp) else {
            Issue.record("after a reload, an unknown key is looked up again")
            return
        }
        let missing = await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(nil) }
        #expect(missing?.code == .unauthenticated)
        await f.database.close()
    }

    @Test("revocation and expiry survive reopening the database", arguments: TestEngines.all)
    func durability(engine: Database.Engine) async throws {
        let f = try await open(engine)
        let (key, secret) = try await f.keys.create(NewAPIKey(name: "svc", scopes: ["admin"]))
        try await f.keys.revoke(id: key.id)
        await f.database.close()

        let database = try await Database.open(f.location, logger: quietLogger)
        let keys = try await KeyStore(database: database, clock: f.clock, logger: quietLogger)
        #expect(try await keys.get(id: key.id).revokedAt != nil)
        await #expect(throws: NeuroplexError.self) { try await keys.authenticate(secret.value) }
        await database.close()
    }

    @Test("a key created by another node is found on first use; a revocation there arrives on reload", arguments: TestEngines.all)
    func sharedDatabase(engine: Database.Engine) async throws {
        let f = try await open(engine)
        let second = try await Database.open(f.location, logger: quietLogger)
        let otherNode = try await KeyStore(database: second, clock: f.clock, logger: quietLogger)
        let (key, secret) = try await otherNode.create(NewAPIKey(name: "elsewhere", scopes: ["ml:read"]))
        #expect(try await f.keys.authenticate(secret.value).id == key.id)
        #expect(f.keys.unrestrictedCachedKey(secret.value)?.id == key.id)
        try await otherNode.revoke(id: key.id)
        try await f.keys.reload()
        await #expect(throws: NeuroplexError.self) { try await f.keys.authenticate(secret.value) }
        #expect(f.keys.unrestrictedCachedKey(secret.value) == nil)
        await second.close()
        await f.database.close()
    }

    @Test("invalid requests name the field and store nothing", arguments: TestEngines.all)
    func validation(engine: Database.Engine) async throws {
        let f = try await open(engine)
        let cases: [(NewAPIKey, String)] = [
            (NewAPIKey(name: "  ", scopes: ["admin"]), "name"),
            (NewAPIKey(name: String(repeating: "n", count: 201), scopes: ["admin"]), "name"),
            (NewAPIKey(name: "x", scopes: []), "scopes"),
            (NewAPIKey(name: "x", scopes: ["admin", "root"]), "scopes[1]"),
            (NewAPIKey(name: "x", scopes: ["admin"], expiresAt: f.clock.now().addingTimeInterval(-1)), "expiresAt"),
            (NewAPIKey(name: "x", scopes: ["admin"], rateLimit: .init(limit: 0, windowSeconds: 1)), "rateLimit.limit"),
            (NewAPIKey(name: "x", scopes: ["admin"], rateLimit: .init(limit: 1, windowSeconds: 0)),
             "rateLimit.windowSeconds"),
        ]
        for (request, field) in cases {
            let error = await #expect(throws: NeuroplexError.self) { try await f.keys.create(request) }
            #expect(error?.field == field)
            #expect(error?.code == .validationFailed)
        }
        #expect(try await f.keys.count() == 0)
        await f.database.close()
    }

    @Test("listing pages through every key, oldest first", arguments: TestEngines.all)
    func pagination(engine: Database.Engine) async throws {
        let f = try await open(engine)
        var created: [String] = []
        for index in 0..<7 {
            f.clock.advance(by: 1)
            created.append(try await f.keys.create(NewAPIKey(name: "k\(index)", scopes: ["admin"])).key.id)
        }
        var seen: [String] = []
        var cursor: String?
        var pages = 0
        repeat {
            let page = try await f.keys.list(PageRequest(limit: 3, cursor: cursor))
            seen += page.items.map(\.id)
            cursor = page.nextCursor
            pages += 1
        } while cursor != nil
        #expect(seen == created)
        #expect(pages == 3)
        await f.database.close()
    }

    @Test("the database holds hashes only, and the logs never hold a secret", arguments: TestEngines.all)
    func secretsStayOut(engine: Database.Engine) async throws {
        let capture = LogCapture()
        let f = try await open(engine, logger: capture.logger())
        let (_, secret) = try await f.keys.create(NewAPIKey(name: "svc", scopes: ["admin"]))
        _ = try await f.keys.authenticate(secret.value)
        let rows = try await f.database.sql.select().column("*").from("api_keys").all()
        for row in rows {
            let hash = try row.decode(column: "secret_hash", as: String.self)
            #expect(hash == secret.hash)
            for column in row.allColumns {
                let text = (try? row.decode(column: column, as: String.self)) ?? ""
                #expect(!text.contains(secret.value))
            }
        }
        #expect(!capture.all.isEmpty)
        #expect(capture.all.allSatisfy { !$0.contains(secret.value) })
        await f.database.close()
    }

    @Test("the first admin key is written 0600 once, and only to an empty key table")
    func adminBootstrap() async throws {
        let f = try await open(.sqlite)
        let path = makeTemporaryDirectory() + "/admin.key"
        #expect(try await f.keys.bootstrapAdminKey(writingTo: path, logger: quietLogger))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let secret = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await f.keys.authenticate(secret).scopes == [.admin])
        #expect(try await f.keys.bootstrapAdminKey(writingTo: path, logger: quietLogger) == false)
        await f.database.close()
    }
}
