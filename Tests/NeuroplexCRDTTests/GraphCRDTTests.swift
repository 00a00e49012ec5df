import NeuroplexCRDT
import NeuroplexCore
import Testing

@Suite("GraphCRDT", .timeLimit(.minutes(3)))
struct GraphCRDTTests {
    @Test("vertices and edges with data, and neighbours in both directions")
    func basics() throws {
        var graph = GraphCRDT()
        graph.addVertex("alice", data: ["age": 30], timestamp: 1, at: "a")
        graph.addVertex("bob", timestamp: 1, at: "a")
        graph.addVertex("carol", timestamp: 1, at: "a")
        try graph.addEdge(from: "alice", to: "bob", data: "follows", timestamp: 2, at: "a")
        try graph.addEdge(from: "carol", to: "alice", timestamp: 2, at: "a")
        #expect(graph.vertex("alice") == ["age": 30])
        #expect(graph.edge(from: "alice", to: "bob") == "follows")
        #expect(graph.edge(from: "bob", to: "alice") == nil)
        #expect(graph.neighbors(of: "alice") == ["bob"])
        #expect(graph.neighbors(of: "alice", direction: .incoming) == ["carol"])
        #expect(graph.neighbors(of: "alice", direction: .both) == ["bob", "carol"])
        #expect(graph.edges.map { "\($0.from)->\($0.to)" } == ["alice->bob", "carol->alice"])
        graph.removeEdge(from: "alice", to: "bob")
        #expect(graph.neighbors(of: "alice").isEmpty)
    }

    @Test("an edge to a missing vertex is refused with vertex_not_found")
    func missingVertex() {
        var graph = GraphCRDT()
        graph.addVertex("a", timestamp: 1, at: "r")
        let error = #expect(throws: NeuroplexError.self) {
            try graph.addEdge(from: "a", to: "ghost", timestamp: 1, at: "r")
        }
        #expect(error?.code == .vertexNotFound)
        #expect(error?.kind == .notFound)
        #expect(graph.edges.isEmpty)
    }

    @Test("removing a vertex removes its edges")
    func removeVertexRemovesEdges() throws {
        var graph = GraphCRDT()
        for id in ["a", "b", "c"] { graph.addVertex(id, timestamp: 1, at: "r") }
        try graph.addEdge(from: "a", to: "b", timestamp: 1, at: "r")
        try graph.addEdge(from: "c", to: "a", timestamp: 1, at: "r")
        try graph.addEdge(from: "b", to: "c", timestamp: 1, at: "r")
        graph.removeVertex("a")
        #expect(graph.vertex("a") == nil)
        #expect(graph.edges.map(\.from) == ["b"])
        graph.addVertex("a", timestamp: 2, at: "r")
        #expect(graph.edges.count == 1)
    }

    @Test("an edge added concurrently with its vertex's removal does not show")
    func concurrentEdgeToRemovedVertex() throws {
        var a = GraphCRDT()
        a.addVertex("x", timestamp: 1, at: "a")
        a.addVertex("y", timestamp: 1, at: "a")
        var b = a
        a.removeVertex("x")
        try b.addEdge(from: "x", to: "y", timestamp: 2, at: "b")
        a.merge(b)
        b.merge(a)
        #expect(a.vertex("x") == nil)
        #expect(a.edges.isEmpty)
        #expect(a.edge(from: "x", to: "y") == nil)
        #expect(a.neighbors(of: "y", direction: .incoming).isEmpty)
        #expect(a == b)
    }

    @Test("a concurrent add keeps a removed vertex, and concurrent data resolves by timestamp")
    func addWinsAndLastWriterWins() {
        var a = GraphCRDT()
        a.addVertex("v", data: 1, timestamp: 1, at: "a")
        var b = a
        a.removeVertex("v")
        b.addVertex("v", data: 2, timestamp: 5, at: "b")
        var c = GraphCRDT()
        c.addVertex("v", data: 3, timestamp: 9, at: "c")
        a.merge(b)
        a.merge(c)
        #expect(a.vertex("v") == 3)
    }

    @Test("survives encoding")
    func coding() throws {
        var graph = GraphCRDT()
        graph.addVertex("a", data: "A", timestamp: 1, at: "r")
        graph.addVertex("b", timestamp: 1, at: "r")
        try graph.addEdge(from: "a", to: "b", data: [1], timestamp: 1, at: "r")
        #expect(try roundTrip(graph) == graph)
    }
}
