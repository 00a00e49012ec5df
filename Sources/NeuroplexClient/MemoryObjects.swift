public import NeuroplexCore
import OpenAPIRuntime

/// CRDT objects: counters, sets, maps, collaborative texts and graphs, each under a key of the shared keyspace.
extension NeuroplexClient {
    /// The PN-counter under `name`: increments on different replicas are never lost.
    public func counter(_ name: String) -> MemoryCounter { MemoryCounter(name: name, client: self) }

    /// The add-wins OR-set under `name`, with JSON elements.
    public func set(_ name: String) -> MemorySet<JSON> { MemorySet(name: name, client: self) }

    /// The add-wins OR-set under `name`, with elements of a `Codable` type.
    public func set<Element>(_ name: String, of type: Element.Type) -> MemorySet<Element> {
        MemorySet(name: name, client: self)
    }

    /// The OR-map (of last-writer-wins entries) under `name`, with JSON values.
    public func map(_ name: String) -> MemoryMap<JSON> { MemoryMap(name: name, client: self) }

    /// The OR-map under `name`, with values of a `Codable` type.
    public func map<Value>(_ name: String, of type: Value.Type) -> MemoryMap<Value> {
        MemoryMap(name: name, client: self)
    }

    /// The collaborative text (a FugueMax sequence CRDT) under `name`.
    public func text(_ name: String) -> MemoryText { MemoryText(name: name, client: self) }

    /// The graph (add-wins vertices and edges) under `name`.
    public func graph(_ name: String) -> MemoryGraph { MemoryGraph(name: name, client: self) }
}

/// A PN-counter: a number that replicas increment and decrement concurrently without losing updates.
///
/// ```swift
/// let views = client.counter("page_views")
/// try await views.create()
/// try await views.increment()          // 1
/// try await views.increment(by: 10)    // 11
/// try await views.value()              // 11
/// ```
/// A method on a key that holds something else throws 409 `wrong_type`; on a missing counter, 404 `not_found`.
public struct MemoryCounter: Sendable {
    /// The key the counter lives under.
    public let name: String
    let client: NeuroplexClient

