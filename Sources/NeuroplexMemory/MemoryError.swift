public import NeuroplexCore

/// Errors of the memory engine are ``NeuroplexError`` values with these stable codes, so the API maps them
/// like every other engine's.
extension NeuroplexError.Code {
    /// A conditional write (`ifVersion`, `ifAbsent`, a transaction precondition) did not hold.
    public static let preconditionFailed: Self = "precondition_failed"
    /// The operation does not apply to the type of the stored value (`WRONGTYPE` in Redis terms).
    public static let wrongType: Self = "wrong_type"
    /// A serializable transaction lost to a concurrent commit.
    public static let transactionConflict: Self = "transaction_conflict"
    /// A change-stream position older than the retained history.
    public static let historyCompacted: Self = "history_compacted"
    /// A watcher fell further behind than its buffer and was ended; resume with `changes(since:)`.
    public static let watcherLagged: Self = "watcher_lagged"
}
