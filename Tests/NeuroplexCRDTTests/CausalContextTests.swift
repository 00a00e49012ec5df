import NeuroplexCRDT
import Testing

@Suite("CausalContext", .timeLimit(.minutes(3)))
struct CausalContextTests {
    @Test("out-of-order dots wait in the cloud until the gap closes")
    func compaction() {
        var context = CausalContext()
        context.insert(Dot(replica: "a", counter: 3))
        context.insert(Dot(replica: "a", counter: 2))
        #expect(context.versionVector["a"] == nil)
        #expect(context.dotCloud.count == 2)
        context.insert(Dot(replica: "a", counter: 1))
        #expect(context.versionVector["a"] == 3)
        #expect(context.dotCloud.isEmpty)
        #expect(context.contains(Dot(replica: "a", counter: 2)))
        #expect(!context.contains(Dot(replica: "a", counter: 4)))
    }

    @Test("equal dot sets are equal contexts however they were built")
    func canonicalForm() {
        let built = CausalContext(dots: [Dot(replica: "a", counter: 2), Dot(replica: "a", counter: 1)])
        #expect(built == CausalContext(versionVector: ["a": 2]))
        var union = CausalContext(dots: [Dot(replica: "b", counter: 5)])
        union.formUnion(CausalContext(versionVector: ["b": 4]))
        #expect(union == CausalContext(versionVector: ["b": 5]))
    }

    @Test("a replica's next dot follows every dot of it the context has seen")
    func makeDot() {
        var context = CausalContext(versionVector: ["a": 2], dotCloud: [Dot(replica: "a", counter: 7)])
        #expect(context.makeDot(for: "a") == Dot(replica: "a", counter: 8))
        #expect(context.makeDot(for: "b") == Dot(replica: "b", counter: 1))
    }

    @Test("encodes the version vector as a JSON object keyed by replica")
    func coding() throws {
        let context = CausalContext(versionVector: ["a": 2], dotCloud: [Dot(replica: "b", counter: 4)])
        let json = try encodedText(context)
        #expect(json == #"{"dotCloud":[{"counter":4,"replica":"b"}],"versionVector":{"a":2}}"#)
        #expect(try roundTrip(context) == context)
    }
}
