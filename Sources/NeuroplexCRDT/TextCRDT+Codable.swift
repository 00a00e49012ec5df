extension TextCRDT: Codable {
    private enum CodingKeys: String, CodingKey {
        case items, pending, pendingDeletions
    }

    /// A character id as encoded.
    private struct EncodedID: Codable {
        var replica: ReplicaID
        var counter: Int
    }

    /// A run of characters as encoded: the list's items in order, then the waiting insertions.
    private struct EncodedRun: Codable {
        var replica: ReplicaID
        var counter: Int
        var text: String
        var left: EncodedID?
        var right: EncodedID?
        var deleted: Bool?
    }

    /// Deleted counters of one replica whose characters have not arrived.
    private struct EncodedDeletion: Codable {
        var replica: ReplicaID
        var start: Int
        var end: Int
    }

    /// Decodes a document written by ``encode(to:)``.
    ///
    /// - Throws: `DecodingError.dataCorrupted` if a character appears twice, a counter is negative, a run is
    ///   empty, or a replica's placed characters leave a gap that no waiting insertion fills.
    public init(from decoder: any Decoder) throws {
        self.init()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func corrupted(_ message: String) -> DecodingError {
            .dataCorrupted(DecodingError.Context(codingPath: container.codingPath, debugDescription: message))
        }
        func id(_ encoded: EncodedID?) throws -> CharID {
            guard let encoded else { return .none }
            guard encoded.counter >= 0 else { throw corrupted("negative counter") }
            return CharID(replica: slot(for: encoded.replica), counter: encoded.counter)
        }

        let items = try container.decode([EncodedRun].self, forKey: .items)
        let waiting = try container.decodeIfPresent([EncodedRun].self, forKey: .pending) ?? []
        // Columns are dense by counter: the placed runs of a replica may leave only gaps its waiting runs can
        // fill, or a small input could claim a lot of memory.
        var extent: [ReplicaID: (characters: Int, end: Int)] = [:]
        for (run, isPlaced) in items.map({ ($0, true) }) + waiting.map({ ($0, false) }) {
            let count = run.text.unicodeScalars.count
            guard run.counter >= 0, count > 0, run.counter <= Int(Int32.max) else {
                throw corrupted("empty run or bad counter")
            }
            let known = extent[run.replica] ?? (0, 0)
            extent[run.replica] = (known.characters + count, isPlaced ? max(known.end, run.counter + count) : known.end)
        }
        guard extent.values.allSatisfy({ $0.end <= $0.characters }) else {
            throw corrupted("a replica's counters have gaps")
        }

        for run in items {
            let scalars = Array(run.text.unicodeScalars)
            let replica = slot(for: run.replica)
            let counters = run.counter..<(run.counter + scalars.count)
            columns[Int(replica)].grow(to: counters.upperBound)
            guard !counters.contains(where: { columns[Int(replica)].owners[$0] >= 0 }) else {
                throw corrupted("character \(run.replica):\(run.counter) appears twice")
            }
            columns[Int(replica)].scalars.replaceSubrange(counters, with: scalars)
            let node = allocate(TextNode(
                replica: replica, counter: run.counter, length: scalars.count,
                originLeft: try id(run.left), originRight: try id(run.right), isDeleted: run.deleted ?? false))
            link(node, after: tail)
            setOwner(node, replica: replica, counters: counters)
            if run.deleted != true { length += scalars.count }
        }
        for run in waiting {
            addUnknown(
                of: slot(for: run.replica), counter: run.counter, scalars: Array(run.text.unicodeScalars)[...],
                originLeft: try id(run.left), originRight: try id(run.right))
        }
        for (replica, column) in columns.enumerated() {
            for (counter, owner) in column.owners.enumerated() where owner < 0 {
                guard isKnown(Int32(replica), counter) else {
                    throw corrupted("replica \(replicas[replica]) has no character \(counter)")
                }
            }
        }
        placePending()
        for deletion in try container.decodeIfPresent([EncodedDeletion].self, forKey: .pendingDeletions) ?? [] {
            guard deletion.start >= 0, deletion.start <= deletion.end else { throw corrupted("bad deletion range") }
            applyDeletion(of: slot(for: deletion.replica), counters: deletion.start..<deletion.end)
        }
        cursor = nil
    }

    /// Encodes the whole state: the list's runs in order (tombstones included), the insertions waiting for an
    /// origin, and the deletions of characters not here yet.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        func encoded(_ id: CharID) -> EncodedID? {
            id.isNone ? nil : EncodedID(replica: replicas[Int(id.replica)], counter: id.counter)
        }
        var items: [EncodedRun] = []
        var node = head
        while node >= 0 {
            let item = nodes[node]
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: columns[Int(item.replica)].scalars[item.counters])
            items.append(EncodedRun(
                replica: replicas[Int(item.replica)], counter: item.counter, text: String(scalars),
                left: encoded(item.originLeft), right: encoded(item.originRight), deleted: item.isDeleted ? true : nil))
            node = item.next
        }
        try container.encode(items, forKey: .items)
        if !pending.isEmpty {
            let runs = pending.map { run in
                var scalars = String.UnicodeScalarView()
                scalars.append(contentsOf: run.scalars)
                return EncodedRun(
                    replica: replicas[Int(run.replica)], counter: run.counter, text: String(scalars),
                    left: encoded(run.originLeft), right: encoded(run.originRight), deleted: nil)
            }
            try container.encode(runs, forKey: .pending)
        }
        if !pendingDeletions.isEmpty {
            let deletions = pendingDeletions.flatMap { slot, ranges in
                ranges.ranges.map {
                    EncodedDeletion(replica: replicas[Int(slot)], start: $0.lowerBound, end: $0.upperBound)
                }
            }
            try container.encode(deletions, forKey: .pendingDeletions)
        }
    }
}
