import Foundation
import NeuroplexCRDT
import NeuroplexCore
import Testing

@Suite("TextCRDT", .timeLimit(.minutes(3)))
struct TextCRDTTests {
    @Test("inserts and deletes at positions")
    func editing() throws {
        var document = TextCRDT()
        try document.insert("Hello world", at: 0, by: "a")
        try document.insert(",", at: 5, by: "a")
        try document.delete(at: 6, length: 6, by: "a")
        try document.insert(" there", at: 6, by: "a")
        try document.insert("!", at: document.length, by: "a")
        #expect(document.text == "Hello, there!")
        #expect(document.length == 13)
        try document.delete(at: 0, length: document.length, by: "a")
        #expect(document.text.isEmpty)
        try document.insert("again", at: 0, by: "a")
        #expect(document.text == "again")
    }

    @Test("positions and length count Unicode scalars")
    func scalars() throws {
        var document = TextCRDT()
        try document.insert("e\u{301}👍🏽x", at: 0, by: "a")  // 2 + 2 + 1 scalars
        #expect(document.length == 5)
        try document.delete(at: 2, length: 2, by: "a")
        #expect(document.text == "e\u{301}x")
        try document.insert("🇫🇷", at: 2, by: "a")
        #expect(document.length == 5)
        #expect(document.text == "e\u{301}🇫🇷x")
    }

