import NeuroplexCRDT

/// A character-at-a-time list CRDT with the YjsMod integration rule, written as plainly as possible (linear
/// searches, one item per character) to check ``TextCRDT``'s run-length, indexed version against.
struct ReferenceText {
    struct ID: Hashable {
        var replica: ReplicaID
        var counter: Int
    }

    struct Item {
        var id: ID
        var left: ID?
        var right: ID?
        var scalar: Unicode.Scalar
        var isDeleted = false
    }

    var items: [Item] = []

    var text: String {
        String(String.UnicodeScalarView(items.filter { !$0.isDeleted }.map(\.scalar)))
    }

    func index(of id: ID?) -> Int? {
        guard let id else { return nil }
        return items.firstIndex { $0.id == id }
    }

    /// The index in `items` of visible character `position`.
    func indexOfVisible(_ position: Int) -> Int {
        var seen = -1
        for (index, item) in items.enumerated() where !item.isDeleted {
            seen += 1
            if seen == position { return index }
        }
        preconditionFailure("position \(position) is outside the text")
    }

    mutating func insert(_ text: String, at position: Int, by replica: ReplicaID) {
        var counter = items.filter { $0.id.replica == replica }.count
        for (offset, scalar) in text.unicodeScalars.enumerated() {
            let leftIndex = position + offset > 0 ? indexOfVisible(position + offset - 1) : -1
            let right = leftIndex + 1 < items.count ? items[leftIndex + 1].id : nil
            let left = leftIndex >= 0 ? items[leftIndex].id : nil
            integrate(Item(id: ID(replica: replica, counter: counter), left: left, right: right, scalar: scalar))
            counter += 1
        }
    }

    mutating func delete(at position: Int, length: Int) {
        let targets = (position..<(position + length)).map { indexOfVisible($0) }
        for index in targets { items[index].isDeleted = true }
    }

    /// Gentle's integrateYjsMod (reference-crdts), on one character.
    mutating func integrate(_ item: Item) {
        let left = index(of: item.left) ?? -1
        let right = item.right == nil ? items.count : index(of: item.right) ?? items.count
        var destination = left + 1
        var scanning = false
        var cursor = left + 1
        while true {
            if !scanning { destination = cursor }
            if cursor == items.count || cursor == right { break }
            let other = items[cursor]
            let otherLeft = index(of: other.left) ?? -1
            let otherRight = other.right == nil ? items.count : index(of: other.right) ?? items.count
            if otherLeft < left { break }
            if otherLeft == left {
                if otherRight < right {
                    scanning = true
                } else if otherRight == right {
                    if item.id.replica < other.id.replica { break }
                    scanning = false
                } else {
                    scanning = false
                }
            }
            cursor += 1
        }
        items.insert(item, at: destination)
    }

    /// Integrates the other document's missing characters in an order where origins and each replica's
    /// earlier characters come first, then copies its deletions.
    mutating func merge(_ other: ReferenceText) {
        var missing = other.items.filter { index(of: $0.id) == nil }
        while !missing.isEmpty {
            guard let ready = missing.firstIndex(where: { item in
                (item.left == nil || index(of: item.left) != nil) && (item.right == nil || index(of: item.right) != nil)
                    && (item.id.counter == 0 || index(of: ID(replica: item.id.replica, counter: item.id.counter - 1)) != nil)
            }) else { preconditionFailure("no missing character can be placed") }
            var item = missing.remove(at: ready)
            item.isDeleted = false
            integrate(item)
        }
        for item in other.items where item.isDeleted {
            if let index = index(of: item.id) { items[index].isDeleted = true }
        }
    }
}
