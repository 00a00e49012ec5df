/// A Redis-style glob over keys: `*` any run, `?` one character, `[abc]`, `[^a]`, `[a-z]`, `\` escapes.
///
/// Matching works on Unicode scalars, so `?` is one character however many bytes it takes.
public struct GlobPattern: Sendable, Hashable, CustomStringConvertible {
    private enum Token: Sendable, Hashable {
        case literal(Unicode.Scalar)
        case any
        case anyRun
        case set(ranges: [ClosedRange<Unicode.Scalar>], negated: Bool)
    }

    public let description: String
    private let tokens: [Token]
    /// The literal text before the first wildcard: lets callers skip keys cheaply.
    public let literalPrefix: String

    /// Every key.
    public static let all = GlobPattern("*")

    public init(_ pattern: String) {
        description = pattern
        var tokens: [Token] = []
        var scalars = Array(pattern.unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "*":
                if tokens.last != .anyRun { tokens.append(.anyRun) }
            case "?":
                tokens.append(.any)
            case "\\":
                tokens.append(.literal(scalars.popFirst() ?? "\\"))
            case "[":
                var negated = false
                if scalars.first == "^" {
                    negated = true
                    scalars.removeFirst()
                }
                var ranges: [ClosedRange<Unicode.Scalar>] = []
                var closed = false
                while let next = scalars.popFirst() {
                    if next == "]" {
                        closed = true
                        break
                    }
                    var low = next
                    if low == "\\", let escaped = scalars.popFirst() { low = escaped }
                    if scalars.first == "-", scalars.count >= 2, scalars[scalars.index(after: scalars.startIndex)] != "]" {
                        scalars.removeFirst()
                        var high = scalars.removeFirst()
                        if high == "\\", let escaped = scalars.popFirst() { high = escaped }
                        ranges.append(min(low, high)...max(low, high))
                    } else {
                        ranges.append(low...low)
                    }
                }
                // An unclosed bracket matches itself literally, as Redis does.
                tokens.append(closed ? .set(ranges: ranges, negated: negated) : .literal("["))
            default:
                tokens.append(.literal(scalar))
            }
        }
        self.tokens = tokens
        var prefix = String.UnicodeScalarView()
        for token in tokens {
            guard case .literal(let scalar) = token else { break }
            prefix.append(scalar)
        }
        literalPrefix = String(prefix)
    }

    /// Whether `key` matches the whole pattern.
    public func matches(_ key: String) -> Bool {
        if tokens.count == 1, tokens[0] == .anyRun { return true }
        if !literalPrefix.isEmpty, !key.hasPrefix(literalPrefix) { return false }
        let scalars = Array(key.unicodeScalars)
        // Iterative matcher with one backtracking point for the last `*` (linear for typical patterns).
        var t = 0
        var s = 0
        var starToken = -1
        var starScalar = 0
        while s < scalars.count {
            if t < tokens.count {
                switch tokens[t] {
                case .anyRun:
                    starToken = t
                    starScalar = s
                    t += 1
                    continue
                case .any:
                    t += 1
                    s += 1
                    continue
                case .literal(let literal) where literal == scalars[s]:
                    t += 1
                    s += 1
                    continue
                case .set(let ranges, let negated)
                where ranges.contains(where: { $0.contains(scalars[s]) }) != negated:
                    t += 1
                    s += 1
                    continue
                default:
                    break
                }
            }
            guard starToken >= 0 else { return false }
            starScalar += 1
            s = starScalar
            t = starToken + 1
        }
        while t < tokens.count, tokens[t] == .anyRun { t += 1 }
        return t == tokens.count
    }
}
