import Foundation
import Hummingbird
import MMUSim
import NIOPosix
import ServiceLifecycle

/// Machine-wide operations, tasks, the trace, the checker, reset and metrics.
extension Routes {
    func addSystemRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let simulator = self.simulator
        let limits = self.limits
        let requests = self.requests

        endpoints.post("/reclaim") { request, _ in
            let body = try await request.decodeBody(ReclaimRequest.self, limit: limits.maxBody)
            if let pages = body.pages, pages < 0 { throw invalid("'pages' must not be negative") }
            var length = body.length
            if let addr = body.addr?.value {
                guard body.mm != nil else { throw invalid("'addr' needs 'mm'") }
                length = try checkRange(addr, body.length ?? pageSize).length
            } else if body.length != nil {
                throw invalid("'length' needs 'addr'")
            }
            let operation = Operation.reclaim(mm: body.mm, addr: body.addr?.value, length: length, pages: body.pages)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/writeback") { request, _ in
            let body = try await request.decodeBody(WritebackRequest.self, limit: limits.maxBody)
            if let file = body.file, await simulator.world.file(named: file) == nil {
                throw APIError(.notFound, code: "unknown_file", message: "no file named '\(file)'")
            }
            return OperationAnswer(try await simulator.perform(.writeback(file: body.file), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/migrate") { request, _ in
            let body = try await request.decodeBody(MigrateRequest.self, limit: limits.maxBody)
            let range = try checkRange(body.addr.value, body.length ?? pageSize)
            let operation = Operation.migrate(mm: body.mm, addr: range.start, length: range.length)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.get("/frames") { request, _ in
            let world = await simulator.world
            let query = request.uri.queryParameters
            let from = try query.get("from").map { try parseInt(String($0), name: "from") } ?? 0
            let limit = min(try query.get("limit").map { try parseInt(String($0), name: "limit") } ?? limits.maxListed, limits.maxListed)
            var frames: [FrameAnswer] = []
            var next: Int?
            for pfn in from..<max(from, world.config.frames) where world.frames[pfn].isAllocated {
                if frames.count == limit {
                    next = pfn
                    break
                }
                frames.append(FrameAnswer(pfn: pfn, world: world))
            }
            return FramesAnswer(total: world.config.frames, free: world.config.frames - world.framesInUse, frames: frames, next: next)
        }

        endpoints.get("/tasks") { _, _ in
            ListAnswer(key: "tasks", items: await simulator.world.tasks.map(TaskAnswer.init))
        }
        endpoints.get("/tasks/{t}") { _, context in
            TaskAnswer(try await task(context, simulator))
        }
        endpoints.post("/tasks/{t}/step") { _, context in
            let id = try await task(context, simulator).id
            guard let outcome = await simulator.step(task: id) else { throw unknownTask(context) }
            return OperationAnswer(outcome)
        }
        endpoints.post("/tasks/{t}/resume") { _, context in
            let id = try await task(context, simulator).id
            guard let outcome = await simulator.resume(task: id) else { throw unknownTask(context) }
            return OperationAnswer(outcome)
        }

        endpoints.get("/trace") { request, _ in
            let filter = try TraceFilter(request.uri.queryParameters)
            let world = await simulator.world
            return TraceAnswer(events: filter.events(of: world).map(EventAnswer.init), next: world.lastSeq, dropped: world.trace.dropped)
        }
        endpoints.get("/trace/stream") { request, _ in
            let limit = try request.uri.queryParameters.get("limit").map { try parseInt(String($0), name: "limit") }
            let events = try await simulator.subscribe(limit: limits.maxStreamClients)
            let encoder = APIJSON.encoder
            let body = ResponseBody { writer in
                try await writer.write(ByteBuffer(string: ": mmusim trace stream\n\n"))
                // A graceful shutdown ends every stream, so that an open one does not hold the server.
                try await withGracefulShutdownHandler {
                    var sent = 0
                    if let limit, limit == 0 { return }
                    for await event in events {
                        if let limit, sent >= limit { break }
                        let json = String(decoding: try encoder.encode(EventAnswer(event)), as: UTF8.self)
                        try await writer.write(ByteBuffer(string: "id: \(event.seq)\nevent: trace\ndata: \(json)\n\n"))
                        sent += 1
                        if let limit, sent >= limit { break }
                    }
                } onGracefulShutdown: {
                    Task { await simulator.endStreams() }
                }
                try await writer.finish(nil)
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache", .connection: "keep-alive"],
                body: body
            )
        }
        endpoints.get("/trace/export") { request, context in
            let query = request.uri.queryParameters
            let format = query.get("format") ?? "chrome"
            let filter = try TraceFilter(query)
            switch format {
            case "chrome":
                return try ChromeTrace(events: filter.events(of: await simulator.world)).response(from: request, context: context)
            case "ladder":
                let world = await simulator.world
                let ladder = world.ladder(filter.events(of: world), violations: world.violations)
                return Response(
                    status: .ok,
                    headers: [.contentType: "text/plain; charset=utf-8"],
                    body: ResponseBody(byteBuffer: ByteBuffer(string: ladder.render()))
                )
            default:
                throw invalid("unknown export format '\(format)': use chrome or ladder", code: "invalid_value")
            }
        }
        endpoints.get("/invariants") { _, _ in
            let violations = await simulator.world.violations
            return InvariantsAnswer(ok: violations.isEmpty, violations: violations.map(ViolationAnswer.init))
        }
        endpoints.post("/reset") { request, _ in
            let body = try await request.decodeBody(ResetRequest.self, limit: limits.maxBody)
            let current = await simulator.world.config
            var config = current
            if let frames = body.frames {
                guard frames >= 2, frames <= limits.maxFrames else {
                    throw invalid("'frames' must be between 2 and \(limits.maxFrames) (the limit max_frames)", code: "limit_exceeded")
                }
                config.frames = frames
            }
            if let slots = body.swapSlots {
                guard slots >= 0, slots <= limits.maxSwapSlots else {
                    throw invalid("'swap_slots' must be between 0 and \(limits.maxSwapSlots) (the limit max_swap_slots)", code: "limit_exceeded")
                }
                config.swapSlots = slots
            }
            var order: ReleaseOrder?
            if let name = body.releaseOrder {
                guard let parsed = ReleaseOrder(rawValue: name) else {
                    throw invalid("'release_order' must be v17 or fixed, not '\(name)'", code: "invalid_value")
                }
                order = parsed
            }
            var kernel: KernelVersion?
            if let name = body.kernel {
                guard let parsed = KernelVersion(rawValue: name) else {
                    throw invalid("'kernel' must be v17 or modern, not '\(name)'", code: "invalid_value")
                }
                kernel = parsed
            }
            // Absent, core_bugs keeps the current world's, as frames and swap_slots do (a change
            // of kernel starts from that kernel's core).
            do {
                try config.apply(kernel: kernel, releaseOrder: order, coreBugs: body.coreBugs)
            } catch let error as CommandError {
                throw invalid(error.message, code: error.code == "kernel_mismatch" ? error.code : "invalid_value")
            }
            await simulator.reset(config: config)
            return ResetAnswer(
                ret: 0,
                frames: config.frames,
                swapSlots: config.swapSlots,
                releaseOrder: config.releaseOrder.rawValue,
                coreBugs: config.coreBugs.sorted().map(\.rawValue),
                kernel: config.kernel.rawValue,
                trace: []
            )
        }
        endpoints.get("/metrics") { _, _ in
            await metricsText(simulator, requests: requests)
        }
        endpoints.post("/scenarios/run") { request, _ in
            let decoded = try await request.decodeBodyAndText(Scenario.self, limit: limits.maxBody)
            let scenario = decoded.value
            if let frames = scenario.world?.frames, frames < 2 || frames > limits.maxFrames {
                throw invalid("'world.frames' must be between 2 and \(limits.maxFrames) (the limit max_frames)", code: "limit_exceeded")
            }
            if let slots = scenario.world?.swapSlots, slots < 0 || slots > limits.maxSwapSlots {
                throw invalid("'world.swap_slots' must be between 0 and \(limits.maxSwapSlots) (the limit max_swap_slots)", code: "limit_exceeded")
            }
            do {
                _ = try scenario.config()
            } catch let error as CommandError {
                throw invalid("'world': \(error.message)", code: "invalid_value")
            }
            // The file's own drivers: read from the text (their variants keep their order), each
            // one the interpreter runs.
            let drivers: [String: Policy]
            do {
                drivers = try Explorer.drivers(inText: decoded.text)
                _ = try ScenarioRunner(scenario, drivers: drivers)
            } catch let error as ExploreError {
                throw invalid(error.message)
            } catch let error as CommandError {
                throw invalid(error.message, code: error.code)
            }
            let report = try await NIOThreadPool.singleton.runIfActive { ScenarioRunner.run(scenario, drivers: drivers) }
            return ScenarioAnswer(passed: report.passed, steps: report.steps)
        }
        endpoints.post("/scenarios/judge") { request, _ in
            let body = try await request.decodeBody(JudgeRequest.self, limit: limits.maxBody)
            if let before = body.violationsBefore, before < 0 { throw invalid("'violations_before' must not be negative", code: "invalid_value") }
            let answer = JSONValue.object(body.answer ?? ["ret": .int(0)])
            let events: [JSONValue] = if case .array(let list)? = answer["trace"] { list } else { [] }
            let judge = ScenarioJudge(
                world: await simulator.world,
                answer: answer,
                events: events,
                violationsBefore: body.violationsBefore ?? 0,
                defaultMM: body.mm ?? 1
            )
            let checks = judge.checks(body.expect)
            return JudgeAnswer(passed: checks.allSatisfy(\.passed), checks: checks)
        }
    }
}

private func parseInt(_ text: String, name: String) throws -> Int {
    // Int(_:) takes a leading "+"; a count is digits alone.
    guard text.allSatisfy({ $0.isASCII && $0.isNumber }), let value = Int(text) else {
        throw APIError(.badRequest, code: "bad_request", message: "query parameter '\(name)' must be a non-negative integer, not '\(text)'")
    }
    return value
}

private func unknownTask(_ context: AppRequestContext) -> APIError {
    APIError(.notFound, code: "unknown_task", message: "no task with id '\(context.parameters.get("t") ?? "")'")
}

private func task(_ context: AppRequestContext, _ simulator: Simulator) async throws -> TaskStruct {
    guard let id = context.parameters.get("t").flatMap({ Int($0) }), let task = await simulator.task(id) else { throw unknownTask(context) }
    return task
}

/// GET /frames.
struct FramesAnswer: ResponseEncodable, Sendable {
    var total: Int
    var free: Int
    var frames: [FrameAnswer]
    /// The pfn to ask `from` next when `limit` cut the list.
    var next: Int?
}

/// An allocated frame.
struct FrameAnswer: Codable, Sendable {
    var pfn: Int
    var refcount: Int
    var mapcount: Int
    var kind: String
    var dirty: Bool
    var referenced: Bool
    var content: UInt64
    var pinned: Bool
    var swapSlot: Int?
    var file: String?
    var head: Int?

    init(pfn: Int, world: World) {
        let frame = world.frames[pfn]
        self.pfn = pfn
        refcount = Int(frame.refcount)
        mapcount = Int(frame.mapcount)
        kind = frame.kind.rawValue
        dirty = frame.dirty
        referenced = frame.referenced
        content = frame.content
        pinned = frame.kind != .zero && frame.refcount > frame.mapcount + (frame.kind == .file ? 1 : 0)
        swapSlot = frame.swapSlot >= 0 ? Int(frame.swapSlot) : nil
        file = frame.kind == .file ? world.files[Int(frame.owner)].name : nil
        head = frame.isHuge ? pfn & ~511 : nil
    }
}

/// GET /trace.
struct TraceAnswer: ResponseEncodable, Sendable {
    var events: [EventAnswer]
    var next: Int
    var dropped: Int
}

/// GET /invariants.
struct InvariantsAnswer: ResponseEncodable, Sendable {
    var ok: Bool
    var violations: [ViolationAnswer]
}

/// POST /reset.
struct ResetAnswer: ResponseEncodable, Sendable {
    var ret: Int
    var frames: Int
    var swapSlots: Int
    var releaseOrder: String
    var coreBugs: [String]
    var kernel: String
    var trace: [EventAnswer]
}

/// POST /scenarios/run.
struct ScenarioAnswer: ResponseEncodable, Sendable {
    var passed: Bool
    var steps: [StepReport]
}

/// POST /scenarios/judge: a step's expectations, the answer its request got (its `trace` the
/// events), how many violations were known before it, and the mm it is about.
struct JudgeRequest: Decodable, Sendable {
    var expect: [String: JSONValue]
    var answer: [String: JSONValue]?
    var violationsBefore: Int?
    var mm: Int?
}

/// The answer of POST /scenarios/judge: each expectation with what was found.
struct JudgeAnswer: ResponseEncodable, Sendable {
    var passed: Bool
    var checks: [ScenarioJudge.Check]
}

/// The filters of GET /trace and the ladder export: events after `since`, of one mm, one
/// notifier, one call.
struct TraceFilter {
    var since = 0
    var mm: Int?
    var notifier: Int?
    var call: String?

    init(_ query: Parameters) throws {
        since = try query.get("since").map { try parseInt(String($0), name: "since") } ?? 0
        mm = try query.get("mm").map { try parseInt(String($0), name: "mm") }
        notifier = try query.get("notifier").map { try parseInt(String($0), name: "notifier") }
        call = query.get("call").map { String($0) }
    }

    func events(of world: World) -> [TraceEvent] {
        world.trace.events(after: since).filter {
            (mm == nil || $0.mm == mm) && (notifier == nil || $0.notifier == notifier) && (call == nil || $0.call.rawValue == call)
        }
    }
}
