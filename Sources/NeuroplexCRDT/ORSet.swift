/// An add-wins observed-remove set: a remove deletes only the adds it has seen.
///
/// Each add is tagged with a fresh ``Dot``; an element is in the set while some dot of it survives. A remove
/// (or ``clear()``) records the dots it observed in the causal context, so an add made concurrently
/// elsewhere (a dot the remove never saw) survives the merge: add wins. There are no tombstones per element;
/// the compact ``CausalContext`` remembers what was removed (Bieniusa et al., arXiv 1210.3368; the delta form
/// follows Almeida et al., arXiv 1603.01529, `AWORSet`).
///
/// ```swift
/// var tags = ORSet<String>()
/// let delta = tags.add("swift", at: "a")
/// tags.contains("swift")   // true
/// ```
public struct ORSet<Element: Hashable & Codable & Sendable>: DeltaCRDT {
    var store: DotMap<Element, Presence>
    /// Every add and remove this state has seen.
    public private(set) var context: CausalContext

    /// An empty set.
    public init() {
        store = DotMap()
        context = CausalContext()
    }

    /// The elements in the set.
    public var elements: Set<Element> { Set(store.entries.keys) }

    /// The number of elements.
    public var count: Int { store.entries.count }

    /// Whether the set is empty.
    public var isEmpty: Bool { store.entries.isEmpty }

    /// Whether `element` is in the set.
    public func contains(_ element: Element) -> Bool { store.entries[element] != nil }

    /// Adds `element` on behalf of `replica`; returns the delta.
    ///
    /// The new add replaces the adds of `element` this replica has seen, so the set does not grow with repeats.
    @discardableResult
    public mutating func add(_ element: Element, at replica: ReplicaID) -> ORSet {
        let dot = context.makeDot(for: replica)
        var delta = ORSet()
        delta.context = CausalContext(dots: store.dots(of: element) + [dot])
        delta.store.entries[element] = [dot: Presence()]
        store.entries[element] = [dot: Presence()]
        return delta
    }

    /// Removes `element` as far as this replica has seen it; returns the delta.
    ///
    /// Adds of `element` made concurrently on other replicas survive the merge. Removing an absent element
    /// returns an empty delta.
    @discardableResult
    public mutating func remove(_ element: Element) -> ORSet {
        var delta = ORSet()
        delta.context = CausalContext(dots: store.removeValue(forKey: element))
        return delta
    }

    /// Removes every element this replica has seen; returns the delta.
    @discardableResult
    public mutating func clear() -> ORSet {
        var delta = ORSet()
        delta.context = CausalContext(dots: store.allDots)
        store.entries.removeAll()
        return delta
    }

    /// Joins another state or delta into this set.
    ///
    /// Complexity: O(size of both).
    public mutating func merge(_ other: ORSet) {
        store.join(other.store, context: context, otherContext: other.context)
        context.formUnion(other.context)
    }
}

/// The payload of an ``ORSet`` dot: the dot itself is all an element needs.
struct Presence: Hashable, Sendable, Codable {}

extension ORSet: Codable {
    private enum CodingKeys: String, CodingKey {
        case elements, context
    }

    /// One element with the dots of its adds, as encoded.
    private struct Entry: Codable {
        var element: Element
        var dots: [Dot]
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init()
        context = try container.decode(CausalContext.self, forKey: .context)
        for entry in try container.decode([Entry].self, forKey: .elements) {
            for dot in entry.dots { store.entries[entry.element, default: [:]][dot] = Presence() }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        let entries = store.entries.map { Entry(element: $0.key, dots: $0.value.keys.sorted()) }
        try container.encode(entries, forKey: .elements)
        try container.encode(context, forKey: .context)
    }
}
