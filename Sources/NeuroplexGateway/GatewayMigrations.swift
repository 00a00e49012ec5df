public import NeuroplexStorage
import SQLKit

/// The gateway's schema, in order. Ids are never reused or edited once released.
public enum GatewayMigrations {
    public static let all: [Migration] = [
        Migration("gateway-0001-api-keys") { sql in
            try await sql.create(table: "api_keys")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull)
                .column("prefix", type: .text, .notNull)
                .column("secret_hash", type: .text, .notNull, .unique)
                .column("scopes", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .column("expires_at", type: .text)
                .column("revoked_at", type: .text)
                .column("rate_limit", type: .bigint)
                .column("rate_window_seconds", type: .bigint)
                .run()
        },
    ]
}
