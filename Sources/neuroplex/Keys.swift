import ArgumentParser
import Foundation
import Logging
import NeuroplexAPI
import NeuroplexCore
import NeuroplexGateway

/// Operator commands on the data directory's database: they work without a running server, so that an operator
/// who lost every admin key can make a new one.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke API keys directly in the data directory's database.",
        subcommands: [Create.self, List.self, Revoke.self])

    /// Opens the key store quietly (warnings only), runs `body`, and closes it.
    static func withKeyStore<T>(_ storage: StorageOptions, _ body: (KeyStore) async throws -> T) async throws -> T {
        var logger = Logger(label: "neuroplex")
        logger.logLevel = .warning
        let administration = try await KeyAdministration.open(try await storage.load(), logger: logger)
        do {
            let result = try await body(administration.keys)
            await administration.close()
            return result
        } catch {
            await administration.close()
            throw error
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print its secret (shown once).")

        @OptionGroup var storage: StorageOptions
        @Option(help: "A name to recognise the key by.") var name: String
        @Option(name: .customLong("scope"), help: "A scope to grant (repeat for several), e.g. admin, memory:read.")
        var scopes: [String] = []
        @Option(name: .customLong("expires-at"), help: "RFC 3339 expiry, e.g. 2027-01-01T00:00:00Z.")
        var expiresAt: String?
        @Option(name: .customLong("rate-limit"), help: "Requests allowed per --rate-window seconds.")
        var rateLimit: Int?
        @Option(name: .customLong("rate-window"), help: "The rate limit's window in seconds (default 60).")
        var rateWindow: Int = 60

        func run() async throws {
            try await reportingErrors {
                var expiry: Date?
                if let expiresAt {
                    guard let parsed = Timestamp.parse(expiresAt) else {
                        throw NeuroplexError.invalid("expiresAt", "--expires-at '\(expiresAt)' is not an RFC 3339 time")
                    }
                    expiry = parsed
                }
                let request = NewAPIKey(
                    name: name, scopes: scopes, expiresAt: expiry,
                    rateLimit: rateLimit.map { RateLimit(limit: $0, windowSeconds: rateWindow) })
                let (key, secret) = try await Keys.withKeyStore(storage) { try await $0.create(request) }
                FileHandle.standardError.write(
                    Data("created \(key.id) (\(key.scopes.map(\.rawValue).joined(separator: ","))); the key is shown only now:\n".utf8))
                print(secret.value)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var storage: StorageOptions

        func run() async throws {
            try await reportingErrors {
                let keys = try await Keys.withKeyStore(storage) { keys in
                    var all: [APIKey] = []
                    var cursor: String?
                    repeat {
                        let page = try await keys.list(PageRequest(limit: 1000, cursor: cursor))
                        all += page.items
                        cursor = page.nextCursor
                    } while cursor != nil
                    return all
                }
                for key in keys {
                    let state =
                        key.revokedAt != nil ? "revoked" : key.isExpired(at: Date()) ? "expired" : "active"
                    print(
                        [key.id, key.prefix, state, key.name, key.scopes.map(\.rawValue).joined(separator: ","),
                         Timestamp.string(key.createdAt)].joined(separator: "\t"))
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id.")
        @OptionGroup var storage: StorageOptions
        @Argument(help: "The key's id (key_...).") var id: String

        func run() async throws {
            try await reportingErrors {
                try await Keys.withKeyStore(storage) { try await $0.revoke(id: id) }
                print("revoked \(id)")
            }
        }
    }
}