    /// Creates the counter. - Throws: 409 `already_exists` when the key exists.
    @discardableResult
    public func create(initial: Int = 0) async throws -> Int {
        switch try await client.call(.once, {
            try await $0.createMemoryCounter(path: .init(name: name), body: .json(.init(initial: Int64(initial))))
        }) {
        case .created(let created): return Int(try created.body.json.value)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The counter's value.
    public func value() async throws -> Int {
        switch try await client.call(.safe, { try await $0.getMemoryCounter(path: .init(name: name)) }) {
        case .ok(let ok): return Int(try ok.body.json.value)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Adds `delta` (a negative delta subtracts) and returns the new value.
    @discardableResult
    public func increment(by delta: Int = 1) async throws -> Int {
        try await update(delta >= 0 ? .increment : .decrement, delta.magnitude)
    }

    /// Subtracts `delta` (a negative delta adds) and returns the new value.
    @discardableResult
    public func decrement(by delta: Int = 1) async throws -> Int {
        try await update(delta >= 0 ? .decrement : .increment, delta.magnitude)
    }

    /// Brings the value seen here to 0 (increments concurrent with the reset survive it); returns the new value.
    @discardableResult
    public func reset() async throws -> Int { try await update(.reset, 0) }

    /// Deletes the counter; returns whether it existed.
    @discardableResult
    public func delete() async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryCounter(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    private func update(_ action: Operations.UpdateMemoryCounter.Input.Path.ActionPayload, _ delta: UInt) async throws
        -> Int
    {
        switch try await client.call(.once, {
            try await $0.updateMemoryCounter(
                path: .init(name: name, action: action),
                body: .json(.init(delta: action == .reset ? nil : Int64(clamping: delta))))
        }) {
        case .ok(let ok): return Int(try ok.body.json.value)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

/// An add-wins OR-set: an add concurrent with a remove of the same element wins.
///
/// ```swift
/// let tags = client.set("article:tags", of: String.self)
/// try await tags.create(["tech", "ai"])
/// try await tags.add("machine-learning")
/// try await tags.contains("ai")        // true
/// try await tags.members()             // ["ai", "machine-learning", "tech"]
/// ```
public struct MemorySet<Element: Codable & Sendable>: Sendable {
    /// The key the set lives under.
    public let name: String
    let client: NeuroplexClient

    /// Creates the set with its first elements. - Throws: 409 `already_exists` when the key exists.
    @discardableResult
    public func create(_ initial: [Element] = []) async throws -> [Element] {
        let values = try initial.map { try JSON(encoding: $0).container }
        return try await members(.once) {
            try await $0.createMemorySet(path: .init(name: name), body: .json(.init(initial: values)))
        }
    }

    /// Adds an element; returns the members after the change.
    @discardableResult
    public func add(_ element: Element) async throws -> [Element] { try await update(.add, element) }

    /// Removes an element (the adds this node has seen); returns the members after the change.
    @discardableResult
    public func remove(_ element: Element) async throws -> [Element] { try await update(.remove, element) }

    /// Removes every element; returns the members after the change (empty, unless a concurrent add won).
    @discardableResult
    public func clear() async throws -> [Element] { try await update(.clear, nil) }

    /// Whether `element` is a member.
    public func contains(_ element: Element) async throws -> Bool {
        let body = try JSON(encoding: element).container
        switch try await client.call(.safe, {
            try await $0.memorySetContains(path: .init(name: name), body: .json(.init(element: body)))
        }) {
        case .ok(let ok): return try ok.body.json.contains ?? false
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The members, in the server's order (by their JSON text).
    public func members() async throws -> [Element] {
        try await members(.safe) { try await $0.getMemorySet(path: .init(name: name)) }
    }

    /// How many members there are.
    public func count() async throws -> Int { try await members().count }

    /// Deletes the set; returns whether it existed.
    @discardableResult
    public func delete() async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemorySet(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    private func update(_ action: Operations.UpdateMemorySet.Input.Path.ActionPayload, _ element: Element?)
        async throws -> [Element]
    {
        let value = try element.map { try JSON(encoding: $0).container }
        return try await members(.safe) {
            try await $0.updateMemorySet(path: .init(name: name, action: action), body: .json(.init(element: value)))
        }
    }

    /// The members in a set answer (create, get and update all answer the set).
    private func members<Output: SetAnswer>(_ replay: NeuroplexClient.Replay, _ operation: (Client) async throws -> Output)
        async throws -> [Element]
    {
        let set = try await client.call(replay, operation).set()
        return try set.values.map { try JSON($0).decode(Element.self) }
    }
}

/// The generated outputs that answer a set (or a problem).
private protocol SetAnswer { func set() throws -> Components.Schemas.MemorySet }

extension Operations.CreateMemorySet.Output: SetAnswer {
    func set() throws -> Components.Schemas.MemorySet {
        switch self {
        case .created(let created): try created.body.json
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

extension Operations.GetMemorySet.Output: SetAnswer {
    func set() throws -> Components.Schemas.MemorySet {
        switch self {
        case .ok(let ok): try ok.body.json
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

extension Operations.UpdateMemorySet.Output: SetAnswer {
    func set() throws -> Components.Schemas.MemorySet {
        switch self {
        case .ok(let ok): try ok.body.json
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

/// An OR-map of last-writer-wins entries: concurrent writes to one entry are kept as a conflict
/// (``NeuroplexClient/conflicts(pattern:)``) until resolved.
///
/// ```swift
/// let prefs = client.map("user:123:preferences")
/// try await prefs.create()
/// try await prefs.put("theme", "dark")
/// try await prefs.get("theme")         // "dark"
/// try await prefs.entries()            // ["theme": "dark"]
/// ```
public struct MemoryMap<Value: Codable & Sendable>: Sendable {
    /// The key the map lives under.
    public let name: String
    let client: NeuroplexClient

    /// Creates the map with its first entries. - Throws: 409 `already_exists` when the key exists.
    @discardableResult
    public func create(_ initial: [String: Value] = [:]) async throws -> [String: Value] {
        let object = JSON.object(try initial.mapValues { try JSON(encoding: $0) }).objectContainer
            .map { Operations.CreateMemoryMap.Input.Body.JsonPayload.InitialPayload(additionalProperties: $0) }
        switch try await client.call(.once, {
            try await $0.createMemoryMap(path: .init(name: name), body: .json(.init(initial: object)))
        }) {
        case .created(let created): return try decode(try created.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Writes an entry (the map must exist).
    public func put(_ key: String, _ value: Value) async throws {
        let body = try JSON(encoding: value).container
        switch try await client.call(.safe, {
            try await $0.setMemoryMapEntry(path: .init(name: name, entry: key), body: .json(.init(value: body)))
        }) {
        case .ok: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// An entry's value, or `nil` when the entry (or the map) does not exist.
    public func get(_ key: String) async throws -> Value? {
        switch try await client.call(.safe, { try await $0.getMemoryMapEntry(path: .init(name: name, entry: key)) }) {
        case .ok(let ok): return try JSON(try ok.body.json.value).decode(Value.self)
        case .default(let status, let problem) where NeuroplexClientError(status, problem).code == "not_found":
            return nil
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Removes an entry; returns whether it existed.
    @discardableResult
    public func remove(_ key: String) async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryMapEntry(path: .init(name: name, entry: key)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Every entry.
    public func entries() async throws -> [String: Value] {
        switch try await client.call(.safe, { try await $0.getMemoryMap(path: .init(name: name)) }) {
        case .ok(let ok): return try decode(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The entries' keys, sorted.
    public func keys() async throws -> [String] { try await entries().keys.sorted() }

    /// The entries' values, in key order.
    public func values() async throws -> [Value] { try await entries().sorted { $0.key < $1.key }.map(\.value) }

    /// How many entries there are.
    public func count() async throws -> Int { try await entries().count }

    /// Deletes the map; returns whether it existed.
    @discardableResult
    public func delete() async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryMap(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    private func decode(_ map: Components.Schemas.MemoryMap) throws -> [String: Value] {
        try JSON(map.entries.additionalProperties).objectValue?.mapValues { try $0.decode(Value.self) } ?? [:]
    }
}

/// A collaborative text: concurrent inserts and deletes from many writers merge without losing any (FugueMax).
/// Positions count Unicode code points (`String.unicodeScalars`).
///
/// ```swift
/// let doc = client.text("notes")
/// try await doc.create("Hello")
/// try await doc.insert(", world", at: 5)   // "Hello, world"
/// try await doc.delete(at: 0, length: 7)   // "world"
/// ```
public struct MemoryText: Sendable {
    /// The key the text lives under.
    public let name: String
    let client: NeuroplexClient

    /// Creates the text. - Throws: 409 `already_exists` when the key exists.
    @discardableResult
    public func create(_ initial: String = "") async throws -> String {
        switch try await client.call(.once, {
            try await $0.createMemoryText(path: .init(name: name), body: .json(.init(initial: initial)))
        }) {
        case .created(let created): return try created.body.json.text
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Inserts `text` before the code point at `position`; returns the whole text after the edit.
    /// - Throws: 400 `position_out_of_range` past the end.
    @discardableResult
    public func insert(_ text: String, at position: Int) async throws -> String {
        try await edit(.insert, .init(position: position, text: text))
    }

    /// Deletes `length` code points from `position`; returns the whole text after the edit.
    @discardableResult
    public func delete(at position: Int, length: Int) async throws -> String {
        try await edit(.delete, .init(position: position, length: length))
    }

    /// The text.
    public func text() async throws -> String { try await read().text }

    /// The length in Unicode code points.
    public func length() async throws -> Int { try await read().length }

    /// Deletes the text object; returns whether it existed.
    @discardableResult
    public func delete() async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryText(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    private func read() async throws -> Components.Schemas.MemoryText {
        switch try await client.call(.safe, { try await $0.getMemoryText(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    private func edit(
        _ action: Operations.EditMemoryText.Input.Path.ActionPayload,
        _ body: Operations.EditMemoryText.Input.Body.JsonPayload
    ) async throws -> String {
        switch try await client.call(.once, {
            try await $0.editMemoryText(path: .init(name: name, action: action), body: .json(body))
        }) {
        case .ok(let ok): return try ok.body.json.text
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

/// A graph with add-wins vertices and edges, each carrying JSON data. Removing a vertex removes its edges; an edge
/// needs both its vertices.
///
/// ```swift
/// let social = client.graph("social")
/// try await social.create()
/// try await social.addVertex("alice", data: ["name": "Alice"])
/// try await social.addVertex("bob")
/// try await social.addEdge(from: "alice", to: "bob", data: ["since": 2024])
/// try await social.neighbors(of: "alice")                      // ["bob"]
/// try await social.neighbors(of: "bob", direction: .incoming)  // ["alice"]
/// ```
public struct MemoryGraph: Sendable {
    /// Which edges ``neighbors(of:direction:)`` follows.
    public enum Direction: String, Sendable, Hashable, CaseIterable {
        case outgoing, incoming, both
    }

    /// An edge and its data.
    public struct Edge: Sendable, Hashable {
        public var from: String
        public var to: String
        public var data: JSON
    }

    /// The whole graph.
    public struct Snapshot: Sendable, Hashable {
        /// Each vertex's data, by id.
        public var vertices: [String: JSON]
        public var edges: [Edge]
    }

    /// The key the graph lives under.
    public let name: String
    let client: NeuroplexClient

    /// Creates the graph. - Throws: 409 `already_exists` when the key exists.
    @discardableResult
    public func create(description: String? = nil) async throws -> Snapshot {
        switch try await client.call(.once, {
            try await $0.createMemoryGraph(path: .init(name: name), body: .json(.init(description: description)))
        }) {
        case .created(let created): return Snapshot(try created.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The vertices and edges.
    public func snapshot() async throws -> Snapshot {
        switch try await client.call(.safe, { try await $0.getMemoryGraph(path: .init(name: name)) }) {
        case .ok(let ok): return Snapshot(try ok.body.json)
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Adds a vertex, or replaces its data.
    public func addVertex(_ id: String, data: JSON = .null) async throws {
        let body = data.container
        switch try await client.call(.safe, {
            try await $0.setMemoryGraphVertex(path: .init(name: name, id: id), body: .json(.init(data: body)))
        }) {
        case .ok: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// A vertex's data, or `nil` when there is no such vertex (or graph).
    public func vertex(_ id: String) async throws -> JSON? {
        switch try await client.call(.safe, { try await $0.getMemoryGraphVertex(path: .init(name: name, id: id)) }) {
        case .ok(let ok): return JSON(try ok.body.json.data)
        case .default(let status, let problem) where NeuroplexClientError(status, problem).code == "not_found":
            return nil
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Removes a vertex and its edges; returns whether it existed.
    @discardableResult
    public func removeVertex(_ id: String) async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryGraphVertex(path: .init(name: name, id: id)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Adds an edge between two existing vertices, or replaces its data.
    public func addEdge(from: String, to: String, data: JSON = .null) async throws {
        let body = data.container
        switch try await client.call(.safe, {
            try await $0.setMemoryGraphEdge(path: .init(name: name, from: from, to: to), body: .json(.init(data: body)))
        }) {
        case .ok: return
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// An edge's data, or `nil` when there is no such edge (or graph).
    public func edge(from: String, to: String) async throws -> JSON? {
        switch try await client.call(.safe, {
            try await $0.getMemoryGraphEdge(path: .init(name: name, from: from, to: to))
        }) {
        case .ok(let ok): return JSON(try ok.body.json.data)
        case .default(let status, let problem) where NeuroplexClientError(status, problem).code == "not_found":
            return nil
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Removes an edge; returns whether it existed.
    @discardableResult
    public func removeEdge(from: String, to: String) async throws -> Bool {
        switch try await client.call(.safe, {
            try await $0.deleteMemoryGraphEdge(path: .init(name: name, from: from, to: to))
        }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// The ids of a vertex's neighbours.
    /// - Throws: 404 `not_found` when there is no such vertex.
    public func neighbors(of id: String, direction: Direction = .outgoing) async throws -> [String] {
        switch try await client.call(.safe, {
            try await $0.getMemoryGraphNeighbors(
                path: .init(name: name, id: id), query: .init(direction: .init(rawValue: direction.rawValue)))
        }) {
        case .ok(let ok): return try ok.body.json.neighbors
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }

    /// Deletes the graph; returns whether it existed.
    @discardableResult
    public func delete() async throws -> Bool {
        switch try await client.call(.safe, { try await $0.deleteMemoryGraph(path: .init(name: name)) }) {
        case .ok(let ok): return try ok.body.json.deleted
        case .default(let status, let problem): throw NeuroplexClientError(status, problem)
        }
    }
}

extension MemoryGraph.Snapshot {
    init(_ graph: Components.Schemas.MemoryGraph) {
        self.vertices = JSON(graph.vertices.additionalProperties).objectValue ?? [:]
        self.edges = graph.edges.map { MemoryGraph.Edge(from: $0.from, to: $0.to, data: JSON($0.data)) }
    }
}
