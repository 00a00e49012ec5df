import Foundation
import NIOCore
import NeuroplexCore
import NeuroplexGateway
import NeuroplexMemory

/// One Redis-protocol connection: its authentication, protocol version, name, transaction queue and watches.
/// Commands run one after another, in the order they arrived; values are the same JSON values HTTP sees
/// (a Redis string is a JSON string; a number reads back as its text).
struct RESPSession {
    let memory: Memory
    let keys: KeyStore
    let clientID: Int
    var key: APIKey?
    var protocolVersion = 2
    var clientName: String?
    /// Commands queued after MULTI, or `nil` outside a transaction.
    var queued: [RESPCommand]?
    var queueFailed = false
    /// Keys under WATCH, with the version each had then (`nil`: absent).
    var watched: [String: UInt64?] = [:]
    var scanCursors: [Int: String] = [:]
    /// The connection's subscription on the event bus, once it has subscribed to anything.
    var subscription: UInt64?
    /// A subscription stream the connection has not started forwarding yet.
    var newSubscription: (id: UInt64, messages: AsyncThrowingStream<ChannelMessage, any Error>)?
    var subscribedCount = 0
    var nextCursor = 1
    var closeAfterReply = false

    init(memory: Memory, keys: KeyStore, clientID: Int) {
        self.memory = memory
        self.keys = keys
        self.clientID = clientID
    }

    static let readCommands: Set<String> = [
        "GET", "MGET", "EXISTS", "TYPE", "TTL", "PTTL", "SCAN", "KEYS", "DBSIZE", "SMEMBERS", "SISMEMBER", "SCARD",
        "HGET", "HGETALL", "HKEYS", "HLEN", "TEXT.GET", "CONFIG",
    ]

    /// Commands that run at once inside MULTI instead of being queued.
    static let transactionControl: Set<String> = ["EXEC", "DISCARD", "MULTI", "WATCH"]
    /// The only commands a RESP2 connection may send while subscribed.
    static let subscribedModeCommands: Set<String> = [
        "SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PING", "QUIT",
    ]
    /// Commands about the connection itself, which need no memory scope.
    static let connectionCommands: Set<String> = [
        "ECHO", "SELECT", "CLIENT", "COMMAND", "INFO", "MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH",
    ]

    /// Runs one command and appends its reply.
    mutating func execute(_ command: RESPCommand, into out: inout RESPWriter) async {
        let name = command.name
        do {
            // Connection commands that work before AUTH.
            switch name {
            case "AUTH": return try await auth(command, &out)
            case "HELLO": return try await hello(command, &out)
            case "PING":
                if let text = command.string(1) { out.bulk(text) } else { out.simple("PONG") }
                return
            case "QUIT":
                closeAfterReply = true
                out.ok()
                return
            default: break
            }
            guard let key else {
                out.error("NOAUTH Authentication required.")
                return
            }
            if var queue = queued, !Self.transactionControl.contains(name) {
                queue.append(command)
                queued = queue
                out.simple("QUEUED")
                return
            }
            if subscribedCount > 0, protocolVersion < 3,
                !Self.subscribedModeCommands.contains(name)
            {
                out.error(
                    "ERR Can't execute '\(name.lowercased())': only (P)SUBSCRIBE / (P)UNSUBSCRIBE / PING / QUIT are allowed in this context")
                return
            }
            let needed: Scope =
                name == "FLUSHDB" || (name == "CONFIG" && command.string(1)?.uppercased() == "SET")
                ? .admin : Self.readCommands.contains(name) ? .memoryRead : .memoryWrite
            guard key.scopes.grant(needed) || Self.connectionCommands.contains(name) else {
                out.error("NOPERM this API key lacks the scope '\(needed.rawValue)' that \(name) needs")
                return
            }
            try await run(name, command, &out)
        } catch let error as NeuroplexError {
            if queued != nil { queueFailed = true }
            out.error(Self.redisError(error))
        } catch let error as ArgumentError {
            if queued != nil { queueFailed = true }
            out.error(error.message)
        } catch {
            out.error("ERR \(error)")
        }
    }

