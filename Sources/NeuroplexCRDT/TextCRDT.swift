public import NeuroplexCore

/// Collaborative plain text: a sequence CRDT with FugueMax semantics, stored as run-length items.
///
/// Every inserted Unicode scalar gets an id `(replica, counter)` and remembers its left and right neighbours
/// when it was inserted (its origins). Concurrent insertions at one place are ordered by the rule of
/// Gentle's YjsMod, which Weidner and Kleppmann (*The Art of the Fugue*, arXiv 2305.00583) show equal to
/// FugueMax: text typed concurrently at one place is never interleaved, forwards or backwards.
///
/// Positions and ``length`` count Unicode scalars (code points), not grapheme clusters or UTF-16 units.
/// Deleted characters stay as tombstones (they anchor concurrent inserts). Characters inserted in one
/// call, or typed one after another, share one item, so memory grows with the number of edits that break a
/// run rather than with the number of characters. The position of the last local edit is remembered, so
/// edits near it do not walk the document.
///
/// Mutators return a delta: a ``TextCRDT`` holding just the new characters or deletions, which the other
/// replicas ``merge(_:)``. Deltas may arrive in any order: an insertion whose neighbours have not arrived
/// waits inside the state until they do.
///
/// ```swift
/// var document = TextCRDT()
/// let delta = try document.insert("Hello", at: 0, by: "a")
/// try document.delete(at: 0, length: 1, by: "a")
/// document.text   // "ello"
/// ```
public struct TextCRDT: DeltaCRDT {
    /// Replica ids by slot; nodes and ids name replicas by slot. `replicaSlots` indexes large tables.
    var replicas: [ReplicaID] = []
    var replicaSlots: [ReplicaID: Int32] = [:]
    /// Per replica slot: its characters by counter.
    var columns: [ReplicaColumn] = []
    /// The list of runs, as a doubly linked list in an array; `freeSlots` are unused entries.
    var nodes: [TextNode] = []
    var freeSlots: [Int32] = []
    var head = -1
    var tail = -1
    /// Insertions waiting for an origin, and (per replica slot) the counters they hold.
    var pending: [PendingRun] = []
    var pendingCounters: [Int32: CounterRanges] = [:]
    /// Deletions of characters this document does not hold yet, per replica slot.
    var pendingDeletions: [Int32: CounterRanges] = [:]
    /// Where the last local edit happened; `nil` after a merge.
    var cursor: TextCursor?

    /// The number of visible characters (Unicode scalars).
    public internal(set) var length = 0

    /// An empty document.
    public init() {}

    /// The visible text.
    ///
    /// Complexity: O(items + length).
    public var text: String {
        var scalars = String.UnicodeScalarView()
        var node = head
        while node >= 0 {
            let item = nodes[node]
            if !item.isDeleted {
                scalars.append(contentsOf: columns[Int(item.replica)].scalars[item.counters])
            }
            node = item.next
        }
        return String(scalars)
    }

    /// Inserts `text` before the character at `position`, on behalf of `replica`; returns the delta.
    ///
    /// - Parameters:
    ///   - position: a scalar offset in `0...length`; `length` appends.
    ///   - replica: the editing replica. Each replica must have an id of its own.
    /// - Throws: ``NeuroplexError`` with code `position_out_of_range` if `position` is outside the text.
    /// - Complexity: O(1) node steps near the previous local edit; otherwise O(items) in the worst case.
    @discardableResult
    public mutating func insert(_ text: String, at position: Int, by replica: ReplicaID) throws(NeuroplexError)
        -> TextCRDT
    {
        guard position >= 0, position <= length else {
            throw .positionOutOfRange("insert position \(position) is outside the text (length \(length))")
        }
        let scalars = Array(text.unicodeScalars)
        guard !scalars.isEmpty else { return TextCRDT() }
        let slot = slot(for: replica)
        let counter = nextCounter(of: slot)

        var leftNode = -1
        var leftStart = 0
        var originLeft = CharID.none
        if position > 0 {
            var (node, offset, start) = locate(position - 1)
            if offset + 1 < nodes[node].length { node = split(node, at: offset + 1).left }
            leftNode = node
            leftStart = start
            originLeft = nodes[node].lastID
        }
        let rightNode = leftNode < 0 ? head : nodes[leftNode].next
        let originRight = rightNode < 0 ? CharID.none : nodes[rightNode].firstID

        columns[Int(slot)].grow(to: counter)
        columns[Int(slot)].scalars.append(contentsOf: scalars)
        if leftNode >= 0, canAppend(
            to: nodes[leftNode], replica: slot, counter: counter,
            originLeft: originLeft, originRight: originRight, isDeleted: false)
        {
            nodes[leftNode].length += scalars.count
            columns[Int(slot)].owners.append(contentsOf: repeatElement(Int32(leftNode), count: scalars.count))
            cursor = TextCursor(node: leftNode, start: leftStart)
        } else {
            let node = allocate(TextNode(
                replica: slot, counter: counter, length: scalars.count,
                originLeft: originLeft, originRight: originRight, isDeleted: false))
            link(node, after: leftNode)
            columns[Int(slot)].owners.append(contentsOf: repeatElement(Int32(node), count: scalars.count))
            cursor = TextCursor(node: node, start: position)
        }
        length += scalars.count

        var delta = TextCRDT()
        let deltaSlot = delta.slot(for: replica)
        let run = PendingRun(
            replica: deltaSlot, counter: counter,
            originLeft: delta.adopt(originLeft, from: self), originRight: delta.adopt(originRight, from: self),
            scalars: scalars)
        delta.pending = [run]
        delta.pendingCounters = [deltaSlot: CounterRanges(run.counters)]
        return delta
    }

