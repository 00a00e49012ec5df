import NeuroplexCRDT
import PropertyBased
import Testing

@Suite("TextCRDT against a character-level FugueMax reference", .timeLimit(.minutes(3)))
struct TextReferenceTests {
    @Test("random concurrent histories give the reference's text on every replica after every step")
    func agreesWithReference() async {
        await propertyCheck(count: 300, input: histories) { steps in
            var documents = [TextCRDT(), TextCRDT(), TextCRDT()]
            var references = [ReferenceText(), ReferenceText(), ReferenceText()]
            for step in steps {
                let replica = step.replica
                if step.isSync {
                    let source = (replica + 1 + step.first % 2) % 3
                    documents[replica].merge(documents[source])
                    references[replica].merge(references[source])
                } else {
                    let edit = TextEdit(step, length: documents[replica].length)
                    let id = HistoryStep.replicaIDs[replica]
                    #expect(throws: Never.self) { try edit.apply(to: &documents[replica], by: id) }
                    switch edit {
                    case .insert(let text, let position): references[replica].insert(text, at: position, by: id)
                    case .delete(let position, let length): references[replica].delete(at: position, length: length)
                    }
                }
                #expect(documents[replica].text == references[replica].text, "after \(step)")
            }
            for replica in 0..<3 {
                for source in 0..<3 where source != replica {
                    documents[replica].merge(documents[source])
                    references[replica].merge(references[source])
                }
                #expect(documents[replica].text == references[replica].text)
            }
        }
    }
}
