import Hummingbird

// A Hummingbird application with nothing but GET /health and no middleware: bench/run measures
// it beside mmusim and nginx, to show what the HTTP stack alone costs on this machine.
// Usage: bench-bare-http PORT
let port = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 18_080 : 18_080
let router = Router()
router.get("/health") { _, _ in #"{"status":"ok"}"# }
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
try await app.runService()
