import Hummingbird
import MMUSim

/// Address spaces and the system calls on them.
extension Routes {
    func addMMRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let simulator = self.simulator
        let limits = self.limits

        endpoints.post("/mms") { request, _ in
            let body = try await request.decodeBody(CreateMMRequest.self, limit: limits.maxBody)
            let (id, events) = try await simulator.createMM(name: body.name, limit: limits.maxMMs)
            let world = await simulator.world
            var answer = MMAnswer(world.mm(id)!, world: world, detailed: false)
            answer.ret = 0
            answer.trace = events.map(EventAnswer.init)
            return answer
        }
        endpoints.get("/mms") { _, _ in
            let world = await simulator.world
            return ListAnswer(key: "mms", items: world.mms.map { MMAnswer($0, world: world, detailed: false) })
        }
        endpoints.get("/mms/{mm}") { _, context in
            let world = await simulator.world
            return MMAnswer(try mm(context, in: world), world: world, detailed: true)
        }
        endpoints.get("/mms/{mm}/vmas") { _, context in
            let world = await simulator.world
            let mm = try mm(context, in: world)
            return ListAnswer(key: "vmas", items: mm.vmas.map { VMAAnswer($0, world: world) })
        }
        endpoints.get("/mms/{mm}/ptes") { request, context in
            let world = await simulator.world
            let mm = try mm(context, in: world)
            let start = try request.uri.queryParameters.get("addr").map { try parseHexQuery($0, name: "addr") } ?? 0
            let length = try request.uri.queryParameters.get("length").map { try parseHexQuery($0, name: "length") } ?? taskSize - start
            guard start <= taskSize, length <= taskSize - start else {
                throw invalid("the range passes the end of user space", code: "range_overflow")
            }
            let ptes = world.ptes(mm: mm.id, from: start, to: start + length).prefix(limits.maxListed).map {
                PTEAnswer(address: $0.address, pte: $0.pte)
            }
            return ListAnswer(key: "ptes", items: Array(ptes))
        }

