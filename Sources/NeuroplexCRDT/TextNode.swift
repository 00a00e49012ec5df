/// One character's id inside a ``TextCRDT``: the replica's slot in that document's replica table and the
/// replica's counter for the character. Slot -1 means "none" (the start or the end of the document).
struct CharID: Hashable, Sendable {
    var replica: Int32
    var counter: Int

    static let none = CharID(replica: -1, counter: 0)

    var isNone: Bool { replica < 0 }
}

/// A run of characters one replica inserted in one go (or typed one after another), stored as one list node.
///
/// Character `k` of the run has id `(replica, counter + k)`, left origin the character before it (the
/// run's `originLeft` for the first) and right origin the run's `originRight`, so a run can be split at any
/// point and two runs that meet these rules can be joined: the list holds exactly the per-character items of
/// the Fugue list form, only compressed.
struct TextNode: Sendable {
    var counter: Int
    var length: Int
    var originLeft: CharID
    var originRight: CharID
    var replica: Int32
    var previousSlot: Int32 = -1
    var nextSlot: Int32 = -1
    var isDeleted: Bool

    init(replica: Int32, counter: Int, length: Int, originLeft: CharID, originRight: CharID, isDeleted: Bool) {
        self.replica = replica
        self.counter = counter
        self.length = length
        self.originLeft = originLeft
        self.originRight = originRight
        self.isDeleted = isDeleted
    }

    var previous: Int {
        get { Int(previousSlot) }
        set { previousSlot = Int32(newValue) }
    }

    var next: Int {
        get { Int(nextSlot) }
        set { nextSlot = Int32(newValue) }
    }

    var visibleLength: Int { isDeleted ? 0 : length }
    var firstID: CharID { CharID(replica: replica, counter: counter) }
    var lastID: CharID { CharID(replica: replica, counter: counter + length - 1) }
    var counters: Range<Int> { counter..<(counter + length) }

    func contains(_ id: CharID) -> Bool {
        id.replica == replica && counters.contains(id.counter)
    }
}

/// What a document knows of one replica's characters, by counter: the scalar and the node that holds it.
struct ReplicaColumn: Sendable {
    /// Scalars by counter; counters not placed yet hold U+0000.
    var scalars: [Unicode.Scalar] = []
    /// The node holding each counter, or -1 if the character is not placed in the list (yet).
    var owners: [Int32] = []

    /// Makes room for counters below `end`.
    mutating func grow(to end: Int) {
        guard end > scalars.count else { return }
        let extra = end - scalars.count
        scalars.append(contentsOf: repeatElement(Unicode.Scalar(0), count: extra))
        owners.append(contentsOf: repeatElement(-1, count: extra))
    }
}

/// An insertion that cannot be placed yet because one of its origins is missing.
struct PendingRun: Sendable {
    var replica: Int32
    var counter: Int
    var originLeft: CharID
    var originRight: CharID
    var scalars: [Unicode.Scalar]

    var counters: Range<Int> { counter..<(counter + scalars.count) }
}

/// A remembered position: `node` starts at visible offset `start`.
struct TextCursor: Sendable {
    var node: Int
    var start: Int
}
