import NeuroplexCRDT
import Testing

@Suite("PNCounter", .timeLimit(.minutes(3)))
struct PNCounterTests {
    @Test("changes on different replicas sum up after merging")
    func countersSum() {
        var a = PNCounter()
        var b = PNCounter()
        a.increment(by: 5, at: "a")
        b.increment(by: 3, at: "b")
        b.decrement(by: 1, at: "b")
        a.merge(b)
        b.merge(a)
        #expect(a.value == 7)
        #expect(b == a)
    }

    @Test("a delta carries the change to another replica, once however often it arrives")
    func deltas() {
        var a = PNCounter()
        var b = PNCounter()
        let first = a.increment(by: 2, at: "a")
        let second = a.decrement(by: 5, at: "a")
        b.merge(second)
        b.merge(first)
        b.merge(second)
        #expect(b.value == -3)
        #expect(b == a)
    }

    @Test("reset brings the observed value to zero but keeps concurrent increments")
    func reset() {
        var a = PNCounter()
        a.increment(by: 10, at: "a")
        var b = a
        a.reset(at: "a")
        #expect(a.value == 0)
        b.increment(by: 4, at: "b")
        a.merge(b)
        #expect(a.value == 4)
    }

    @Test("negative amounts and the Int64 extremes count exactly")
    func extremes() {
        var counter = PNCounter()
        counter.increment(by: -4, at: "a")
        #expect(counter.value == -4)
        counter.decrement(by: .min, at: "a")
        #expect(counter.value == .max - 3)
    }

    @Test("survives encoding")
    func coding() throws {
        var counter = PNCounter()
        counter.increment(by: 3, at: "a")
        counter.decrement(by: 1, at: "b")
        #expect(try roundTrip(counter) == counter)
        #expect(try encodedText(counter) == #"{"decrements":{"b":1},"increments":{"a":3}}"#)
    }
}
