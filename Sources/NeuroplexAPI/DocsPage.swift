import NeuroplexGateway

/// The `/docs` page: the operations of the contract as one self-contained HTML page (no scripts, no CDN).
enum DocsPage {
    static func render(_ document: OpenAPIDocument) -> String {
        var html = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(document.title)) \(escape(document.version))</title>
            <style>
            body{font:15px/1.5 system-ui,sans-serif;max-width:980px;margin:2rem auto;padding:0 1rem;color:#1d2330}
            h1{margin-bottom:.2rem} h2{margin-top:2.2rem;border-bottom:1px solid #dde;padding-bottom:.3rem}
            .op{border:1px solid #dde;border-radius:6px;margin:.8rem 0;padding:.6rem .9rem}
            .method{display:inline-block;min-width:4.2rem;font-weight:700;font-family:monospace}
            .GET{color:#1565c0}.POST{color:#2e7d32}.DELETE{color:#c62828}.PUT,.PATCH{color:#ef6c00}
            code,.path{font-family:ui-monospace,monospace} .path{font-weight:600}
            .scope{float:right;font-size:.85em;background:#eef;border-radius:4px;padding:0 .4rem}
            table{border-collapse:collapse;margin:.3rem 0} td{padding:.1rem .8rem .1rem 0;vertical-align:top}
            .muted{color:#667}
            </style></head><body>
            <h1>\(escape(document.title)) <span class="muted">\(escape(document.version))</span></h1>
            <p>The machine-readable contract is at <a href="/openapi.json"><code>/openapi.json</code></a> (OpenAPI 3.1).</p>
            <pre style="white-space:pre-wrap">\(escape(document.description))</pre>

            """
        var tags: [String] = []
        for operation in document.operations where !tags.contains(operation.tag) { tags.append(operation.tag) }
        for tag in tags {
            html += "<h2>\(escape(tag))</h2>\n"
            for operation in document.operations where operation.tag == tag {
                let scope: String
                switch operation.access {
                case .open: scope = "open"
                case .scope(let needed): scope = "scope: " + needed.rawValue
                }
                html += """
                    <div class="op" id="\(escape(operation.operationID))">
                    <span class="scope">\(escape(scope))</span>
                    <span class="method \(operation.method)">\(operation.method)</span> <span class="path">\(escape(operation.path))</span>
                    <div>\(escape(operation.summary))</div>

                    """
                if !operation.description.isEmpty {
                    html += "<p class=\"muted\">\(escape(operation.description))</p>\n"
                }
                if !operation.parameters.isEmpty {
                    html += "<table>"
                    for parameter in operation.parameters {
                        html += "<tr><td><code>\(escape(parameter.name))</code></td><td class=\"muted\">"
                            + "\(escape(parameter.location))</td><td>\(escape(parameter.description))</td></tr>"
                    }
                    html += "</table>\n"
                }
                if let schema = operation.requestSchema {
                    html += "<div>Body: <code>\(escape(schema))</code> (JSON)</div>\n"
                }
                html += "<table>"
                for response in operation.responses {
                    html += "<tr><td><code>\(escape(response.status))</code></td><td>\(escape(response.description))</td></tr>"
                }
                html += "</table></div>\n"
            }
        }
        html += "</body></html>\n"
        return html
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
