import Foundation
public import Logging
import NeuroplexCore

extension KeyStore {
    /// On first start (no keys at all), creates an `admin` key and writes it to `path` with mode 0600.
    ///
    /// The key itself is never logged; the log line says where the file is.
    /// - Returns: `true` when a key was created.
    @discardableResult
    public func bootstrapAdminKey(writingTo path: String, logger: Logger) async throws -> Bool {
        guard try await count() == 0 else { return false }
        let (key, secret) = try await create(NewAPIKey(name: "admin", scopes: [Scope.admin.rawValue]))
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.removeItem(at: url)
        // Create the file private from its first byte, so the key is never readable by others.
        guard FileManager.default.createFile(
            atPath: path, contents: Data((secret.value + "\n").utf8), attributes: [.posixPermissions: 0o600])
        else {
            throw NeuroplexError(.internal, code: .internal, "cannot write the admin key file at \(path)")
        }
        logger.notice(
            "created the first admin API key; it is in the admin key file",
            metadata: ["key.id": "\(key.id)", "key.file": "\(path)"])
        return true
    }
}
