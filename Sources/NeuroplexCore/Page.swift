import Foundation

/// One page of a list, in the shape every list route answers: `{data: [...], nextCursor?}`.
public struct Page<Element: Sendable>: Sendable {
    /// The items of this page.
    public var items: [Element]
    /// Pass this back as `cursor` for the next page; `nil` on the last page.
    public var nextCursor: String?

    public init(items: [Element], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

/// A validated page request: a limit within bounds and an optional opaque cursor.
public struct PageRequest: Sendable, Equatable {
    public static let defaultLimit = 100
    public static let maximumLimit = 1000

    public var limit: Int
    /// The position after which the page starts (decoded from the client's cursor).
    public var after: String?

    /// Validates the client's `limit` and `cursor`.
    /// - Throws: ``NeuroplexError`` `validation_failed` naming `limit` or `cursor`.
    public init(limit: Int?, cursor: String?) throws {
        let limit = limit ?? Self.defaultLimit
        guard (1...Self.maximumLimit).contains(limit) else {
            throw NeuroplexError.invalid("limit", "limit must be between 1 and \(Self.maximumLimit)")
        }
        self.limit = limit
        if let cursor {
            guard let position = Self.decode(cursor) else {
                throw NeuroplexError.invalid("cursor", "cursor is not one this server handed out")
            }
            self.after = position
        }
    }

    /// The opaque cursor for a position: base64url, so that clients treat it as a token and not a key.
    public static func cursor(after position: String) -> String {
        Data(("c1:" + position).utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String) -> String? {
        var base64 = cursor.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8),
            text.hasPrefix("c1:")
        else { return nil }
        return String(text.dropFirst(3))
    }
}
