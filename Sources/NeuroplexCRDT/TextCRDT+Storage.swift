/// The run list behind ``TextCRDT``: replica slots, node allocation, splitting and joining runs, and
/// finding the node at a visible position.
extension TextCRDT {
    // MARK: Replicas and ids

    /// The slot of `replica` in the replica table, added if new.
    ///
    /// Small tables (every delta, most documents) are searched directly; `replicaSlots` indexes larger ones,
    /// so a delta costs no dictionary.
    mutating func slot(for replica: ReplicaID) -> Int32 {
        if let slot = existingSlot(for: replica) { return slot }
        let slot = Int32(replicas.count)
        replicas.append(replica)
        columns.append(ReplicaColumn())
        if replicas.count > Self.directSearchLimit {
            if replicaSlots.isEmpty {
                for (index, known) in replicas.enumerated() { replicaSlots[known] = Int32(index) }
            } else {
                replicaSlots[replica] = slot
            }
        }
        return slot
    }

    /// The slot of `replica`, or `nil` if the document has never seen it.
    func existingSlot(for replica: ReplicaID) -> Int32? {
        if replicaSlots.isEmpty {
            return replicas.firstIndex(of: replica).map { Int32($0) }
        }
        return replicaSlots[replica]
    }

    /// Up to this many replicas, a slot is found by searching the table.
    static var directSearchLimit: Int { 8 }

    /// The node holding `id`, or -1 if the character is not placed.
    func owner(of id: CharID) -> Int {
        guard !id.isNone else { return -1 }
        let column = columns[Int(id.replica)]
        guard id.counter >= 0, id.counter < column.owners.count else { return -1 }
        return Int(column.owners[id.counter])
    }

    func isPlaced(_ id: CharID) -> Bool { owner(of: id) >= 0 }

    /// The next counter `replica` may use: above every character of it this document knows.
    func nextCounter(of replica: Int32) -> Int {
        max(columns[Int(replica)].scalars.count, pendingCounters[replica]?.upperBound ?? 0)
    }

    /// Records that the characters `counters` of `replica` live in node `slot`.
    mutating func setOwner(_ slot: Int, replica: Int32, counters: Range<Int>) {
        let owner = Int32(slot)
        columns[Int(replica)].owners.withUnsafeMutableBufferPointer { owners in
            for counter in counters { owners[counter] = owner }
        }
    }

    // MARK: Nodes

    /// Stores `node` in a free slot and returns the slot; the node is not linked yet.
    mutating func allocate(_ node: TextNode) -> Int {
        if let slot = freeSlots.popLast() {
            nodes[Int(slot)] = node
            return Int(slot)
        }
        nodes.append(node)
        return nodes.count - 1
    }

    /// Links the unlinked node `slot` after `previous` (-1: at the start).
    mutating func link(_ slot: Int, after previous: Int) {
        let next = previous < 0 ? head : nodes[previous].next
        nodes[slot].previous = previous
        nodes[slot].next = next
        if previous < 0 { head = slot } else { nodes[previous].next = slot }
        if next < 0 { tail = slot } else { nodes[next].previous = slot }
    }

    /// Whether `node` can absorb a following run of `replica` starting at `counter` with these origins.
    func canAppend(
        to node: TextNode, replica: Int32, counter: Int, originLeft: CharID, originRight: CharID, isDeleted: Bool
    ) -> Bool {
        node.replica == replica && node.counter + node.length == counter && node.isDeleted == isDeleted
            && originLeft == node.lastID && originRight == node.originRight
    }

    /// Splits node `slot` after its first `offset` characters (`0 < offset < length`).
    ///
    /// The shorter part moves to a new slot, so a character's owner changes O(log n) times over any history.
    /// - Returns: the slots of the left and right parts.
    mutating func split(_ slot: Int, at offset: Int) -> (left: Int, right: Int) {
        let original = nodes[slot]
        var left = original
        left.length = offset
        var right = original
        right.counter += offset
        right.length -= offset
        right.originLeft = CharID(replica: original.replica, counter: original.counter + offset - 1)
        if right.length <= left.length {
            let moved = allocate(right)
            nodes[slot] = left
            link(moved, after: slot)
            setOwner(moved, replica: original.replica, counters: right.counters)
            return (slot, moved)
        } else {
            let moved = allocate(left)
            nodes[slot] = right
            link(moved, after: original.previous)
            setOwner(moved, replica: original.replica, counters: left.counters)
            if cursor?.node == slot { cursor?.node = moved }
            return (moved, slot)
        }
    }

    /// Joins node `slot` with the node after it when the two form one run.
    ///
    /// The longer part keeps its slot and the shorter part's characters move, as in ``split(_:at:)``.
    /// - Returns: the slot of the joined node, or `nil` if the two do not form one run.
    @discardableResult
    mutating func joinWithNext(_ slot: Int) -> Int? {
        let first = nodes[slot]
        let nextSlot = first.next
        guard nextSlot >= 0 else { return nil }
        let second = nodes[nextSlot]
        guard canAppend(
            to: first, replica: second.replica, counter: second.counter,
            originLeft: second.originLeft, originRight: second.originRight, isDeleted: second.isDeleted)
        else { return nil }
        var joined = first
        joined.length += second.length
        joined.next = second.next
        let (kept, freed) = first.length >= second.length ? (slot, nextSlot) : (nextSlot, slot)
        if var remembered = cursor, remembered.node == slot || remembered.node == nextSlot {
            if remembered.node == nextSlot { remembered.start -= first.visibleLength }
            remembered.node = kept
            cursor = remembered
        }
        nodes[kept] = joined
        if joined.previous < 0 { head = kept } else { nodes[joined.previous].next = kept }
        if joined.next < 0 { tail = kept } else { nodes[joined.next].previous = kept }
        setOwner(kept, replica: joined.replica, counters: freed == nextSlot ? second.counters : first.counters)
        freeSlots.append(Int32(freed))
        return kept
    }

    // MARK: Positions

    /// The node holding visible character `index` (`0 <= index < length`), the character's offset in it, and
    /// the visible offset where the node starts.
    ///
    /// Starts from the closest of the document's start, its end and the cursor left by the last local edit,
    /// so edits near the previous one (typing) cost O(1) node steps.
    func locate(_ index: Int) -> (node: Int, offset: Int, start: Int) {
        var node = head
        var start = 0
        let fromEnd = length - nodes[tail].visibleLength
        if length - index < index {
            node = tail
            start = fromEnd
        }
        if let cursor, abs(cursor.start - index) < abs(start - index) {
            node = cursor.node
            start = cursor.start
        }
        if index >= start {
            while index >= start + nodes[node].visibleLength {
                start += nodes[node].visibleLength
                node = nodes[node].next
            }
        } else {
            while start > index {
                node = nodes[node].previous
                start -= nodes[node].visibleLength
            }
        }
        return (node, index - start, start)
    }
}
