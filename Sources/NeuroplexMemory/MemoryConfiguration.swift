/// How a ``Memory`` engine stores and bounds its data. Every field has a sane default.
public struct MemoryConfiguration: Sendable {
    /// When a write is acknowledged.
    public enum Durability: String, Sendable {
        /// After its log record is on disk (`fdatasync`, shared by concurrent writers): survives `kill -9` and
        /// power loss.
        case sync
        /// At once; the log is flushed moments later. Much faster; a crash can lose the last few milliseconds of
        /// acknowledged writes.
        case async
    }

    /// Where the log and snapshots live; `nil` keeps everything in memory only (tests, caches).
    public var directory: String?
    public var durability: Durability = .sync
    /// The largest value, in bytes of JSON text (default 16 MiB).
    public var maxValueBytes: Int = 16 * 1024 * 1024
    /// The longest key, in UTF-8 bytes (default 1 KiB).
    public var maxKeyBytes: Int = 1024
    /// How many recent changes the change stream keeps for `changes(since:)` (default 100,000).
    public var historyLimit: Int = 100_000
    /// How many undelivered changes a watcher may fall behind before it is ended with `lagged` (default 10,000).
    public var watcherBuffer: Int = 10_000
    /// Once the log grows past this many bytes a snapshot is written and the log starts afresh (default 64 MiB).
    public var snapshotAfterLogBytes: UInt64 = 64 * 1024 * 1024
    /// Which changes are also published on the event bus as Redis keyspace notifications (default none, as in
    /// Redis; ``Memory/keyspaceNotifications`` changes it while running).
    public var keyspaceNotifications: KeyspaceNotifications = []
    /// The id this node puts on its change events and CRDT operations.
    public var nodeID: String = "node-1"

    public init(directory: String? = nil, durability: Durability = .sync, nodeID: String = "node-1") {
        self.directory = directory
        self.durability = durability
        self.nodeID = nodeID
    }
}
