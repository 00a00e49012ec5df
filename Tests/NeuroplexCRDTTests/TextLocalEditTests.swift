import NeuroplexCRDT
import PropertyBased
import Testing

@Suite("TextCRDT local editing", .timeLimit(.minutes(3)))
struct TextLocalEditTests {
    /// An edit near the previous one (as typing is) or anywhere: (jump, offset, kind, size).
    static let edits = zip(Gen.int(in: 0...9), Gen.int(in: -6...6), Gen.int(in: 0...9), Gen.int(in: 1...5))
        .array(of: 100...600)

    @Test("long runs of edits give the same text as editing a plain array of scalars")
    func matchesPlainArray() async {
        await propertyCheck(count: 60, input: Self.edits) { edits in
            var document = TextCRDT()
            var model: [Unicode.Scalar] = []
            var cursor = 0
            for (jump, offset, kind, size) in edits {
                cursor = jump == 0 ? (cursor * 7 + 13) % (model.count + 1) : cursor + offset
                cursor = min(max(cursor, 0), model.count)
                if kind < 3, !model.isEmpty {
                    let start = min(cursor, model.count - 1)
                    let count = min(size, model.count - start)
                    #expect(throws: Never.self) { try document.delete(at: start, length: count, by: "a") }
                    model.removeSubrange(start..<(start + count))
                } else {
                    let scalars = (0..<size).map { Unicode.Scalar(UInt8(97 + (cursor + $0) % 26)) }
                    #expect(throws: Never.self) {
                        try document.insert(String(String.UnicodeScalarView(scalars)), at: cursor, by: "a")
                    }
                    model.insert(contentsOf: scalars, at: cursor)
                    cursor += size
                }
                #expect(document.length == model.count)
            }
            #expect(document.text == String(String.UnicodeScalarView(model)))
            #expect((try? roundTrip(document)) == document)
        }
    }
}
