public import NeuroplexStorage
import SQLKit

/// The ML engine's schema, in order. Ids are never reused or edited once released.
public enum MLMigrations {
    public static let all: [Migration] = [
        Migration("ml-0001-datasets") { sql in
            try await sql.create(table: "ml_datasets")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull)
                .column("label", type: .text)
                // The label, or "" for none: NULLs never collide in a unique constraint.
                .column("label_key", type: .text, .notNull)
                .column("format", type: .text, .notNull)
                .column("sha256", type: .text, .notNull)
                .column("size_bytes", type: .bigint, .notNull)
                .column("row_count", type: .bigint, .notNull)
                .column("columns", type: .text, .notNull)
                .column("statistics", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .unique("sha256", "label_key")
                .run()
        },
    ]
}
