import NeuroplexCRDT
import NeuroplexCore
import Testing

@Suite("ORMap", .timeLimit(.minutes(3)))
struct ORMapTests {
    @Test("sets, reads, removes and clears keys")
    func basics() {
        var map = ORMap()
        map.set(key: "theme", value: "dark", timestamp: 1, at: "a")
        map.set(key: "lang", value: "en", timestamp: 1, at: "a")
        map.set(key: "theme", value: "light", timestamp: 2, at: "a")
        #expect(map.value(for: "theme") == "light")
        #expect(map.entries == ["theme": "light", "lang": "en"])
        map.remove(key: "lang")
        #expect(map.keys == ["theme"])
        map.clear()
        #expect(map.count == 0)
    }

    @Test("concurrent writes: the later timestamp wins and the disagreement is recorded as a conflict")
    func lastWriterWinsWithConflict() {
        var a = ORMap()
        var b = ORMap()
        a.set(key: "k", value: "from a", timestamp: 20, at: "a")
        b.set(key: "k", value: "from b", timestamp: 10, at: "b")
        a.merge(b)
        b.merge(a)
        #expect(a.value(for: "k") == "from a")
        #expect(b.value(for: "k") == "from a")
        let conflict = a.conflicts["k"]
        #expect(conflict?.map(\.value) == ["from a", "from b"])
        #expect(conflict?.map(\.replica) == ["a", "b"])
        #expect(a == b)
    }

    @Test("equal timestamps fall to the greater replica id")
    func tieBreak() {
        var a = ORMap()
        var b = ORMap()
        a.set(key: "k", value: 1, timestamp: 5, at: "a")
        b.set(key: "k", value: 2, timestamp: 5, at: "b")
        a.merge(b)
        #expect(a.value(for: "k") == 2)
    }

    @Test("concurrent writes of one value are no conflict")
    func sameValueNoConflict() {
        var a = ORMap()
        var b = ORMap()
        a.set(key: "k", value: true, timestamp: 1, at: "a")
        b.set(key: "k", value: true, timestamp: 2, at: "b")
        a.merge(b)
        #expect(a.conflicts.isEmpty)
        #expect(a.writes(for: "k").count == 2)
    }

    @Test("resolving a conflict replaces the conflicting writes everywhere")
    func resolve() {
        var a = ORMap()
        var b = ORMap()
        a.set(key: "k", value: "x", timestamp: 1, at: "a")
        b.set(key: "k", value: "y", timestamp: 2, at: "b")
        a.merge(b)
        let resolution = a.resolve(key: "k", value: "x and y", timestamp: 3, at: "a")
        b.merge(resolution)
        #expect(a.conflicts.isEmpty)
        #expect(b.conflicts.isEmpty)
        #expect(b.value(for: "k") == "x and y")
        #expect(b.writes(for: "k").count == 1)
    }

    @Test("a write replaces what it saw even with an older timestamp (clock skew)")
    func causalityBeforeClocks() {
        var a = ORMap()
        a.set(key: "k", value: "old", timestamp: 100, at: "a")
        var b = a
        b.set(key: "k", value: "new", timestamp: 50, at: "b")
        a.merge(b)
        #expect(a.value(for: "k") == "new")
        #expect(a.conflicts.isEmpty)
    }

    @Test("a concurrent write keeps a removed key")
    func addWins() {
        var a = ORMap()
        a.set(key: "k", value: 1, timestamp: 1, at: "a")
        var b = a
        a.remove(key: "k")
        b.set(key: "k", value: 2, timestamp: 2, at: "b")
        a.merge(b)
        #expect(a.value(for: "k") == 2)
    }

    @Test("survives encoding, conflicts included")
    func coding() throws {
        var a = ORMap()
        var b = ORMap()
        a.set(key: "k", value: ["n": 1], timestamp: 1, at: "a")
        b.set(key: "k", value: [1, 2], timestamp: 2, at: "b")
        a.merge(b)
        let decoded = try roundTrip(a)
        #expect(decoded == a)
        #expect(decoded.conflicts.count == 1)
    }
}
