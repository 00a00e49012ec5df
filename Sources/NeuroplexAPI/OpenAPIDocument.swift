import Foundation
import NeuroplexCore
import NeuroplexGateway
import Yams

/// The API contract (`openapi.yaml`, bundled as a resource), read once at start.
///
/// It is served as JSON at `/openapi.json`, rendered as HTML at `/docs`, and it is where each operation declares
/// the scope it needs (`x-neuroplex-scope`), so that the contract and the checks enforced cannot drift apart.
struct OpenAPIDocument: Sendable {
    /// Who may call an operation.
    enum Access: Sendable, Equatable {
        case open
        case scope(Scope)
    }

    /// One operation, as the docs page shows it.
    struct Operation: Sendable {
        var method: String
        var path: String
        var operationID: String
        var summary: String
        var description: String
        var tag: String
        var access: Access
        var parameters: [(name: String, location: String, description: String)]
        var requestSchema: String?
        var responses: [(status: String, description: String)]
    }

    /// The document as JSON.
    let json: Data
    let title: String
    let version: String
    let description: String
    let operations: [Operation]
    /// `"GET /keys/{id}"` (method and path template, as the generated server registers them) → who may call it.
    let access: [String: Access]

    /// The key of ``access`` for a route.
    static func route(_ method: String, _ path: String) -> String { method.uppercased() + " " + path }

    /// Loads the bundled contract.
    static func bundled() throws -> OpenAPIDocument {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else {
            throw NeuroplexError(.internal, code: .internal, "openapi.yaml is missing from the bundle")
        }
        return try OpenAPIDocument(yaml: String(contentsOf: url, encoding: .utf8))
    }

    /// Parses a contract.
    /// - Throws: when the YAML does not parse or an operation does not declare `x-neuroplex-scope`.
    init(yaml: String) throws {
        guard let node = try Yams.compose(yaml: yaml) else {
            throw NeuroplexError(.internal, code: .internal, "openapi.yaml is empty")
        }
        let root = Self.plain(node) as? [String: Any] ?? [:]
        self.json = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
        let info = root["info"] as? [String: Any] ?? [:]
        self.title = info["title"] as? String ?? "API"
        self.version = info["version"] as? String ?? ""
        self.description = info["description"] as? String ?? ""
        var operations: [Operation] = []
        var access: [String: Access] = [:]
        let paths = root["paths"] as? [String: Any] ?? [:]
        for path in paths.keys.sorted() {
            guard let item = paths[path] as? [String: Any] else { continue }
            let shared = item["parameters"] as? [Any] ?? []
            for method in ["get", "head", "put", "post", "patch", "delete"] {
                guard let op = item[method] as? [String: Any], let id = op["operationId"] as? String else { continue }
                guard let declared = op["x-neuroplex-scope"] as? String else {
                    throw NeuroplexError(
                        .internal, code: .internal, "operation \(id) does not declare x-neuroplex-scope")
                }
                let rule: Access = declared == "public" ? .open : .scope(Scope(rawValue: declared))
                access[Self.route(method, path)] = rule
                let parameters = (shared + (op["parameters"] as? [Any] ?? [])).compactMap { raw -> (String, String, String)? in
                    guard let parameter = Self.resolve(raw, in: root) else { return nil }
                    return (
                        parameter["name"] as? String ?? "?", parameter["in"] as? String ?? "?",
                        parameter["description"] as? String ?? ""
                    )
                }
                let body = (op["requestBody"] as? [String: Any])?["content"] as? [String: Any]
                let schema = ((body?["application/json"] as? [String: Any])?["schema"] as? [String: Any])?["$ref"]
                    as? String
                let responses = (op["responses"] as? [String: Any] ?? [:]).keys.sorted().map { status in
                    let response = Self.resolve((op["responses"] as? [String: Any])?[status], in: root)
                    return (status, response?["description"] as? String ?? "")
                }
                operations.append(
                    Operation(
                        method: method.uppercased(), path: path, operationID: id,
                        summary: op["summary"] as? String ?? "", description: op["description"] as? String ?? "",
                        tag: (op["tags"] as? [String])?.first ?? "Other", access: rule, parameters: parameters,
                        requestSchema: schema.map { String($0.split(separator: "/").last ?? "") },
                        responses: responses))
            }
        }
        self.operations = operations
        self.access = access
    }

    /// Follows a local `$ref` (`#/components/...`) one level.
    private static func resolve(_ value: Any?, in root: [String: Any]) -> [String: Any]? {
        guard let object = value as? [String: Any] else { return nil }
        guard let ref = object["$ref"] as? String, ref.hasPrefix("#/") else { return object }
        var current: Any? = root
        for part in ref.dropFirst(2).split(separator: "/") {
            current = (current as? [String: Any])?[String(part)]
        }
        return current as? [String: Any]
    }

    /// A YAML node as Foundation JSON values, with scalars typed by their resolved YAML tag.
    private static func plain(_ node: Node) -> Any {
        switch node {
        case .scalar(let scalar):
            switch String(describing: node.tag) {
            case "tag:yaml.org,2002:null": return NSNull()
            case "tag:yaml.org,2002:bool": return node.bool ?? scalar.string
            case "tag:yaml.org,2002:int": return node.int ?? scalar.string
            case "tag:yaml.org,2002:float": return node.float ?? scalar.string
            default: return scalar.string
            }
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping { object[key.string ?? "\(key)"] = plain(value) }
            return object
        case .sequence(let sequence):
            return sequence.map(plain)
        default:
            return NSNull()
        }
    }
}