    @Test("positions outside the text throw position_out_of_range")
    func outOfRange() throws {
        var document = TextCRDT()
        try document.insert("abc", at: 0, by: "a")
        var errors: [NeuroplexError?] = []
        errors.append(#expect(throws: NeuroplexError.self) { try document.insert("x", at: 4, by: "a") })
        errors.append(#expect(throws: NeuroplexError.self) { try document.insert("x", at: -1, by: "a") })
        errors.append(#expect(throws: NeuroplexError.self) { try document.delete(at: 2, length: 2, by: "a") })
        errors.append(#expect(throws: NeuroplexError.self) { try document.delete(at: 0, length: -1, by: "a") })
        errors.append(#expect(throws: NeuroplexError.self) { try document.delete(at: 1, length: .max, by: "a") })
        for error in errors {
            #expect(error?.code == .positionOutOfRange)
            #expect(error?.kind == .badRequest)
        }
        #expect(document.text == "abc")
    }

    @Test("concurrent insertions at one position do not interleave")
    func noInterleavingOfBlocks() throws {
        var a = TextCRDT()
        try a.insert("ab", at: 0, by: "a")
        var b = a
        try a.insert("111", at: 1, by: "a")
        try b.insert("222", at: 1, by: "b")
        a.merge(b)
        b.merge(a)
        #expect(a.text == "a111222b")
        #expect(a == b)
    }

    @Test("text typed concurrently character by character does not interleave, forwards or backwards")
    func noInterleavingWhileTyping() throws {
        var base = TextCRDT()
        try base.insert("[]", at: 0, by: "base")
        var a = base
        var b = base
        for (offset, character) in "hello".unicodeScalars.enumerated() {
            try a.insert(String(character), at: 1 + offset, by: "a")
        }
        for character in "dlrow".unicodeScalars {
            try b.insert(String(character), at: 1, by: "b")  // typed backwards: each before the last
        }
        #expect(b.text == "[world]")
        var merged = a
        merged.merge(b)
        #expect(merged.text == "[helloworld]" || merged.text == "[worldhello]")
        var other = b
        other.merge(a)
        #expect(other == merged)
    }

    @Test("a deletion keeps text inserted concurrently inside the deleted range")
    func deleteAndConcurrentInsert() throws {
        var a = TextCRDT()
        try a.insert("abcde", at: 0, by: "a")
        var b = a
        try a.delete(at: 1, length: 3, by: "a")
        try b.insert("X", at: 3, by: "b")
        try b.delete(at: 4, length: 1, by: "b")  // "d", also deleted by a
        a.merge(b)
        b.merge(a)
        #expect(a.text == "aXe")
        #expect(a == b)
    }

    @Test("deltas that arrive out of order wait for their neighbours")
    func outOfOrderDeltas() throws {
        var source = TextCRDT()
        var deltas: [TextCRDT] = []
        deltas.append(try source.insert("abc", at: 0, by: "a"))
        deltas.append(try source.insert("XY", at: 1, by: "a"))
        deltas.append(try source.delete(at: 0, length: 2, by: "a"))
        deltas.append(try source.insert("!", at: 3, by: "a"))
        var target = TextCRDT()
        target.merge(deltas[3])
        target.merge(deltas[2])
        target.merge(deltas[1])
        #expect(target.text.isEmpty)
        let waiting = try roundTrip(target)
        #expect(waiting == target)
        target.merge(deltas[0])
        #expect(target.text == source.text)
        #expect(target == source)
        var decodedFirst = waiting
        decodedFirst.merge(deltas[0])
        #expect(decodedFirst == source)
    }

    @Test("typing one character after another stays one item, also on a replica that merges the deltas")
    func runsStayCompact() throws {
        var document = TextCRDT()
        var remote = TextCRDT()
        for (offset, character) in String(repeating: "typing ", count: 50).unicodeScalars.enumerated() {
            remote.merge(try document.insert(String(character), at: offset, by: "a"))
        }
        #expect(try itemCount(document) == 1)
        #expect(try itemCount(remote) == 1)
        for _ in 0..<10 { remote.merge(try document.delete(at: document.length - 1, length: 1, by: "a")) }
        #expect(try itemCount(document) == 2)
        #expect(try itemCount(remote) == 2)
    }

    @Test("survives encoding with tombstones and concurrent runs")
    func coding() throws {
        var a = TextCRDT()
        try a.insert("hello", at: 0, by: "a")
        var b = a
        try a.delete(at: 1, length: 2, by: "a")
        try b.insert("XYZ", at: 2, by: "b")
        a.merge(b)
        let decoded = try roundTrip(a)
        #expect(decoded == a)
        #expect(decoded.text == a.text)
        var edited = decoded
        try edited.insert("?", at: 2, by: "c")
        var original = a
        try original.insert("?", at: 2, by: "c")
        #expect(edited == original)
    }

    @Test("decoding refuses a character listed twice")
    func corruptInput() {
        let json = #"{"items":[{"replica":"a","counter":0,"text":"ab"},{"replica":"a","counter":1,"text":"c"}]}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TextCRDT.self, from: Data(json.utf8))
        }
        let gap = #"{"items":[{"replica":"a","counter":1000000,"text":"x"}]}"#
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TextCRDT.self, from: Data(gap.utf8))
        }
    }

    /// The number of list items (runs) in the encoded document.
    private func itemCount(_ document: TextCRDT) throws -> Int {
        struct Items: Decodable {
            struct Item: Decodable {}
            var items: [Item]
        }
        return try JSONDecoder().decode(Items.self, from: JSONEncoder().encode(document)).items.count
    }
}

@Suite("TextCRDT with many replicas", .timeLimit(.minutes(3)))
struct TextManyReplicasTests {
    @Test("a dozen replicas inserting at one place converge without interleaving, whatever the merge order")
    func manyReplicas() throws {
        var base = TextCRDT()
        try base.insert("<>", at: 0, by: "base")
        let letters = Array("abcdefghijkl")
        var replicas: [TextCRDT] = []
        for (index, letter) in letters.enumerated() {
            var document = base
            try document.insert(String(repeating: letter, count: 3), at: 1, by: ReplicaID("writer-\(index)"))
            replicas.append(document)
        }
        let forwards = replicas.reduce(TextCRDT()) { $0.merging($1) }
        let backwards = replicas.reversed().reduce(TextCRDT()) { $0.merging($1) }
        #expect(forwards == backwards)
        #expect(forwards.length == 2 + 12 * 3)
        for letter in letters {
            #expect(forwards.text.contains(String(repeating: letter, count: 3)))
        }
        var edited = try roundTrip(forwards)
        try edited.delete(at: 1, length: edited.length - 2, by: "base")
        #expect(edited.text == "<>")
    }
}
