import Foundation
import Hummingbird
import MMUSim

/// The trace in Chrome's trace-event format (opens in Perfetto and chrome://tracing): one
/// track per task, each notifier call a slice, each invalidate_range_start/end pair an async
/// span, model events as instants. Timestamps are trace sequence numbers, in microseconds.
struct ChromeTrace: Encodable, ResponseGenerator, Sendable {
    struct Event: Encodable, Sendable {
        var name: String
        var cat: String
        var ph: String
        var ts: Int
        var dur: Int?
        var pid: Int
        var tid: Int
        var id: String?
        var s: String?
        var args: [String: String]
    }

    var traceEvents: [Event]
    var displayTimeUnit = "ns"

    /// Chrome's format keeps its own key names (`traceEvents`, `displayTimeUnit`): it is
    /// written with a plain encoder, not the API's snake_case one.
    func response(from request: Request, context: some RequestContext) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(self)))
        )
    }

    init(events: [TraceEvent]) {
        var out: [Event] = []
        var tasks = Set<Int>()
        for event in events {
            let tid = event.task ?? 0
            tasks.insert(tid)
            var args: [String: String] = ["seq": String(event.seq), "locks": event.locks.joined(separator: ", "), "atomic": String(event.atomic)]
            if let op = event.op { args["op"] = op }
            if let mm = event.mm { args["mm"] = String(mm) }
            if let notifier = event.notifier { args["notifier"] = String(notifier) }
            if let start = event.start { args["start"] = hex(start) }
            if let end = event.end { args["end"] = hex(end) }
            if let address = event.address { args["address"] = hex(address) }
            if let pfn = event.pfn { args["pfn"] = String(pfn) }
            if let pages = event.pages { args["pages"] = String(pages) }
            if let ret = event.ret { args["ret"] = String(ret) }
            let name = event.notifier.map { "\(event.call.rawValue) n\($0)" } ?? event.call.rawValue
            let ts = event.seq * 10
            if event.call.isNotifierMethod {
                out.append(Event(name: name, cat: "notifier", ph: "X", ts: ts, dur: 8, pid: 1, tid: tid, args: args))
                if event.call == .invalidateRangeStart || event.call == .invalidateRangeEnd,
                    let start = event.start, let end = event.end, let notifier = event.notifier
                {
                    let span = "\(tid)-\(notifier)-\(hex(start))-\(hex(end))"
                    let phase = event.call == .invalidateRangeStart ? "b" : "e"
                    out.append(
                        Event(
                            name: "invalidate_range n\(notifier) \(hex(start))-\(hex(end))",
                            cat: "range",
                            ph: phase,
                            ts: ts,
                            pid: 1,
                            tid: tid,
                            id: span,
                            args: args
                        )
                    )
                }
            } else {
                out.append(Event(name: name, cat: "model", ph: "i", ts: ts, pid: 1, tid: tid, s: "t", args: args))
            }
        }
        for tid in tasks.sorted() {
            out.append(
                Event(name: "thread_name", cat: "__metadata", ph: "M", ts: 0, pid: 1, tid: tid, args: ["name": tid == 0 ? "world" : "task \(tid)"])
            )
        }
        out.append(Event(name: "process_name", cat: "__metadata", ph: "M", ts: 0, pid: 1, tid: 0, args: ["name": "mmusim"]))
        traceEvents = out
    }
}
