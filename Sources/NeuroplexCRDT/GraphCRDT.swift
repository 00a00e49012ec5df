public import NeuroplexCore

/// A directed graph with add-wins vertices and edges, each carrying last-writer-wins JSON data.
///
/// Vertices and edges are keyed stores of writes sharing one ``CausalContext``: adding gets a fresh
/// ``Dot``, removing deletes the writes it has seen, so a concurrent add survives a remove (add wins).
/// Data written concurrently resolves by the greatest `(timestamp, replica)`.
///
/// Removing a vertex removes the edges it touches. An edge added elsewhere concurrently with that removal
/// is kept in the state but hidden: ``edges``, ``edge(from:to:)`` and ``neighbors(of:direction:)`` show an
/// edge only while both its ends are vertices (it shows again if its vertex is added back).
/// There is at most one edge per ordered pair of vertices.
///
/// ```swift
/// var graph = GraphCRDT()
/// graph.addVertex("alice", data: ["age": 30], timestamp: 1, at: "a")
/// graph.addVertex("bob", timestamp: 1, at: "a")
/// let delta = try graph.addEdge(from: "alice", to: "bob", data: "follows", timestamp: 2, at: "a")
/// graph.neighbors(of: "alice")   // ["bob"]
/// ```
public struct GraphCRDT: DeltaCRDT {
    /// A directed edge as the graph shows it.
    public struct Edge: Hashable, Sendable, Codable {
        /// The vertex the edge leaves.
        public var from: String
        /// The vertex the edge enters.
        public var to: String
        /// The edge's data.
        public var data: JSONValue

        /// The edge from `from` to `to` carrying `data`.
        public init(from: String, to: String, data: JSONValue) {
            self.from = from
            self.to = to
            self.data = data
        }
    }

    /// Which edges of a vertex ``neighbors(of:direction:)`` follows.
    public enum Direction: Sendable {
        /// Edges leaving the vertex: its successors.
        case outgoing
        /// Edges entering the vertex: its predecessors.
        case incoming
        /// Both.
        case both
    }

    /// The ordered pair of vertices an edge joins, its key in the store.
    struct EdgeKey: Hashable, Sendable, Codable {
        var from: String
        var to: String
    }

    var vertexStore: DotMap<String, RegisterWrite>
    var edgeStore: DotMap<EdgeKey, RegisterWrite>
    /// Every add and remove this state has seen, of vertices and edges alike.
    public private(set) var context: CausalContext

    /// An empty graph.
    public init() {
        vertexStore = DotMap()
        edgeStore = DotMap()
        context = CausalContext()
    }

    // MARK: Reading

    /// The data of vertex `id`, or `nil` if there is no such vertex.
    public func vertex(_ id: String) -> JSONValue? {
        vertexStore.entries[id]?.winner?.value
    }

    /// Every vertex with its data.
    public var vertices: [String: JSONValue] {
        vertexStore.entries.compactMapValues { $0.winner?.value }
    }

    /// The data of the edge from `from` to `to`, or `nil` if there is no such edge or one of its ends is gone.
    public func edge(from: String, to: String) -> JSONValue? {
        guard vertexStore.entries[from] != nil, vertexStore.entries[to] != nil else { return nil }
        return edgeStore.entries[EdgeKey(from: from, to: to)]?.winner?.value
    }

    /// Every edge whose ends are both vertices, sorted by `from`, then `to`.
    public var edges: [Edge] {
        edgeStore.entries.compactMap { key, writes -> Edge? in
            guard isVisible(key), let data = writes.winner?.value else { return nil }
            return Edge(from: key.from, to: key.to, data: data)
        }.sorted { ($0.from, $0.to) < ($1.from, $1.to) }
    }

    /// The vertices joined to `id` by a visible edge in `direction`, sorted, without repeats.
    ///
    /// Complexity: O(edges).
    public func neighbors(of id: String, direction: Direction = .outgoing) -> [String] {
        guard vertexStore.entries[id] != nil else { return [] }
        var found = Set<String>()
        for key in edgeStore.entries.keys where isVisible(key) {
            if key.from == id, direction != .incoming { found.insert(key.to) }
            if key.to == id, direction != .outgoing { found.insert(key.from) }
        }
        return found.sorted()
    }

