import Hummingbird
import MMUSim
import Synchronization

/// HTTP requests answered, by route and status. A lock, not the simulator actor: counting
/// must not make every request (a GET /health too) wait its turn on the world.
final class RequestCounter: Sendable {
    private let counts = Mutex<[RouteStatus: Int]>([:])

    func count(route: String, status: Int) {
        counts.withLock { $0[RouteStatus(route: route, status: status), default: 0] += 1 }
    }

    var snapshot: [RouteStatus: Int] { counts.withLock { $0 } }
}

/// Counts every answered request by route and status, for /metrics.
struct MetricsMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    /// Where the counts go.
    let counter: RequestCounter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        counter.count(route: context.endpointPath ?? "unmatched", status: Int(response.status.code))
        return response
    }
}

/// The Prometheus text exposition of the simulator's counters and gauges.
func metricsText(_ simulator: Simulator, requests counter: RequestCounter) async -> Response {
    let world = await simulator.world
    let calls = await simulator.callCounts
    let requests = counter.snapshot
    var lines: [String] = []
    func metric(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
        lines.append("# HELP \(name) \(help)")
        lines.append("# TYPE \(name) \(type)")
        for sample in samples { lines.append("\(name)\(sample.labels) \(sample.value)") }
    }
    let methods = ["release", "clear_flush_young", "invalidate_page", "invalidate_range_start", "invalidate_range_end"]
    metric("mmusim_notifier_calls_total", "counter", "Notifier method calls, by method.", methods.map { ("{call=\"\($0)\"}", calls[$0] ?? 0) })
    let faults = world.notifiers.reduce(0) { $0 + $1.counters.faults }
    let retries = world.notifiers.reduce(0) { $0 + $1.counters.retries }
    metric("mmusim_secondary_faults_total", "counter", "Secondary MMU faults in the current world.", [("", faults)])
    metric("mmusim_secondary_fault_retries_total", "counter", "Secondary faults that had to start over.", [("", retries)])
    metric("mmusim_frames_in_use", "gauge", "Allocated physical frames, the zero page included.", [("", world.framesInUse)])
    metric("mmusim_frames_total", "gauge", "Physical frames.", [("", world.config.frames)])
    metric("mmusim_trace_events_total", "counter", "Trace events produced in the current world.", [("", world.lastSeq)])
    metric("mmusim_tasks", "gauge", "Tasks that have not finished.", [("", world.tasks.count)])
    let violations = Invariant.allCases.map { invariant in
        ("{invariant=\"\(invariant.rawValue)\"}", world.violations.filter { $0.invariant == invariant }.count)
    }
    metric("mmusim_violations", "gauge", "Invariant violations in the current world, by invariant.", violations)
    let requestSamples = requests.sorted { ($0.key.route, $0.key.status) < ($1.key.route, $1.key.status) }.map {
        ("{route=\"\($0.key.route)\",status=\"\($0.key.status)\"}", $0.value)
    }
    metric("mmusim_http_requests_total", "counter", "HTTP requests answered, by route and status.", requestSamples)
    let text = lines.joined(separator: "\n") + "\n"
    return Response(
        status: .ok,
        headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: text))
    )
}
