public import NeuroplexCore

/// CRDT operations throw ``NeuroplexError`` values with these stable codes.
extension NeuroplexError.Code {
    /// A text position or range lies outside the document.
    public static let positionOutOfRange: Self = "position_out_of_range"
    /// A graph edge names a vertex the graph does not have.
    public static let vertexNotFound: Self = "vertex_not_found"
}

extension NeuroplexError {
    /// A text position or range outside the document (a bad request).
    static func positionOutOfRange(_ message: String) -> NeuroplexError {
        NeuroplexError(.badRequest, code: .positionOutOfRange, message)
    }

    /// An edge end that is not a vertex.
    static func vertexNotFound(_ id: String) -> NeuroplexError {
        NeuroplexError(.notFound, code: .vertexNotFound, "vertex '\(id)' does not exist")
    }
}