        endpoints.post("/mms/{mm}/mmap") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(MmapRequest.self, limit: limits.maxBody)
            let flags = try unprocessable { () throws(CommandError) in try Command.mmapFlags(body.flags, file: body.file, xip: body.xip ?? false) }
            guard body.length > 0, body.length <= taskSize else { throw invalid("'length' must be between 1 and \(taskSize)", code: "empty_range") }
            if let addr = body.addr?.value {
                guard addr % pageSize == 0 else { throw invalid("'addr' \(hex(addr)) is not page-aligned (4096)", code: "unaligned") }
                if flags.fixed { _ = try checkRange(addr, body.length) }
            } else if flags.fixed {
                throw invalid("MAP_FIXED needs 'addr'")
            }
            let offset = body.offset ?? 0
            guard offset % pageSize == 0 else { throw invalid("'offset' \(offset) is not page-aligned (4096)", code: "unaligned") }
            let operation = Operation.mmap(
                mm: id,
                addr: body.addr?.value,
                length: body.length,
                prot: try unprocessable { () throws(CommandError) in try Command.protection(body.prot) },
                flags: flags,
                file: body.file,
                offset: offset
            )
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        addRangeRoute(to: &endpoints, "munmap") { .munmap(mm: $0, addr: $1, length: $2) }
        endpoints.post("/mms/{mm}/mprotect") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(MprotectRequest.self, limit: limits.maxBody)
            let range = try checkRange(body.addr.value, body.length)
            let operation = Operation.mprotect(
                mm: id,
                addr: range.start,
                length: range.length,
                prot: try unprocessable { () throws(CommandError) in try Command.protection(body.prot) }
            )
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/mremap") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(MremapRequest.self, limit: limits.maxBody)
            let range = try checkRange(body.oldAddr.value, body.oldLength, field: "old_addr")
            guard body.newLength > 0, body.newLength <= taskSize else {
                throw invalid("'new_length' must be between 1 and \(taskSize)", code: "empty_range")
            }
            var mayMove = false
            var fixed = false
            for flag in body.flags ?? [] {
                switch flag {
                case "maymove": mayMove = true
                case "fixed": fixed = true
                default: throw invalid("unknown mremap flag '\(flag)': use maymove or fixed", code: "invalid_value")
                }
            }
            if fixed {
                guard mayMove, let newAddr = body.newAddr?.value else { throw invalid("MREMAP_FIXED needs maymove and 'new_addr'") }
                _ = try checkRange(newAddr, body.newLength, field: "new_addr")
            }
            let operation = Operation.mremap(
                mm: id,
                oldAddr: range.start,
                oldLength: range.length,
                newLength: body.newLength,
                mayMove: mayMove,
                fixed: fixed,
                newAddr: body.newAddr?.value
            )
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/madvise") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(MadviseRequest.self, limit: limits.maxBody)
            guard body.advice == "dontneed" else {
                throw invalid("unknown advice '\(body.advice)': the model implements dontneed", code: "invalid_value")
            }
            let range = try checkRange(body.addr.value, body.length)
            return OperationAnswer(
                try await simulator.perform(.madviseDontneed(mm: id, addr: range.start, length: range.length), pauseAt: body.pauseAt, within: limits)
            )
        }
        endpoints.post("/mms/{mm}/touch") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(TouchRequest.self, limit: limits.maxBody)
            let length = body.length ?? pageSize
            guard length > 0 else { throw invalid("'length' must be positive", code: "empty_range") }
            guard body.addr.value < taskSize, length <= taskSize - body.addr.value else {
                throw invalid("the range passes the end of user space (\(hex(taskSize)))", code: "range_overflow")
            }
            let pages = (body.addr.value % pageSize + length + pageSize - 1) / pageSize
            guard pages <= limits.maxTouchPages else {
                throw invalid(
                    "a touch may access at most \(limits.maxTouchPages) pages (the limit max_touch_pages); this one spans \(pages)",
                    code: "limit_exceeded"
                )
            }
            let operation = Operation.touch(mm: id, addr: body.addr.value, length: length, write: body.write, value: body.value)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/fork") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(EmptyRequest.self, limit: limits.maxBody)
            return OperationAnswer(try await simulator.perform(.fork(mm: id), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/oom_reap") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(EmptyRequest.self, limit: limits.maxBody)
            return OperationAnswer(try await simulator.perform(.oomReap(mm: id), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/page_idle") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(PageIdleRequest.self, limit: limits.maxBody)
            let operation = Operation.pageIdle(mm: id, addr: body.addr.value, length: body.length ?? pageSize, mark: body.mark ?? false)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/khugepaged_scan") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(KhugepagedScanRequest.self, limit: limits.maxBody)
            return OperationAnswer(try await simulator.perform(.khugepagedScan(mm: id, addr: body.addr.value), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/exit") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(EmptyRequest.self, limit: limits.maxBody)
            return OperationAnswer(try await simulator.perform(.exit(mm: id), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/remap_file_pages") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(RemapFileRequest.self, limit: limits.maxBody)
            let range = try checkRange(body.addr.value, body.length)
            let operation = Operation.remapFilePages(mm: id, addr: range.start, length: range.length, pgoff: body.pgoff)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        addRangeRoute(to: &endpoints, "apply_to_page_range") { .applyToPageRange(mm: $0, addr: $1, length: $2) }
    }

    /// POST /mms/{mm}/<name> with a range body (`addr`, `length`): the range checked, then the
    /// operation `make` builds from the mm, the start and the length.
    private func addRangeRoute(
        to endpoints: inout EndpointRegistry<AppRequestContext>,
        _ name: String,
        _ make: @escaping @Sendable (Int, UInt64, UInt64) -> MMUSim.Operation
    ) {
        let simulator = self.simulator
        let limits = self.limits
        endpoints.post("/mms/{mm}/\(name)") { request, context in
            let id = try pathID(context, "mm")
            let body = try await request.decodeBody(RangeRequest.self, limit: limits.maxBody)
            let range = try checkRange(body.addr.value, body.length)
            return OperationAnswer(try await simulator.perform(make(id, range.start, range.length), pauseAt: body.pauseAt, within: limits))
        }
    }
}

/// A pte as the API shows it.
struct PTEAnswer: Codable, Sendable {
    var address: Hex
    var state: String
    var pfn: Int?
    var write: Bool
    var young: Bool
    var dirty: Bool
    var slot: Int?
    var huge: Bool?

    init(address: UInt64, pte: PTE) {
        self.address = Hex(address)
        state = pte.isPresent ? "present" : pte.isSwap ? "swap" : "migration"
        pfn = pte.isSwap ? nil : pte.pfn
        write = pte.write
        young = pte.isPresent && pte.young
        dirty = pte.isPresent && pte.dirty
        slot = pte.isSwap ? pte.slot : nil
        huge = pte.isHuge ? true : nil
    }
}

/// The mm named by the path, or 404.
func mm(_ context: AppRequestContext, in world: World) throws -> MM {
    let text = context.parameters.get("mm") ?? ""
    guard let id = Int(text), let mm = world.mm(id) else { throw APIError(.notFound, code: "unknown_mm", message: "no mm with id '\(text)'") }
    return mm
}

/// The mm id the path gives, or 404 when it is no number; whether that mm exists is
/// `Simulator.perform`'s check, made in the same visit to the actor as the operation.
func pathID(_ context: AppRequestContext, _ name: String) throws -> Int {
    let text = context.parameters.get(name) ?? ""
    guard let id = Int(text) else {
        throw name == "mm"
            ? APIError(.notFound, code: "unknown_mm", message: "no mm with id '\(text)'")
            : APIError(.notFound, code: "unknown_notifier", message: "mm \(context.parameters.get("mm") ?? "") has no notifier with id '\(text)'")
    }
    return id
}

/// A query parameter given as an integer or a hex string.
func parseHexQuery(_ text: String, name: String) throws -> UInt64 {
    guard let value = Hex.parse(text) else {
        throw APIError(.badRequest, code: "bad_request", message: "query parameter '\(name)' must be an integer or a hex string, not '\(text)'")
    }
    return value
}
