import NeuroplexCRDT
import Testing

@Suite("ORSet", .timeLimit(.minutes(3)))
struct ORSetTests {
    @Test("adds, removes and answers membership")
    func basics() {
        var set = ORSet<String>()
        set.add("swift", at: "a")
        set.add("crdt", at: "a")
        set.remove("swift")
        #expect(set.elements == ["crdt"])
        #expect(set.count == 1)
        #expect(!set.contains("swift"))
        set.clear()
        #expect(set.isEmpty)
    }

    @Test("a concurrent add wins over a remove")
    func addWins() {
        var a = ORSet<String>()
        a.add("x", at: "a")
        var b = a
        a.remove("x")
        b.add("x", at: "b")
        a.merge(b)
        b.merge(a)
        #expect(a.contains("x"))
        #expect(a == b)
    }

    @Test("a remove deletes every add it has seen, also on replicas that receive only the delta")
    func observedRemove() {
        var a = ORSet<Int>()
        var b = ORSet<Int>()
        b.merge(a.add(1, at: "a"))
        b.merge(b.add(1, at: "b"))
        a.merge(b)
        let removal = a.remove(1)
        b.merge(removal)
        #expect(!b.contains(1))
        #expect(a == b)
    }

    @Test("clear keeps elements added concurrently")
    func clearIsObserved() {
        var a = ORSet<Int>()
        a.add(1, at: "a")
        var b = a
        let cleared = a.clear()
        b.add(2, at: "b")
        b.merge(cleared)
        #expect(b.elements == [2])
    }

    @Test("adding again does not grow the state")
    func repeatsStaySmall() throws {
        var set = ORSet<Int>()
        for _ in 0..<100 { set.add(7, at: "a") }
        let delta = set.add(7, at: "a")
        #expect(delta.context.dotCloud.count == 2)
        #expect(try encodedText(set).count < 120)
    }

    @Test("survives encoding")
    func coding() throws {
        var set = ORSet<String>()
        set.add("a", at: "r1")
        set.add("b", at: "r2")
        set.remove("a")
        #expect(try roundTrip(set) == set)
    }
}
