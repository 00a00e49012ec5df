/// Placing runs that come from other replicas: the FugueMax rule, waiting for missing origins, deletions.
extension TextCRDT {
    /// `id` of document `source`, renumbered into this document's replica slots.
    mutating func adopt(_ id: CharID, from source: TextCRDT) -> CharID {
        id.isNone ? id : CharID(replica: slot(for: source.replicas[Int(id.replica)]), counter: id.counter)
    }

    /// Whether this document holds character `counter` of `replica`, placed or waiting.
    func isKnown(_ replica: Int32, _ counter: Int) -> Bool {
        isPlaced(CharID(replica: replica, counter: counter)) || pendingCounters[replica]?.contains(counter) == true
    }

    /// Adds the characters of a run that this document does not know yet to the waiting insertions.
    ///
    /// A part cut from the middle of the run gets the character before it as its left origin, which is what
    /// that character's own item says.
    mutating func addUnknown(
        of replica: Int32, counter: Int, scalars: ArraySlice<Unicode.Scalar>, originLeft: CharID, originRight: CharID
    ) {
        let end = counter + scalars.count
        var start = counter
        while start < end {
            if isKnown(replica, start) {
                start += 1
                continue
            }
            var stop = start + 1
            while stop < end, !isKnown(replica, stop) { stop += 1 }
            let offset = scalars.startIndex + (start - counter)
            pending.append(PendingRun(
                replica: replica, counter: start,
                originLeft: start == counter ? originLeft : CharID(replica: replica, counter: start - 1),
                originRight: originRight,
                scalars: Array(scalars[offset..<(offset + stop - start)])))
            pendingCounters[replica, default: CounterRanges()].insert(start..<stop)
            start = stop
        }
    }

    /// The first character `run` needs that is not placed: its replica's previous character (runs of one
    /// replica are placed in counter order, as Yjs does), its left origin, or its right origin.
    func missingDependency(of run: PendingRun) -> CharID? {
        let previous = CharID(replica: run.replica, counter: run.counter - 1)
        if run.counter > 0, !isPlaced(previous) { return previous }
        if !run.originLeft.isNone, !isPlaced(run.originLeft) { return run.originLeft }
        if !run.originRight.isNone, !isPlaced(run.originRight) { return run.originRight }
        return nil
    }

    /// Places every waiting run whose dependencies are present, each as soon as the last one arrives.
    ///
    /// Complexity: O(waiting runs + characters placed + the scans of ``place(_:)``).
    mutating func placePending() {
        guard !pending.isEmpty else { return }
        var work = Array(pending.reversed())
        pending.removeAll()
        var waiting: [CharID: [PendingRun]] = [:]
        while let run = work.popLast() {
            if let missing = missingDependency(of: run) {
                waiting[missing, default: []].append(run)
                continue
            }
            place(run)
            guard !waiting.isEmpty else { continue }
            for counter in run.counters {
                if let ready = waiting.removeValue(forKey: CharID(replica: run.replica, counter: counter)) {
                    work.append(contentsOf: ready.reversed())
                }
            }
        }
        pending = waiting.values.flatMap { $0 }
    }

    /// Puts a run whose dependencies are placed into the list, where FugueMax orders it.
    mutating func place(_ run: PendingRun) {
        let replica = run.replica
        let counters = run.counters
        _ = pendingCounters[replica]?.remove(counters)
        if pendingCounters[replica]?.isEmpty == true { pendingCounters[replica] = nil }
        columns[Int(replica)].grow(to: counters.upperBound)
        columns[Int(replica)].scalars.replaceSubrange(counters, with: run.scalars)

        // Cut the list so the left origin ends a node and the right origin starts one.
        var leftNode = -1
        if !run.originLeft.isNone {
            leftNode = owner(of: run.originLeft)
            let offset = run.originLeft.counter - nodes[leftNode].counter
            if offset + 1 < nodes[leftNode].length { leftNode = split(leftNode, at: offset + 1).left }
        }
        var rightNode = -1
        if !run.originRight.isNone {
            rightNode = owner(of: run.originRight)
            let offset = run.originRight.counter - nodes[rightNode].counter
            if offset > 0 { rightNode = split(rightNode, at: offset).right }
        }

        var between: [Int] = []
        var node = leftNode < 0 ? head : nodes[leftNode].next
        while node >= 0, node != rightNode {
            between.append(node)
            node = nodes[node].next
        }
        let destination = between.isEmpty ? 0 : fugueDestination(of: run, among: between)
        let next = destination < between.count ? between[destination] : rightNode
        let previous = next < 0 ? tail : nodes[next].previous

        if previous >= 0, canAppend(
            to: nodes[previous], replica: replica, counter: run.counter,
            originLeft: run.originLeft, originRight: run.originRight, isDeleted: false)
        {
            nodes[previous].length += counters.count
            setOwner(previous, replica: replica, counters: counters)
            joinWithNext(previous)  // the run may close the gap between two parts of one run
        } else {
            let slot = allocate(TextNode(
                replica: replica, counter: run.counter, length: counters.count,
                originLeft: run.originLeft, originRight: run.originRight, isDeleted: false))
            link(slot, after: previous)
            setOwner(slot, replica: replica, counters: counters)
            joinWithNext(slot)
        }
        length += counters.count

        if var deletions = pendingDeletions[replica] {
            let due = deletions.remove(counters)
            pendingDeletions[replica] = deletions.isEmpty ? nil : deletions
            for part in due { applyDeletion(of: replica, counters: part) }
        }
    }

