import HTTPTypes
import Hummingbird
import NeuroplexCore
import NeuroplexMemory

/// Causal context tokens on the memory routes, for read-your-writes and monotonic reads across nodes.
///
/// Every memory write answers with `Neuroplex-Causal-Token: c1:<position>`. A request that sends a token back in
/// the same header is served only once this node has seen everything up to it (it waits up to 5 s, then answers
/// 503 `causal_token_not_reached` with `Retry-After`), and its answer carries the node's current token, so a
/// session that always sends the last token it got never reads older data than it wrote or read before.
struct CausalTokens: Sendable {
    static let header = HTTPField.Name("Neuroplex-Causal-Token")!
    let memory: Memory
    var timeout: Duration = .seconds(5)

    /// Runs `body` after the request's token (if any) is reached, and stamps the answer with the current token
    /// when the request wrote or sent a token.
    func around(
        _ request: Request, _ body: () async throws -> Response
    ) async throws -> Response {
        let sent = request.headers[Self.header]
        if let sent {
            let reached: Bool
            do {
                reached = try await memory.waitUntilSeen(sent, timeout: timeout)
            } catch let error as NeuroplexError {
                throw NeuroplexError(.badRequest, code: error.code, error.message, field: Self.header.rawName)
            }
            guard reached else {
                throw NeuroplexError(
                    .unavailable, code: "causal_token_not_reached",
                    "this node has not yet seen the changes up to '\(sent)'; retry, or ask another node",
                    retryAfterSeconds: 1)
            }
        }
        var response = try await body()
        if sent != nil || (request.method != .get && request.method != .head) {
            response.headers[Self.header] = memory.causalToken
        }
        return response
    }
}