    /// `CONFIG GET pattern` and `CONFIG SET notify-keyspace-events flags` (the one setting this server has).
    private func config(_ command: RESPCommand, _ out: inout RESPWriter) throws {
        let setting = "notify-keyspace-events"
        let count = command.arguments.count
        switch command.string(1)?.uppercased() ?? "" {
        case "GET":
            guard count == 3, let pattern = command.string(2) else { throw ArgumentError.arity("CONFIG|GET") }
            let matches = GlobPattern(pattern.lowercased()).matches(setting)
            if protocolVersion >= 3 { out.mapHeader(matches ? 1 : 0) } else { out.arrayHeader(matches ? 2 : 0) }
            if matches {
                out.bulk(setting)
                out.bulk(memory.keyspaceNotifications.redisFlags)
            }
        case "SET":
            guard count == 4, let option = command.string(2), let value = command.string(3) else {
                throw ArgumentError.arity("CONFIG|SET")
            }
            guard option.lowercased() == setting else {
                throw ArgumentError(message: "ERR Unknown option or number of arguments for CONFIG SET - '\(option)'")
            }
            guard let flags = KeyspaceNotifications(redisFlags: value) else {
                throw ArgumentError(
                    message: "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            }
            memory.keyspaceNotifications = flags
            out.ok()
        case "RESETSTAT", "REWRITE":
            out.ok()
        default:
            throw ArgumentError(message: "ERR unknown subcommand or wrong number of arguments for 'CONFIG'")
        }
    }

    struct ArgumentError: Error {
        var message: String
        static func arity(_ name: String) -> ArgumentError {
            ArgumentError(message: "ERR wrong number of arguments for '\(name.lowercased())' command")
        }
        static let syntax = ArgumentError(message: "ERR syntax error")
        static let notInteger = ArgumentError(message: "ERR value is not an integer or out of range")
        static let notFloat = ArgumentError(message: "ERR value is not a valid float")
    }

    static func redisError(_ error: NeuroplexError) -> String {
        switch error.code {
        case .wrongType: "WRONGTYPE Operation against a key holding the wrong kind of value"
        case .unauthenticated, .invalidAPIKey, .expiredAPIKey, .revokedAPIKey:
            "WRONGPASS invalid API key (\(error.message))"
        default: "ERR \(error.message)"
        }
    }

    // MARK: Connection

    private mutating func auth(_ command: RESPCommand, _ out: inout RESPWriter) async throws {
        guard command.arguments.count == 2 || command.arguments.count == 3 else { throw ArgumentError.arity("AUTH") }
        key = try await keys.authenticate(command.string(command.arguments.count - 1))
        out.ok()
    }

    private mutating func hello(_ command: RESPCommand, _ out: inout RESPWriter) async throws {
        var index = 1
        if let version = command.string(1) {
            guard let number = Int(version) else { throw ArgumentError(message: "ERR Protocol version is not an integer or out of range") }
            guard number == 2 || number == 3 else { throw ArgumentError(message: "NOPROTO unsupported protocol version") }
            protocolVersion = number
            out.protocolVersion = number
            index = 2
        }
        while index < command.arguments.count {
            switch command.string(index)?.uppercased() {
            case "AUTH":
                guard index + 2 < command.arguments.count else { throw ArgumentError.syntax }
                key = try await keys.authenticate(command.string(index + 2))
                index += 3
            case "SETNAME":
                guard index + 1 < command.arguments.count else { throw ArgumentError.syntax }
                clientName = command.string(index + 1)
                index += 2
            default:
                throw ArgumentError.syntax
            }
        }
        guard key != nil else {
            out.error("NOAUTH HELLO must be called with the client already authenticated, or with AUTH")
            return
        }
        out.mapHeader(7)
        out.bulk("server"); out.bulk("neuroplex")
        out.bulk("version"); out.bulk(NeuroplexVersion.current)
        out.bulk("proto"); out.integer(protocolVersion)
        out.bulk("id"); out.integer(clientID)
        out.bulk("mode"); out.bulk("standalone")
        out.bulk("role"); out.bulk("master")
        out.bulk("modules"); out.arrayHeader(0)
    }

    // MARK: Commands

    private mutating func run(_ name: String, _ command: RESPCommand, _ out: inout RESPWriter) async throws {
        let arguments = command.arguments
        func key(_ index: Int) throws -> String {
            guard let text = command.string(index) else { throw ArgumentError.arity(name) }
            return text
        }
        func integer(_ index: Int) throws -> Int64 {
            guard let text = command.string(index) else { throw ArgumentError.arity(name) }
            guard let value = Int64(text) else { throw ArgumentError.notInteger }
            return value
        }
        switch name {
        case "ECHO":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            out.bulk(arguments[1])
        case "SELECT":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            if command.string(1) == "0" { out.ok() } else { out.error("ERR DB index is out of range") }
        case "COMMAND":
            out.arrayHeader(0)
        case "CLIENT":
            switch command.string(1)?.uppercased() {
            case "SETNAME":
                clientName = try key(2)
                out.ok()
            case "GETNAME":
                if let clientName { out.bulk(clientName) } else { out.null() }
            case "ID":
                out.integer(clientID)
            case "SETINFO":
                out.ok()
            default:
                throw ArgumentError(message: "ERR unknown CLIENT subcommand")
            }
        case "INFO":
            let text = "# Server\r\nredis_version:7.2.0\r\nneuroplex_version:\(NeuroplexVersion.current)\r\nredis_mode:standalone\r\n\r\n# Keyspace\r\ndb0:keys=\(memory.count),expires=0\r\n"
            out.bulk(text)
        case "DBSIZE":
            out.integer(memory.count)
        case "FLUSHDB":
            _ = try await memory.bulk(.delete, memory.export().map { ($0.key, JSONValue.null) })
            out.ok()
        case "CONFIG":
            try config(command, &out)
        case "GET":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            let entry = memory.get(try key(1))
            if let entry, entry.type != "json" { throw NeuroplexError(.conflict, code: .wrongType, "not a string") }
            out.value(entry?.value)
        case "SADD":
            guard arguments.count >= 3 else { throw ArgumentError.arity(name) }
            let members = try (2..<arguments.count).map { JSONValue.string(try key($0)) }
            out.integer(try await memory.setAdd(try key(1), members, create: true))
        case "SREM":
            guard arguments.count >= 3 else { throw ArgumentError.arity(name) }
            let members = try (2..<arguments.count).map { JSONValue.string(try key($0)) }
            do {
                out.integer(try await memory.setRemove(try key(1), members))
            } catch let error as NeuroplexError where error.code == .notFound {
                out.integer(0)
            }
        case "SMEMBERS", "SCARD", "SISMEMBER":
            guard arguments.count == (name == "SISMEMBER" ? 3 : 2) else { throw ArgumentError.arity(name) }
            var elements: [JSONValue] = []
            if let object = try memory.object(try key(1)) {
                guard case .array(let values) = object.view, object.typeName == "set" else {
                    throw NeuroplexError(.conflict, code: .wrongType, "not a set")
                }
                elements = values
            }
            if name == "SCARD" {
                out.integer(elements.count)
            } else if name == "SISMEMBER" {
                out.integer(elements.contains(.string(try key(2))) ? 1 : 0)
            } else {
                out.setHeader(elements.count)
                for element in elements { out.value(element) }
            }
        case "MGET":
            guard arguments.count >= 2 else { throw ArgumentError.arity(name) }
            out.arrayHeader(arguments.count - 1)
            for index in 1..<arguments.count { out.value(memory.get(try key(index))?.value) }
        case "SET":
            try await set(command, &out)
        case "MSET":
            guard arguments.count >= 3, arguments.count % 2 == 1 else { throw ArgumentError.arity(name) }
            try await memory.set(
                stride(from: 1, to: arguments.count, by: 2).map { (try key($0), JSONValue.string(try key($0 + 1))) })
            out.ok()
        case "DEL", "UNLINK":
            guard arguments.count >= 2 else { throw ArgumentError.arity(name) }
            out.integer(try await memory.delete((1..<arguments.count).map { try key($0) }).filter { $0 }.count)
        case "EXISTS":
            guard arguments.count >= 2 else { throw ArgumentError.arity(name) }
            out.integer(try (1..<arguments.count).filter { memory.exists(try key($0)) }.count)
        case "TYPE":
            switch memory.get(try key(1))?.type {
            case nil: out.simple("none")
            case "json": out.simple("string")
            case let type?: out.simple(type)
            }
        case "INCR", "DECR":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            try await increment(key(1), name == "INCR" ? 1 : -1, &out)
        case "INCRBY", "DECRBY":
            guard arguments.count == 3 else { throw ArgumentError.arity(name) }
            let delta = try integer(2)
            try await increment(key(1), name == "INCRBY" ? delta : -delta, &out)
        case "HSET":
            guard arguments.count >= 4, arguments.count % 2 == 0 else { throw ArgumentError.arity(name) }
            let map = try key(1)
            if memory.get(map) == nil { try await memory.createObject(map, memory.makeMap([:])) }
            var added = 0
            for index in stride(from: 2, to: arguments.count, by: 2) {
                if try mapEntries(map)[try key(index)] == nil { added += 1 }
                try await memory.mapSet(map, entry: try key(index), .string(try key(index + 1)))
            }
            out.integer(added)
        case "HGET":
            guard arguments.count == 3 else { throw ArgumentError.arity(name) }
            out.value(try mapEntries(try key(1))[try key(2)])
        case "HDEL":
            guard arguments.count >= 3 else { throw ArgumentError.arity(name) }
            let map = try key(1)
            guard memory.get(map) != nil else {
                out.integer(0)
                return
            }
            var removed = 0
            for index in 2..<arguments.count where try await memory.mapRemove(map, entry: try key(index)) { removed += 1 }
            out.integer(removed)
        case "HGETALL", "HKEYS", "HLEN":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            let entries = try mapEntries(try key(1)).sorted { $0.key < $1.key }
            switch name {
            case "HLEN": out.integer(entries.count)
            case "HKEYS":
                out.arrayHeader(entries.count)
                for (entry, _) in entries { out.bulk(entry) }
            default:
                out.mapHeader(entries.count)
                for (entry, value) in entries {
                    out.bulk(entry)
                    out.value(value)
                }
            }
        case "TEXT.INSERT", "TEXT.DELETE":
            guard arguments.count == 4 else { throw ArgumentError.arity(name) }
            let text = try key(1)
            guard let position = Int(try key(2)), position >= 0 else { throw ArgumentError.notInteger }
            if name == "TEXT.INSERT" {
                if memory.get(text) == nil { try await memory.createObject(text, try memory.makeText("")) }
                out.integer(try await memory.textInsert(text, try key(3), at: position))
            } else {
                guard let length = Int(try key(3)), length >= 0 else { throw ArgumentError.notInteger }
                out.integer(try await memory.textDelete(text, at: position, length: length))
            }
        case "TEXT.GET":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            guard let entry = memory.get(try key(1)) else {
                out.null()
                return
            }
            guard entry.type == "text", case .string(let text) = entry.value else {
                throw NeuroplexError(.conflict, code: .wrongType, "not a text")
            }
            out.bulk(text)
        case "INCRBYFLOAT":
            guard arguments.count == 3 else { throw ArgumentError.arity(name) }
            guard let delta = Double(try key(2)), delta.isFinite else { throw ArgumentError.notFloat }
            let result = try await memory.increment(try key(1), by: .double(delta))
            out.value(result.value)
        case "EXPIRE", "PEXPIRE":
            guard arguments.count == 3 else { throw ArgumentError.arity(name) }
            let amount = try integer(2)
            let seconds = name == "EXPIRE" ? Double(amount) : Double(amount) / 1000
            if seconds <= 0 {
                out.integer(try await memory.delete(try key(1)) ? 1 : 0)
            } else {
                out.integer(try await memory.expire(try key(1), ttl: seconds) ? 1 : 0)
            }
        case "TTL", "PTTL":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            guard let entry = memory.get(try key(1)) else {
                out.integer(-2)
                return
            }
            guard let expiresAt = entry.expiresAt else {
                out.integer(-1)
                return
            }
            let remaining = max(0, expiresAt.timeIntervalSinceNow)
            out.integer(name == "TTL" ? Int((remaining).rounded()) : Int((remaining * 1000).rounded()))
        case "PERSIST":
            guard let entry = memory.get(try key(1)), entry.expiresAt != nil else {
                out.integer(0)
                return
            }
            out.integer(try await memory.expire(try key(1), ttl: nil) ? 1 : 0)
        case "KEYS":
            guard arguments.count == 2 else { throw ArgumentError.arity(name) }
            let entries = memory.export(GlobPattern(try key(1)))
            out.arrayHeader(entries.count)
            for entry in entries { out.bulk(entry.key) }
        case "SCAN":
            try scan(command, &out)
        case "MULTI":
            guard queued == nil else { throw ArgumentError(message: "ERR MULTI calls can not be nested") }
            queued = []
            queueFailed = false
            out.ok()
        case "DISCARD":
            guard queued != nil else { throw ArgumentError(message: "ERR DISCARD without MULTI") }
            queued = nil
            watched = [:]
            out.ok()
        case "EXEC":
            try await exec(&out)
        case "WATCH":
            guard queued == nil else { throw ArgumentError(message: "ERR WATCH inside MULTI is not allowed") }
            guard arguments.count >= 2 else { throw ArgumentError.arity(name) }
            for index in 1..<arguments.count {
                let watchedKey = try key(index)
                watched[watchedKey] = .some(memory.get(watchedKey)?.version)
            }
            out.ok()
        case "UNWATCH":
            watched = [:]
            out.ok()
        case "PUBLISH":
            guard arguments.count == 3 else { throw ArgumentError.arity(name) }
            out.integer(memory.events.publish(try key(1), .string(try key(2))))
        case "SUBSCRIBE", "PSUBSCRIBE":
            guard arguments.count >= 2 else { throw ArgumentError.arity(name) }
            let id = subscriptionID()
            for index in 1..<arguments.count {
                let target = try key(index)
                let (channels, patterns) =
                    name == "SUBSCRIBE"
                    ? memory.events.update(id, addChannels: [target]) : memory.events.update(id, addPatterns: [target])
                subscribedCount = channels.count + patterns.count
                out.pushHeader(3)
                out.bulk(name.lowercased())
                out.bulk(target)
                out.integer(subscribedCount)
            }
        case "UNSUBSCRIBE", "PUNSUBSCRIBE":
            let targets = try (1..<max(1, arguments.count)).compactMap { arguments.count > 1 ? try key($0) : nil }
            guard let id = subscription else {
                out.pushHeader(3)
                out.bulk(name.lowercased())
                out.null()
                out.integer(0)
                return
            }
            let before = memory.events.update(id)
            let removing = targets.isEmpty ? (name == "UNSUBSCRIBE" ? Array(before.channels) : before.patterns) : targets
            let (channels, patterns) =
                name == "UNSUBSCRIBE"
                ? memory.events.update(id, removeChannels: targets) : memory.events.update(id, removePatterns: targets)
            subscribedCount = channels.count + patterns.count
            if removing.isEmpty {
                out.pushHeader(3)
                out.bulk(name.lowercased())
                out.null()
                out.integer(subscribedCount)
            }
            for (offset, target) in removing.enumerated() {
                out.pushHeader(3)
                out.bulk(name.lowercased())
                out.bulk(target)
                out.integer(offset == removing.count - 1 ? subscribedCount : subscribedCount + removing.count - offset - 1)
            }
        default:
            out.error("ERR unknown command '\(command.string(0) ?? "")'")
        }
    }

    /// The connection's subscription, made on first use (the server then starts forwarding its messages).
    private mutating func subscriptionID() -> UInt64 {
        if let subscription { return subscription }
        let made = memory.events.subscribe()
        subscription = made.id
        newSubscription = made
        return made.id
    }

    /// Ends the connection's subscription, which ends its forwarding.
    func endSubscription() {
        if let subscription { memory.events.unsubscribe(subscription) }
    }

    private mutating func set(_ command: RESPCommand, _ out: inout RESPWriter) async throws {
        guard command.arguments.count >= 3, let key = command.string(1), let value = command.string(2) else {
            throw ArgumentError.arity("SET")
        }
        var ttl: Double?
        var condition = WriteCondition.none
        var keepTTL = false
        var returnOld = false
        var index = 3
        while index < command.arguments.count {
            let option = command.string(index)?.uppercased()
            switch option {
            case "EX", "PX":
                guard ttl == nil, !keepTTL, let text = command.string(index + 1) else { throw ArgumentError.syntax }
                guard let amount = Int64(text) else { throw ArgumentError.notInteger }
                guard amount > 0 else { throw ArgumentError(message: "ERR invalid expire time in 'set' command") }
                ttl = option == "EX" ? Double(amount) : Double(amount) / 1000
                index += 2
            case "NX", "XX":
                guard condition == .none else { throw ArgumentError.syntax }
                condition = option == "NX" ? .ifAbsent : .ifPresent
                index += 1
            case "KEEPTTL":
                guard ttl == nil else { throw ArgumentError.syntax }
                keepTTL = true
                index += 1
            case "GET":
                returnOld = true
                index += 1
            default:
                throw ArgumentError.syntax
            }
        }
        do {
            let result = try await memory.set(key, .string(value), ttl: ttl, keepTTL: keepTTL, condition: condition)
            if returnOld { out.value(result.previous) } else { out.ok() }
        } catch let error as NeuroplexError where error.code == .preconditionFailed {
            if returnOld { out.value(memory.get(key)?.value) } else { out.null() }
        }
    }

    /// The entries of the OR-map under `key` (none when absent); `wrong_type` for another type.
    private func mapEntries(_ key: String) throws -> [String: JSONValue] {
        guard let entry = memory.get(key) else { return [:] }
        guard entry.type == "map", case .object(let entries) = entry.value else {
            throw NeuroplexError(.conflict, code: .wrongType, "not a hash")
        }
        return entries
    }

    /// INCR and friends: on a PN-counter key they count on the counter, on anything else on the JSON number.
    private func increment(_ key: String, _ delta: Int64, _ out: inout RESPWriter) async throws {
        if memory.get(key)?.type == "counter" {
            out.integer(Int(try await memory.counterAdd(key, delta)))
            return
        }
        let result = try await memory.increment(key, by: .int(delta))
        guard case .int(let value)? = result.value else {
            throw ArgumentError(message: "ERR value is not an integer or out of range")
        }
        out.integer(Int(value))
    }

    private mutating func scan(_ command: RESPCommand, _ out: inout RESPWriter) throws {
        guard let cursorText = command.string(1), let cursor = Int(cursorText) else { throw ArgumentError.notInteger }
        var pattern = GlobPattern.all
        var count = 10
        var index = 2
        while index < command.arguments.count {
            switch command.string(index)?.uppercased() {
            case "MATCH":
                guard let text = command.string(index + 1) else { throw ArgumentError.syntax }
                pattern = GlobPattern(text)
            case "COUNT":
                guard let text = command.string(index + 1), let value = Int(text), value > 0 else {
                    throw ArgumentError.notInteger
                }
                count = min(value, 100_000)
            case "TYPE":
                break
            default:
                throw ArgumentError.syntax
            }
            index += 2
        }
        let after = cursor == 0 ? nil : scanCursors.removeValue(forKey: cursor)
        if cursor != 0 && after == nil {
            out.arrayHeader(2)
            out.bulk("0")
            out.arrayHeader(0)
            return
        }
        let page = memory.scan(pattern, limit: count, after: after)
        var next = 0
        if let last = page.nextCursor {
            next = nextCursor
            nextCursor += 1
            scanCursors[next] = last
        }
        out.arrayHeader(2)
        out.bulk(String(next))
        out.arrayHeader(page.items.count)
        for entry in page.items { out.bulk(entry.key) }
    }

    private mutating func exec(_ out: inout RESPWriter) async throws {
        guard let commands = queued else { throw ArgumentError(message: "ERR EXEC without MULTI") }
        queued = nil
        defer { watched = [:] }
        if queueFailed {
            out.error("EXECABORT Transaction discarded because of previous errors.")
            return
        }
        for (watchedKey, version) in watched where memory.get(watchedKey)?.version != version {
            out.nullArray()
            return
        }
        out.arrayHeader(commands.count)
        for command in commands { await execute(command, into: &out) }
    }
}
