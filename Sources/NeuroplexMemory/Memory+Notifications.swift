public import NeuroplexCore
import Synchronization

/// Which changes are published as Redis keyspace notifications, in Redis's `notify-keyspace-events` letters.
///
/// A change to `key` with event name `set` goes out as the message `set` on `__keyspace@0__:key` (with `K`) and
/// as the message `key` on `__keyevent@0__:set` (with `E`), through the same event bus as every other channel,
/// so HTTP, WebSocket and Redis subscribers all see them.
public struct KeyspaceNotifications: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `K`: on `__keyspace@0__:<key>`, the event name.
    public static let keyspace = Self(rawValue: 1 << 0)
    /// `E`: on `__keyevent@0__:<event>`, the key.
    public static let keyevent = Self(rawValue: 1 << 1)
    /// `g`: generic events (`del`).
    public static let generic = Self(rawValue: 1 << 2)
    /// `$`: string and counter events (`set`, `incrby`).
    public static let string = Self(rawValue: 1 << 3)
    /// `s`: set events (`sadd`, `srem`).
    public static let set = Self(rawValue: 1 << 4)
    /// `h`: hash (map) events (`hset`, `hdel`).
    public static let hash = Self(rawValue: 1 << 5)
    /// `x`: expiries (`expired`).
    public static let expired = Self(rawValue: 1 << 6)
    /// `d`: other types (`text`, `graph`).
    public static let module = Self(rawValue: 1 << 7)
    /// `A`: every class of event.
    public static let all: Self = [.generic, .string, .set, .hash, .expired, .module]

    private static let letters: [(Character, Self)] = [
        ("K", .keyspace), ("E", .keyevent), ("g", .generic), ("$", .string), ("s", .set), ("h", .hash),
        ("x", .expired), ("d", .module), ("A", .all),
    ]
    /// Letters Redis accepts for types this engine does not have (lists, sorted sets, streams, evictions, misses,
    /// new keys); taken and ignored, so that clients written for Redis can send their usual flags.
    private static let ignored: Set<Character> = ["l", "z", "t", "e", "m", "n"]

    /// Parses Redis's flags, e.g. `KEA` or `Kx`; `nil` when a letter is unknown.
    /// As in Redis, flags naming no event class, or neither `K` nor `E`, turn notifications off.
    public init?(redisFlags: String) {
        var parsed: Self = []
        for letter in redisFlags {
            if let (_, option) = Self.letters.first(where: { $0.0 == letter }) {
                parsed.formUnion(option)
            } else if !Self.ignored.contains(letter) {
                return nil
            }
        }
        let delivered = !parsed.isDisjoint(with: [.keyspace, .keyevent])
        let classes = !parsed.isDisjoint(with: .all)
        self = delivered && classes ? parsed : []
    }

    /// The flags in Redis's letters (`A` for every class).
    public var redisFlags: String {
        var text = ""
        if contains(.keyspace) { text += "K" }
        if contains(.keyevent) { text += "E" }
        if isSuperset(of: .all) { return text + "A" }
        for (letter, option) in Self.letters.dropFirst(2).dropLast() where contains(option) { text.append(letter) }
        return text
    }
}

extension Memory {
    /// Which changes are published as keyspace notifications; setting it takes effect with the next change.
    public var keyspaceNotifications: KeyspaceNotifications {
        get { logState.withLock { $0.notifications } }
        set { logState.withLock { $0.notifications = newValue } }
    }

    /// Publishes a change's keyspace notifications (called under the log lock, so they go out in change order).
    func notify(_ event: ChangeEvent, _ flags: KeyspaceNotifications) {
        guard let (name, kind) = Self.notification(for: event), flags.contains(kind) else { return }
        if flags.contains(.keyspace) { events.publish("__keyspace@0__:" + event.key, .string(name)) }
        if flags.contains(.keyevent) { events.publish("__keyevent@0__:" + name, .string(event.key)) }
    }

    /// The Redis event name of a change, and its class.
    static func notification(for event: ChangeEvent) -> (String, KeyspaceNotifications)? {
        switch event.type {
        case .delete: return ("del", .generic)
        case .expire: return ("expired", .expired)
        case .conflict: return nil
        case .insert, .update: break
        }
        func grew(_ size: (JSONValue) -> Int?) -> Bool {
            (event.value.flatMap(size) ?? 0) >= (event.previousValue.flatMap(size) ?? 0)
        }
        switch event.objectType {
        case nil: return ("set", .string)
        case "counter": return ("incrby", .string)
        case "set":
            return (grew { if case .array(let items) = $0 { items.count } else { nil } } ? "sadd" : "srem", .set)
        case "map":
            return (grew { if case .object(let entries) = $0 { entries.count } else { nil } } ? "hset" : "hdel", .hash)
        case let type?: return (type, .module)
        }
    }
}
