import Hummingbird

// Usage: HelloWorld PORT
// GET / is the ceiling of any route; PUT / reads a small body and answers, the ceiling of any route with a body.
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 8081 : 8081
let router = Router()
router.get("/") { _, _ in "Hello, world!" }
router.put("/") { request, _ in
    let body = try await request.body.collect(upTo: 1 << 20)
    return "\(body.readableBytes)"
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