    /// Deletes `length` characters starting at `position`; returns the delta.
    ///
    /// The characters stay as tombstones. A deletion names the characters it removes, so deleting text
    /// someone else deleted concurrently is harmless, and text inserted concurrently inside the range stays.
    /// - Parameters:
    ///   - position: the scalar offset of the first character to delete.
    ///   - length: how many characters to delete; `position + length` must not exceed the text's length.
    ///   - replica: the editing replica (a deletion does not mint ids; the parameter keeps edits uniform).
    /// - Throws: ``NeuroplexError`` with code `position_out_of_range` if the range is outside the text.
    @discardableResult
    public mutating func delete(at position: Int, length count: Int, by replica: ReplicaID) throws(NeuroplexError)
        -> TextCRDT
    {
        guard position >= 0, count >= 0, position <= length, count <= length - position else {
            throw .positionOutOfRange(
                "delete range \(position)..<\(position &+ count) is outside the text (length \(length))")
        }
        guard count > 0 else { return TextCRDT() }
        var (node, offset, _) = locate(position)
        if offset > 0 { node = split(node, at: offset).right }
        let firstDeleted = nodes[node].firstID
        var lastDeleted = firstDeleted
        var deleted: [(replica: Int32, counters: Range<Int>)] = []
        var remaining = count
        while true {
            while nodes[node].isDeleted { node = nodes[node].next }
            if nodes[node].length > remaining { node = split(node, at: remaining).left }
            nodes[node].isDeleted = true
            let item = nodes[node]
            remaining -= item.length
            lastDeleted = item.lastID
            if let last = deleted.last, last.replica == item.replica, last.counters.upperBound == item.counter {
                deleted[deleted.count - 1].counters = last.counters.lowerBound..<(item.counter + item.length)
            } else {
                deleted.append((item.replica, item.counters))
            }
            if remaining == 0 { break }
            node = item.next
        }
        length -= count
        joinTombstones(from: firstDeleted, through: lastDeleted)
        cursor = TextCursor(node: owner(of: firstDeleted), start: position)

        var delta = TextCRDT()
        for part in deleted {
            let slot = delta.slot(for: replicas[Int(part.replica)])
            delta.pendingDeletions[slot, default: CounterRanges()].insert(part.counters)
        }
        return delta
    }

    /// Joins the runs holding `first` through `last`, and their neighbours, where they form one run again.
    mutating func joinTombstones(from first: CharID, through last: CharID) {
        var node = owner(of: first)
        if nodes[node].previous >= 0 { node = nodes[node].previous }
        while nodes[node].next >= 0 {
            if let joined = joinWithNext(node) {
                node = joined
            } else if nodes[node].contains(last) {
                break
            } else {
                node = nodes[node].next
            }
        }
    }

    /// Joins another document state or delta into this one.
    ///
    /// Characters whose origins are missing wait and are placed when the origins arrive.
    /// Complexity: O(characters of `other` + items between the origins of each new run).
    public mutating func merge(_ other: TextCRDT) {
        cursor = nil
        let slots = other.replicas.map { slot(for: $0) }
        func translated(_ id: CharID) -> CharID {
            id.isNone ? id : CharID(replica: slots[Int(id.replica)], counter: id.counter)
        }

        var node = other.head
        while node >= 0 {
            let item = other.nodes[node]
            addUnknown(
                of: slots[Int(item.replica)], counter: item.counter,
                scalars: other.columns[Int(item.replica)].scalars[item.counters],
                originLeft: translated(item.originLeft), originRight: translated(item.originRight))
            node = item.next
        }
        for run in other.pending {
            addUnknown(
                of: slots[Int(run.replica)], counter: run.counter, scalars: run.scalars[...],
                originLeft: translated(run.originLeft), originRight: translated(run.originRight))
        }
        placePending()

        node = other.head
        while node >= 0 {
            let item = other.nodes[node]
            if item.isDeleted { applyDeletion(of: slots[Int(item.replica)], counters: item.counters) }
            node = item.next
        }
        for (slot, ranges) in other.pendingDeletions {
            for counters in ranges.ranges { applyDeletion(of: slots[Int(slot)], counters: counters) }
        }
    }
}

extension TextCRDT: Equatable {
    /// Two documents are equal when they hold the same characters (ids, order, deletion) and the same
    /// waiting insertions and deletions, however their runs happen to be cut.
    public static func == (a: TextCRDT, b: TextCRDT) -> Bool {
        a.length == b.length && a.normalizedRuns() == b.normalizedRuns()
            && a.normalizedRanges(a.pendingCounters) == b.normalizedRanges(b.pendingCounters)
            && a.normalizedRanges(a.pendingDeletions) == b.normalizedRanges(b.pendingDeletions)
            && a.text == b.text
    }

    /// One maximal run of the list, for comparison.
    private struct Run: Equatable {
        var replica: ReplicaID
        var counters: Range<Int>
        var isDeleted: Bool
    }

    private func normalizedRuns() -> [Run] {
        var runs: [Run] = []
        var node = head
        while node >= 0 {
            let item = nodes[node]
            let replica = replicas[Int(item.replica)]
            if let last = runs.last, last.replica == replica, last.isDeleted == item.isDeleted,
                last.counters.upperBound == item.counter
            {
                runs[runs.count - 1].counters = last.counters.lowerBound..<(item.counter + item.length)
            } else {
                runs.append(Run(replica: replica, counters: item.counters, isDeleted: item.isDeleted))
            }
            node = item.next
        }
        return runs
    }

    private func normalizedRanges(_ ranges: [Int32: CounterRanges]) -> [ReplicaID: [Range<Int>]] {
        var result: [ReplicaID: [Range<Int>]] = [:]
        for (slot, set) in ranges where !set.isEmpty { result[replicas[Int(slot)]] = set.ranges }
        return result
    }
}