    private func isVisible(_ key: EdgeKey) -> Bool {
        vertexStore.entries[key.from] != nil && vertexStore.entries[key.to] != nil
    }

    // MARK: Changing

    /// Adds vertex `id` with `data`, or replaces the data of an existing one; returns the delta.
    /// - Parameter timestamp: the caller's time of the write in milliseconds since 1970; it orders this write
    ///   against concurrent ones.
    @discardableResult
    public mutating func addVertex(
        _ id: String, data: JSONValue = .null, timestamp: Int64, at replica: ReplicaID
    ) -> GraphCRDT {
        let dot = context.makeDot(for: replica)
        let write = RegisterWrite(value: data, timestamp: timestamp)
        var delta = GraphCRDT()
        delta.context = CausalContext(dots: vertexStore.dots(of: id) + [dot])
        delta.vertexStore.entries[id] = [dot: write]
        vertexStore.entries[id] = [dot: write]
        return delta
    }

    /// Removes vertex `id` and the edges it touches, as far as this replica has seen them; returns the delta.
    ///
    /// Removing an absent vertex returns an empty delta.
    /// Complexity: O(edges).
    @discardableResult
    public mutating func removeVertex(_ id: String) -> GraphCRDT {
        var removed = vertexStore.removeValue(forKey: id)
        let touching = edgeStore.entries.keys.filter { $0.from == id || $0.to == id }
        for key in touching { removed += edgeStore.removeValue(forKey: key) }
        var delta = GraphCRDT()
        delta.context = CausalContext(dots: removed)
        return delta
    }

    /// Adds the edge from `from` to `to` with `data`, or replaces the data of an existing one; returns the delta.
    /// - Parameter timestamp: the caller's time of the write in milliseconds since 1970.
    /// - Throws: ``NeuroplexError`` with code `vertex_not_found` if either end is not a vertex here.
    @discardableResult
    public mutating func addEdge(
        from: String, to: String, data: JSONValue = .null, timestamp: Int64, at replica: ReplicaID
    ) throws(NeuroplexError) -> GraphCRDT {
        guard vertexStore.entries[from] != nil else { throw .vertexNotFound(from) }
        guard vertexStore.entries[to] != nil else { throw .vertexNotFound(to) }
        let key = EdgeKey(from: from, to: to)
        let dot = context.makeDot(for: replica)
        let write = RegisterWrite(value: data, timestamp: timestamp)
        var delta = GraphCRDT()
        delta.context = CausalContext(dots: edgeStore.dots(of: key) + [dot])
        delta.edgeStore.entries[key] = [dot: write]
        edgeStore.entries[key] = [dot: write]
        return delta
    }

    /// Removes the edge from `from` to `to` as far as this replica has seen it; returns the delta.
    ///
    /// Removing an absent edge returns an empty delta.
    @discardableResult
    public mutating func removeEdge(from: String, to: String) -> GraphCRDT {
        var delta = GraphCRDT()
        delta.context = CausalContext(dots: edgeStore.removeValue(forKey: EdgeKey(from: from, to: to)))
        return delta
    }

    /// Joins another state or delta into this graph.
    ///
    /// Complexity: O(size of both).
    public mutating func merge(_ other: GraphCRDT) {
        vertexStore.join(other.vertexStore, context: context, otherContext: other.context)
        edgeStore.join(other.edgeStore, context: context, otherContext: other.context)
        context.formUnion(other.context)
    }
}

extension GraphCRDT: Codable {
    private enum CodingKeys: String, CodingKey {
        case vertices, edges, context
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        vertexStore = try container.decode(DotMap<String, RegisterWrite>.self, forKey: .vertices)
        edgeStore = try container.decode(DotMap<EdgeKey, RegisterWrite>.self, forKey: .edges)
        context = try container.decode(CausalContext.self, forKey: .context)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(vertexStore, forKey: .vertices)
        try container.encode(edgeStore, forKey: .edges)
        try container.encode(context, forKey: .context)
    }
}
