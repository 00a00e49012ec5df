import Foundation
import NeuroplexCore
import NeuroplexCRDT
import NeuroplexMemory
import NeuroplexTestSupport
import Testing

@Suite("Memory CRDT objects", .timeLimit(.minutes(3)))
struct ObjectTests {
    @Test("counters and sets share the keyspace with JSON values; the wrong type is refused; all survive a crash")
    func countersAndSets() async throws {
        let directory = makeTemporaryDirectory()
        let clock = ManualWallClock()
        do {
            let memory = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
            try await memory.createObject("views", memory.makeCounter(0))
            for _ in 0..<3 { _ = try await memory.counterAdd("views", 2) }
            #expect(try await memory.counterAdd("views", -1) == 5)
            let again = await #expect(throws: NeuroplexError.self) {
                try await memory.createObject("views", memory.makeCounter(1))
            }
            #expect(again?.code == .alreadyExists)
            try await memory.createObject("tags", memory.makeSet(["tech", "ai"]))
            #expect(try await memory.setAdd("tags", ["ml", "ai"]) == 1)
            #expect(try await memory.setRemove("tags", ["tech"]) == 1)
            // The change stream shows the views.
            #expect(try memory.changes(since: memory.latestSequence - 1).first?.value == ["ai", "ml"])
            #expect(memory.get("tags")?.value == ["ai", "ml"] && memory.get("tags")?.type == "set")
            // One keyspace: types do not mix.
            let wrong = await #expect(throws: NeuroplexError.self) { try await memory.setAdd("views", ["x"]) }
            #expect(wrong?.code == .wrongType)
            await #expect(throws: NeuroplexError.self) { try await memory.increment("tags", by: 1) }
            try await memory.set("plain", 1)
            #expect(throws: NeuroplexError.self) { try memory.object("plain") }
            let missing = await #expect(throws: NeuroplexError.self) { try await memory.counterAdd("nope", 1) }
            #expect(missing?.code == .notFound)
        }
        // Crash (no close), then recover from the log; then snapshot and recover again.
        let reopened = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
        #expect(reopened.get("views")?.value == 5 && reopened.get("tags")?.value == ["ai", "ml"])
        #expect(try await reopened.counterAdd("views", 10) == 15)
        try await reopened.close()
        let third = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
        #expect(third.get("views")?.value == 15 && third.get("tags")?.type == "set")

        // Export carries the state; an import elsewhere keeps merging as the same CRDT.
        let exported = third.export()
        let other = try await Memory(configuration: .init(nodeID: "node-2"), clock: clock, logger: quietLogger)
        #expect(try await other.importEntries(exported).imported == exported.count)
        #expect(try await other.counterAdd("views", 1) == 16)
        #expect(try await other.setAdd("tags", ["ai"]) == 0)
        try await third.close()
    }

    @Test("maps, texts and graphs: their operations, errors, and state across a restart")
    func mapsTextsGraphs() async throws {
        let directory = makeTemporaryDirectory()
        let clock = ManualWallClock()
        do {
            let memory = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
            try await memory.createObject("prefs", memory.makeMap(["theme": "light"]))
            try await memory.mapSet("prefs", entry: "theme", "dark")
            try await memory.mapSet("prefs", entry: "lang", "de")
            #expect(try await memory.mapRemove("prefs", entry: "lang"))
            #expect(memory.get("prefs")?.value == ["theme": "dark"])

            try await memory.createObject("doc", memory.makeText("Hello world"))
            _ = try await memory.textInsert("doc", ",", at: 5)
            _ = try await memory.textDelete("doc", at: 0, length: 1)
            #expect(try await memory.textInsert("doc", "J", at: 0) == 12)
            #expect(memory.get("doc")?.value == "Jello, world")
            let past = await #expect(throws: NeuroplexError.self) { try await memory.textInsert("doc", "x", at: 99) }
            #expect(past?.kind == .badRequest)

            try await memory.createObject("net", .graph(GraphCRDT()))
            for vertex in ["a", "b", "c"] { try await memory.graphAddVertex("net", vertex, data: ["kind": "host"]) }
            try await memory.graphAddEdge("net", from: "a", to: "b", data: ["w": 1])
            try await memory.graphAddEdge("net", from: "a", to: "c", data: ["w": 2])
            await #expect(throws: NeuroplexError.self) {
                try await memory.graphAddEdge("net", from: "a", to: "zz", data: nil)
            }
            #expect(try await memory.graphRemoveVertex("net", "c"))
            guard case .graph(let graph)? = try memory.object("net") else {
                Issue.record("net is not a graph")
                return
            }
            #expect(graph.neighbors(of: "a") == ["b"] && graph.edge(from: "a", to: "c") == nil)
        }
        let reopened = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
        #expect(reopened.get("prefs")?.value == ["theme": "dark"])
        #expect(reopened.get("doc")?.value == "Jello, world")
        #expect(reopened.get("net")?.type == "graph")
        try await reopened.close()
    }

    @Test("concurrent map writes are listed as conflicts until resolved; consistency levels are kept across restarts")
    func conflictsAndConsistency() async throws {
        let directory = makeTemporaryDirectory()
        let clock = ManualWallClock()
        do {
            let memory = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
            // Two replicas write one entry concurrently; their merged state arrives here by import.
            var left = ORMap()
            var right = ORMap()
            left.set(key: "theme", value: "dark", timestamp: 10, at: ReplicaID("a"))
            right.set(key: "theme", value: "light", timestamp: 20, at: ReplicaID("b"))
            left.merge(right)
            let state = try JSONValue.parse(CompactJSONEncoder().encode(left))
            _ = try await memory.importEntries([
                ExportedEntry(type: "map", key: "prefs", value: nil, version: 5, state: state)
            ])
            let conflicts = memory.conflicts()
            #expect(conflicts.count == 1 && conflicts.first?.entry == "theme")
            #expect(conflicts.first?.writes.first?.value == "light")  // the later timestamp wins
            #expect(try await memory.resolveConflict("prefs", entry: "theme", with: .remote) == "dark")
            #expect(memory.conflicts().isEmpty && memory.get("prefs")?.value == ["theme": "dark"])
            await #expect(throws: NeuroplexError.self) {
                try await memory.resolveConflict("prefs", entry: "theme", with: .local)
            }

            try memory.updateConsistency(defaultLevel: .causal, keyLevels: ["session:*": .eventual, "k": .strong])
            #expect(memory.consistency.level(for: "session:1") == .eventual)
            #expect(memory.consistency.level(for: "k") == .strong && memory.consistency.level(for: "x") == .causal)
            #expect(try memory.hasSeen(memory.causalToken))
            #expect(throws: NeuroplexError.self) { try memory.hasSeen("nonsense") }
        }
        let reopened = try await Memory(configuration: .init(directory: directory), clock: clock, logger: quietLogger)
        #expect(reopened.consistency.defaultLevel == .causal && reopened.consistency.keyLevels.count == 2)
        #expect(reopened.get("prefs")?.value == ["theme": "dark"])
        try await reopened.close()
    }
}
