import Hummingbird
import MMUSim

/// Notifiers and their secondary MMUs.
extension Routes {
    func addNotifierRoutes(to endpoints: inout EndpointRegistry<AppRequestContext>) {
        let simulator = self.simulator
        let limits = self.limits

        endpoints.post("/mms/{mm}/notifiers") { request, context in
            let id = try pathID(context, "mm")
            let (body, text) = try await request.decodeBodyAndText(RegisterRequest.self, limit: limits.maxBody)
            if body.policy != nil {
                // An inline policy: read from the text, so that its variants keep their order;
                // its errors name their pointer from the body's root (/policy/...).
                guard body.kind == nil else { throw invalid("give 'kind' or 'policy', not both", code: "invalid_request") }
                let policy: Policy
                do throws(PolicyError) {
                    guard let document = try? JSON.parse(text), let member = document["policy"] else {
                        throw PolicyError("", "the body is not JSON")
                    }
                    policy = try Policy.load(member).applying(variants: body.bugs ?? [])
                } catch {
                    throw policyError(PolicyError("/policy" + error.pointer, error.message))
                }
                let operation = Operation.registerPolicy(
                    mm: id,
                    policy: policy,
                    signalPending: body.signalPending ?? false,
                    mmapSemHeld: body.mmapSemHeld ?? false
                )
                return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
            }
            guard let kind = body.kind else {
                throw APIError(.badRequest, code: "bad_request", message: "the body lacks the required field 'kind'")
            }
            if body.start != nil || body.length != nil {
                // mmu_interval_notifier_insert(start, length) of an interval driver.
                guard await simulator.subscription(of: kind) == .interval else {
                    throw invalid("'start' and 'length' are an interval subscription's: '\(kind)' is not an interval driver")
                }
                let start = body.start?.value ?? 0
                let length = body.length ?? taskSize
                guard length > 0, start <= UInt64.max - (length - 1) else {
                    throw invalid("'length' must be above 0 and start + length - 1 must not overflow")
                }
                let operation = Operation.registerInterval(mm: id, kind: kind, bugs: Set(body.bugs ?? []).sorted(), start: start, length: length)
                return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
            }
            if BuiltinDrivers.policies[kind] == nil {
                // A loaded driver policy, its bugs its variants.
                let outcome = try await simulator.register(
                    mm: id,
                    driver: kind,
                    variants: body.bugs ?? [],
                    signalPending: body.signalPending ?? false,
                    mmapSemHeld: body.mmapSemHeld ?? false,
                    pauseAt: body.pauseAt,
                    within: limits
                )
                return OperationAnswer(outcome)
            }
            let (builtin, bugs) = try unprocessable { () throws(CommandError) in try Command.driver(kind: kind, bugs: body.bugs) }
            let operation = Operation.register(
                mm: id,
                kind: builtin,
                bugs: bugs,
                signalPending: body.signalPending ?? false,
                mmapSemHeld: body.mmapSemHeld ?? false
            )
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.get("/mms/{mm}/notifiers") { _, context in
            let world = await simulator.world
            let mm = try mm(context, in: world)
            return ListAnswer(key: "notifiers", items: world.notifiers.filter { $0.mm == mm.id }.map { NotifierAnswer($0, in: world) })
        }
        endpoints.get("/mms/{mm}/notifiers/{n}") { _, context in
            let world = await simulator.world
            return NotifierAnswer(try notifier(context, in: world), in: world)
        }
        endpoints.delete("/mms/{mm}/notifiers/{n}") { request, context in
            let (mm, n) = (try pathID(context, "mm"), try pathID(context, "n"))
            let body = try await request.decodeBody(EmptyRequest.self, limit: limits.maxBody)
            return OperationAnswer(try await simulator.perform(.unregister(mm: mm, notifier: n), pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/notifiers/{n}/fault") { request, context in
            let (mm, n) = (try pathID(context, "mm"), try pathID(context, "n"))
            let body = try await request.decodeBody(FaultRequest.self, limit: limits.maxBody)
            guard body.address.value < taskSize else { throw invalid("'address' is outside user space", code: "range_overflow") }
            let operation = Operation.fault(mm: mm, notifier: n, address: body.address.value, write: body.write)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/notifiers/{n}/entries/{entry}") { request, context in
            let (mm, n) = (try pathID(context, "mm"), try pathID(context, "n"))
            let name = context.parameters.get("entry") ?? ""
            let body = try await request.decodeBody(EntryRequest.self, limit: limits.maxBody)
            let address = body.address?.value ?? 0
            guard address < taskSize else { throw invalid("'address' is outside user space", code: "range_overflow") }
            let operation = Operation.entry(mm: mm, notifier: n, name: name, address: address, write: body.write ?? false)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.post("/mms/{mm}/notifiers/{n}/access") { request, context in
            let (mm, n) = (try pathID(context, "mm"), try pathID(context, "n"))
            let body = try await request.decodeBody(AccessRequest.self, limit: limits.maxBody)
            guard body.address.value < taskSize else { throw invalid("'address' is outside user space", code: "range_overflow") }
            let operation = Operation.access(mm: mm, notifier: n, address: body.address.value, write: body.write, value: body.value)
            return OperationAnswer(try await simulator.perform(operation, pauseAt: body.pauseAt, within: limits))
        }
        endpoints.get("/mms/{mm}/notifiers/{n}/sptes") { request, context in
            let world = await simulator.world
            let n = try notifier(context, in: world)
            let range = try queryRange(request)
            return ListAnswer(key: "sptes", items: secondaryEntries(n.sptes, world: world, range: range, limit: limits.maxListed))
        }
        endpoints.get("/mms/{mm}/notifiers/{n}/tlb") { request, context in
            let world = await simulator.world
            let n = try notifier(context, in: world)
            let range = try queryRange(request)
            return ListAnswer(key: "entries", items: secondaryEntries(n.tlb, world: world, range: range, limit: limits.maxListed))
        }
    }
}

/// The entries of a secondary table, each marked invalid when its frame was freed or reused.
func secondaryEntries(_ table: RadixTable, world: World, range: (start: UInt64, end: UInt64), limit: Int) -> [SpteAnswer] {
    world.ptesOf(table, from: range.start, to: range.end, limit: limit).map { address, entry in
        let frame = world.frames[entry.pfn]
        return SpteAnswer(
            address: Hex(address),
            pfn: entry.pfn,
            writable: entry.write,
            young: entry.young,
            dirty: entry.dirty,
            valid: frame.isAllocated && frame.generation == entry.generation
        )
    }
}

/// The notifier named by the path (it must belong to the mm of the path), or 404.
func notifier(_ context: AppRequestContext, in world: World) throws -> Notifier {
    let owner = try mm(context, in: world)
    let text = context.parameters.get("n") ?? ""
    guard let id = Int(text), let notifier = world.notifier(id), notifier.mm == owner.id else {
        throw APIError(.notFound, code: "unknown_notifier", message: "mm \(owner.id) has no notifier with id '\(text)'")
    }
    return notifier
}

/// The optional `addr` and `length` query parameters as a range (the whole address space
/// when absent); 422 when it passes TASK_SIZE.
func queryRange(_ request: Request) throws -> (start: UInt64, end: UInt64) {
    let query = request.uri.queryParameters
    let start = try query.get("addr").map { try parseHexQuery(String($0), name: "addr") } ?? 0
    let length = try query.get("length").map { try parseHexQuery(String($0), name: "length") } ?? (start < taskSize ? taskSize - start : 0)
    guard start <= taskSize, length <= taskSize - start else { throw invalid("the range passes the end of user space", code: "range_overflow") }
    return (start, start + length)
}