    /// Where among the nodes strictly between a run's origins the run goes (an index into `between`;
    /// `between.count` means just before the right origin).
    ///
    /// This is Gentle's YjsMod scan (reference-crdts), which *The Art of the Fugue* proves equivalent to
    /// FugueMax, applied per node: the characters after a node's first have their predecessor as left
    /// origin, so only a node's first character can end the scan or change `scanning`.
    func fugueDestination(of run: PendingRun, among between: [Int]) -> Int {
        var order: [Int: Int] = [:]
        order.reserveCapacity(between.count)
        for (index, node) in between.enumerated() { order[node] = index }

        var destination = 0
        var scanning = false
        var stopped = false
        for (index, slot) in between.enumerated() {
            if !scanning { destination = index }
            let other = nodes[slot]
            if other.originLeft != run.originLeft {
                // The other's left origin is either before ours (it belongs further left: stop) or inside
                // the range (it hangs off an item we passed: skip it).
                guard !other.originLeft.isNone, let position = order[owner(of: other.originLeft)], position < index
                else {
                    stopped = true
                    break
                }
                continue
            }
            // Same left origin: compare right origins by position.
            if other.originRight == run.originRight {
                let ours = (replicas[Int(run.replica)], run.counter)
                let theirs = (replicas[Int(other.replica)], other.counter)
                if ours < theirs {
                    stopped = true
                    break
                }
                scanning = false
            } else if run.originRight.isNone {
                scanning = true  // theirs is before the end, ours is the end
            } else if other.originRight.isNone {
                scanning = false  // theirs is the end, after ours
            } else {
                scanning = order[owner(of: other.originRight)] != nil  // inside the range: before ours
            }
        }
        if !stopped, !scanning { destination = between.count }
        return destination
    }

    /// Marks the characters `counters` of `replica` deleted, remembering those not placed yet.
    mutating func applyDeletion(of replica: Int32, counters: Range<Int>) {
        var counter = counters.lowerBound
        while counter < counters.upperBound {
            let id = CharID(replica: replica, counter: counter)
            var node = owner(of: id)
            guard node >= 0 else {
                // Nothing beyond the column is placed, so only a gap inside it needs a character-wise walk.
                let placedEnd = columns[Int(replica)].owners.count
                var stop = counter + 1
                if counter >= placedEnd {
                    stop = counters.upperBound
                } else {
                    while stop < min(counters.upperBound, placedEnd), !isPlaced(CharID(replica: replica, counter: stop)) {
                        stop += 1
                    }
                }
                pendingDeletions[replica, default: CounterRanges()].insert(counter..<stop)
                counter = stop
                continue
            }
            let end = min(counters.upperBound, nodes[node].counters.upperBound)
            if !nodes[node].isDeleted {
                let offset = counter - nodes[node].counter
                if offset > 0 { node = split(node, at: offset).right }
                if end < nodes[node].counters.upperBound { node = split(node, at: end - nodes[node].counter).left }
                nodes[node].isDeleted = true
                length -= end - counter
                joinTombstones(from: id, through: CharID(replica: replica, counter: end - 1))
            }
            counter = end
        }
    }
}
