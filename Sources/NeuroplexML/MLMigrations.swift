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
        Migration("ml-0002-training") { sql in
            try await sql.create(table: "ml_models")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("name", type: .text, .notNull, .unique)
                // The model as JSON (task, algorithm, label, hyperparameters, preprocessing, ...).
                .column("document", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .run()
            try await sql.create(table: "ml_model_versions")
                .column("model_id", type: .text, .notNull)
                .column("version", type: .bigint, .notNull)
                .column("artifact_sha256", type: .text, .notNull)
                // The version as JSON (parameters, preprocessing, feature schema, dataset, metrics, validation).
                .column("document", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .primaryKey("model_id", "version")
                .run()
            try await sql.create(table: "ml_model_aliases")
                .column("model_id", type: .text, .notNull)
                .column("alias", type: .text, .notNull)
                .column("version", type: .bigint, .notNull)
                .primaryKey("model_id", "alias")
                .run()
            try await sql.create(table: "ml_jobs")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("type", type: .text, .notNull)
                .column("model_id", type: .text, .notNull)
                .column("dataset_id", type: .text)
                .column("status", type: .text, .notNull)
                .column("priority", type: .bigint, .notNull)
                .column("progress_current", type: .bigint, .notNull)
                .column("progress_total", type: .bigint, .notNull)
                .column("progress_unit", type: .text, .notNull)
                .column("metrics", type: .text, .notNull)
                .column("parameters", type: .text, .notNull)
                .column("error", type: .text)
                .column("created_at", type: .text, .notNull)
                .column("started_at", type: .text)
                .column("finished_at", type: .text)
                .column("heartbeat_at", type: .text)
                .run()
            try await sql.create(index: "ml_jobs_queue").on("ml_jobs").column("status").column("priority").run()
            try await sql.create(index: "ml_jobs_model").on("ml_jobs").column("model_id").run()
            try await sql.create(table: "ml_job_logs")
                .column("job_id", type: .text, .notNull)
                .column("seq", type: .bigint, .notNull)
                .column("at", type: .text, .notNull)
                .column("message", type: .text, .notNull)
                .primaryKey("job_id", "seq")
                .run()
        },
        Migration("ml-0003-serving") { sql in
            try await sql.create(table: "ml_deployments")
                .column("model_id", type: .text, .primaryKey(autoIncrement: false))
                // The deployment as JSON (status, strategy, variants, canary state, history).
                .column("document", type: .text, .notNull)
                .column("updated_at", type: .text, .notNull)
                .run()
            try await sql.create(table: "ml_feedback")
                .column("prediction_id", type: .text, .primaryKey(autoIncrement: false))
                .column("model_id", type: .text, .notNull)
                .column("version", type: .bigint, .notNull)
                .column("predicted", type: .text, .notNull)
                .column("actual", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .run()
            try await sql.create(index: "ml_feedback_time").on("ml_feedback").column("created_at").run()
        },
        Migration("ml-0004-job-results") { sql in
            try await sql.alter(table: "ml_jobs").column("result", type: .text).run()
        },
        Migration("ml-0005-triggers") { sql in
            try await sql.create(table: "ml_triggers")
                .column("id", type: .text, .primaryKey(autoIncrement: false))
                .column("model_id", type: .text, .notNull)
                // The trigger as JSON (condition, pipeline, cooldown, latest firings).
                .column("document", type: .text, .notNull)
                .column("created_at", type: .text, .notNull)
                .run()
        },
        Migration("ml-0006-version-references") { sql in
            // A trained version's drift reference (ReferenceProfile.encoded()), out of its JSON document.
            try await sql.alter(table: "ml_model_versions").column("reference", type: .blob).run()
        },
    ]
}
