/// Reading and validating a driver policy. Each problem is a `PolicyError` naming the JSON
/// pointer of the offending member or statement; a policy either loads whole or not at all.
extension Policy {
    /// Parses and validates policy text.
    public static func load(text: String) throws(PolicyError) -> Policy {
        let document: JSON
        do {
            document = try JSON.parse(text)
        } catch {
            throw PolicyError("", "the policy is not JSON: \(error.description)")
        }
        return try load(document)
    }

    /// Validates a policy document. Each variant must apply to it and give a valid policy.
    public static func load(_ document: JSON) throws(PolicyError) -> Policy {
        var reader = PolicyReader(document)
        let policy = try reader.read()
        for variant in policy.variants { _ = try policy.applying(variants: [variant.name]) }
        return policy
    }

    /// The names of the variants, in document order.
    public var variantNames: [String] { variants.map(\.name) }

    /// The policy with the named variants applied, in the order the document declares them
    /// (so that a set of variants has one meaning whatever order a `bugs` list names them in).
    public func applying(variants names: [String]) throws(PolicyError) -> Policy {
        if let unknown = names.first(where: { name in !variants.contains { $0.name == name } }) {
            let known = variants.isEmpty ? "it has none" : "its variants are " + variantNames.joined(separator: ", ")
            throw PolicyError("/variants", "\(self.name) has no variant '\(unknown)': \(known)")
        }
        var patched = document
        for variant in variants where names.contains(variant.name) {
            do throws(PatchError) {
                patched = try patched.applying(patch: variant.patch)
            } catch {
                let pointer = JSON.pointer("/variants", variant.name) + (error.index.map { "/\($0)" } ?? "")
                throw PolicyError(pointer, "the variant does not apply: \(error.message)")
            }
        }
        do throws(PolicyError) {
            var reader = PolicyReader(patched)
            var policy = try reader.read()
            policy.applied = applied + variants.map(\.name).filter { names.contains($0) }
            return policy
        } catch {
            let applied = names.isEmpty ? "" : " with \(names.joined(separator: ", "))"
            throw PolicyError(error.pointer, "\(self.name)\(applied): \(error.message)")
        }
    }
}

/// Reads one document into a `Policy`, checking each rule of DRIVERS.md on the way.
struct PolicyReader {
    let document: JSON
    var kernel = KernelVersion.v17
    var subscribe = Subscription.classic
    var locks: [String: DriverLockKind] = [:]
    var vars: [String: Int] = [:]
    var sharedVars: [String: Int] = [:]
    var workNames: Set<String> = []

    /// The members a policy document may have.
    static let fields: Set<String> = [
        "name", "description", "kernel", "subscribe", "tlb", "locks", "vars", "shared_vars", "callbacks", "fault", "entries", "work",
        "invariants", "variants", "world",
    ]

    /// The fields an mm operation of `call` may set (a command's fields).
    static let callFields: Set<String> = [
        "addr", "length", "prot", "flags", "file", "offset", "old_addr", "old_length", "new_length", "new_addr", "advice", "write", "value",
        "pages", "pgoff",
    ]

    init(_ document: JSON) {
        self.document = document
    }

    /// Where a program runs: what it may say, and what its context values are.
    enum Place: Equatable {
        case callback(Callback)
        case fault
        case entry
        case work
        case invariant
    }

    mutating func read() throws(PolicyError) -> Policy {
        guard let members = document.members else { throw PolicyError("", "a policy is a JSON object, not \(document.typeName)") }
        if let unknown = members.first(where: { !Self.fields.contains($0.key) }) {
            throw PolicyError(
                JSON.pointer("", unknown.key),
                "unknown member '\(unknown.key)': a policy has \(Self.fields.sorted().joined(separator: ", "))"
            )
        }
        guard let name = document["name"]?.string else { throw PolicyError("/name", "a policy needs 'name', a string") }
        guard !name.isEmpty, name.count <= 64, name.first!.isASCII && name.first!.isLetter,
            name.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == "_") })
        else {
            throw PolicyError("/name", "'\(name)' is not a driver name: lowercase letters, digits, - and _, starting with a letter, at most 64")
        }
        let description = try string("/description", default: "")
        if let world = document["world"], world.members == nil {
            throw PolicyError("/world", "'world' is an object of world options, not \(world.typeName)")
        }
        kernel = try choice("/kernel", default: .v17)
        subscribe = try choice("/subscribe", default: .classic)
        if kernel == .v17, subscribe == .get || subscribe == .interval {
            throw PolicyError(
                "/subscribe",
                "subscribe '\(subscribe.rawValue)' is modern (mmu_notifier_get, interval notifiers); v17 has classic and none"
            )
        }
        let tlb: TLBMode
        switch document["tlb"] {
        case nil, .bool(false)?: tlb = .none
        case .bool(true)?: tlb = .withTable
        case .string("only")?: tlb = .only
        case let other?: throw PolicyError("/tlb", "'tlb' is true, false or \"only\", not \(other)")
        }
        for (lock, kind) in try table("/locks") {
            guard let text = kind.string, let parsed = DriverLockKind(rawValue: text) else {
                throw PolicyError(JSON.pointer("/locks", lock), "a lock is \"mutex\" or \"spinlock\", not \(kind)")
            }
            locks[lock] = parsed
        }
        vars = try integers("/vars")
        sharedVars = try integers("/shared_vars")
        if let both = vars.keys.sorted().first(where: { sharedVars[$0] != nil }) {
            throw PolicyError(JSON.pointer("/shared_vars", both), "'\(both)' is declared in both vars and shared_vars")
        }
        let work = try table("/work")
        workNames = Set(work.map(\.key))

        var callbacks: [Callback: Program] = [:]
        let allowed = Callback.of(kernel)
        for (key, body) in try table("/callbacks") {
            let pointer = JSON.pointer("/callbacks", key)
            guard let callback = Callback(rawValue: key), allowed.contains(callback) else {
                throw PolicyError(
                    pointer,
                    "\(kernel.rawValue) has no callback '\(key)': its callbacks are \(allowed.map(\.rawValue).joined(separator: ", "))"
                )
            }
            try checkSubscription(callback, pointer)
            callbacks[callback] = try program(body, pointer, .callback(callback))
        }
        if callbacks[.archInvalidateSecondaryTLBs] != nil, callbacks[.invalidateRangeStart] != nil || callbacks[.invalidateRangeEnd] != nil {
            throw PolicyError(
                "/callbacks/arch_invalidate_secondary_tlbs",
                "arch_invalidate_secondary_tlbs goes without invalidate_range_start/end: registration refuses both since 6.6"
            )
        }
        let fault = try document["fault"].map { value throws(PolicyError) in try program(value, "/fault", .fault) }
        var entries: [String: Program] = [:]
        for (key, body) in try table("/entries") { entries[key] = try program(body, JSON.pointer("/entries", key), .entry) }
        var workPrograms: [String: Program] = [:]
        for (key, body) in work { workPrograms[key] = try program(body, JSON.pointer("/work", key), .work) }
        return Policy(
            name: name,
            description: description,
            kernel: kernel,
            subscribe: subscribe,
            tlb: tlb,
            locks: locks,
            vars: vars,
            sharedVars: sharedVars,
            callbacks: callbacks,
            fault: fault,
            entries: entries,
            work: workPrograms,
            invariants: try invariants(),
            variants: try variants(),
            document: document
        )
    }

    // MARK: Members

    func string(_ pointer: String, default value: String) throws(PolicyError) -> String {
        guard let found = document.value(at: pointer) else { return value }
        guard let text = found.string else { throw PolicyError(pointer, "'\(pointer.dropFirst())' is a string, not \(found.typeName)") }
        return text
    }

    func choice<T: RawRepresentable & CaseIterable>(_ pointer: String, default value: T) throws(PolicyError) -> T where T.RawValue == String {
        guard let found = document.value(at: pointer) else { return value }
        guard let text = found.string, let parsed = T(rawValue: text) else {
            throw PolicyError(pointer, "'\(pointer.dropFirst())' is one of \(T.allCases.map(\.rawValue).joined(separator: ", ")), not \(found)")
        }
        return parsed
    }

    func table(_ pointer: String) throws(PolicyError) -> [(key: String, value: JSON)] {
        guard let found = document.value(at: pointer) else { return [] }
        guard let members = found.members else { throw PolicyError(pointer, "'\(pointer.dropFirst())' is an object, not \(found.typeName)") }
        for member in members where !Self.isName(member.key) {
            throw PolicyError(JSON.pointer(pointer, member.key), "'\(member.key)' is not a name: letters, digits and _, starting with a letter")
        }
        return members
    }

    func integers(_ pointer: String) throws(PolicyError) -> [String: Int] {
        var result: [String: Int] = [:]
        for (key, value) in try table(pointer) {
            guard let number = value.int else {
                throw PolicyError(JSON.pointer(pointer, key), "a variable's initial value is an integer, not \(value)")
            }
            result[key] = number
        }
        return result
    }

    static func isName(_ text: String) -> Bool {
        guard let first = text.first, first.isASCII, first.isLetter else { return false }
        return text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    func checkSubscription(_ callback: Callback, _ pointer: String) throws(PolicyError) {
        switch (subscribe, callback) {
        case (.none, _):
            throw PolicyError(pointer, "a driver with subscribe 'none' registers no notifier and gets no callbacks")
        case (.interval, let other) where other != .invalidate:
            throw PolicyError(pointer, "an interval subscription has one callback, invalidate (mmu_interval_notifier_ops)")
        case (.classic, .invalidate), (.get, .invalidate):
            throw PolicyError(pointer, "invalidate is the callback of an interval subscription (subscribe: interval)")
        case (.classic, .allocNotifier), (.classic, .freeNotifier):
            throw PolicyError(pointer, "\(callback.rawValue) belongs to mmu_notifier_get/put (subscribe: get)")
        default:
            break
        }
    }

    func invariants() throws(PolicyError) -> [PolicyInvariant] {
        guard let found = document["invariants"] else { return [] }
        guard let elements = found.elements else { throw PolicyError("/invariants", "'invariants' is an array, not \(found.typeName)") }
        var names: Set<String> = []
        return try elements.enumerated().map { index, element throws(PolicyError) in
            let pointer = JSON.pointer("/invariants", index)
            guard let members = element.members else { throw PolicyError(pointer, "an invariant is an object with name, when and holds") }
            if let unknown = members.first(where: { !["name", "when", "holds"].contains($0.key) }) {
                throw PolicyError(JSON.pointer(pointer, unknown.key), "unknown member '\(unknown.key)': an invariant has name, when and holds")
            }
            guard let name = element["name"]?.string, !name.isEmpty else { throw PolicyError(pointer + "/name", "an invariant needs a name") }
            guard names.insert(name).inserted else { throw PolicyError(pointer + "/name", "a second invariant named '\(name)'") }
            let when = element["when"]?.string ?? "always"
            guard when == "always" || when == "quiescent" else {
                throw PolicyError(pointer + "/when", "'when' is \"always\" or \"quiescent\", not \(element["when"]!)")
            }
            guard let holds = element["holds"] else { throw PolicyError(pointer + "/holds", "an invariant needs 'holds', an expression") }
            var scope = Scope(place: .invariant)
            return PolicyInvariant(name: name, quiescentOnly: when == "quiescent", holds: try expression(holds, pointer + "/holds", &scope))
        }
    }

    func variants() throws(PolicyError) -> [(name: String, patch: JSON)] {
        try table("/variants").map { key, patch throws(PolicyError) in
            guard patch.elements != nil else {
                throw PolicyError(JSON.pointer("/variants", key), "a variant is a JSON Patch, an array of operations, not \(patch.typeName)")
            }
            return (key, patch)
        }
    }

    // MARK: Programs

    /// What a program may refer to: the locals it writes somewhere.
    struct Scope {
        var place: Place
        var locals: Set<String> = []
    }

    func program(_ value: JSON, _ pointer: String, _ place: Place) throws(PolicyError) -> Program {
        var scope = Scope(place: place)
        scope.locals = locals(written: value)
        let parsed = try statements(value, pointer, &scope)
        try checkLocks(parsed, place: place)
        return parsed
    }

    /// The locals a program writes (sample, set and read_begin of a name that is no variable;
    /// gup, hmm_range_fault and lookup_pte write `ret`), anywhere in it. inc and dec update a
    /// variable or a local that one of those sets: they declare nothing.
    func locals(written value: JSON) -> Set<String> {
        var found: Set<String> = []
        func visit(_ value: JSON) {
            switch value {
            case .array(let elements): elements.forEach(visit)
            case .object(let members):
                for (key, inner) in members {
                    switch key {
                    case "sample", "set", "read_begin":
                        if let name = inner.string, vars[name] == nil, sharedVars[name] == nil { found.insert(name) }
                    case "gup", "hmm_range_fault", "lookup_pte": found.insert("ret")
                    default: break
                    }
                    visit(inner)
                }
            default: break
            }
        }
        visit(value)
        return found
    }

    func statements(_ value: JSON, _ pointer: String, _ scope: inout Scope) throws(PolicyError) -> Program {
        guard let elements = value.elements else { throw PolicyError(pointer, "a program is an array of statements, not \(value.typeName)") }
        var list: [Statement] = []
        for (index, element) in elements.enumerated() {
            list.append(try statement(element, JSON.pointer(pointer, index), &scope))
        }
        return Program(pointer: pointer, statements: list)
    }

    /// The statement keys, with the other members each may have.
    static let statementFields: [String: Set<String>] = [
        "lock": [], "unlock": [], "trylock": ["else"], "inc": [], "dec": [], "set": ["to"], "wait": [], "sleep": [], "if": ["then", "else"],
        "return": [], "retry": [], "zap": ["dirty", "put"], "flush_tlb": [], "age": ["clear"], "set_seq": [], "call": ["*"],
        "queue_work": [], "assert": ["name"], "unregister": [], "put": [], "synchronize": [], "free_notifier": [], "sample": ["from"],
        "read_begin": [], "read_retry": ["then"], "gup": ["else"], "hmm_range_fault": ["else"], "lookup_pte": ["else"], "mmap_lock": [],
        "mmap_unlock": [], "install": [], "put_page": [],
    ]

    /// The statements of the fault path and entries only.
    static let faultOnly: Set<String> = [
        "sample", "read_begin", "read_retry", "gup", "hmm_range_fault", "lookup_pte", "mmap_lock", "mmap_unlock", "install", "put_page",
    ]

    func statement(_ value: JSON, _ pointer: String, _ scope: inout Scope) throws(PolicyError) -> Statement {
        guard let members = value.members else { throw PolicyError(pointer, "a statement is an object, not \(value.typeName)") }
        // A member that another statement key present takes (zap's "put") is that one's.
        let present = members.map(\.key).filter { Self.statementFields[$0] != nil }
        let keys = present.filter { key in !present.contains { $0 != key && Self.statementFields[$0]!.contains(key) } }
        guard keys.count == 1, let key = keys.first else {
            if keys.count > 1 { throw PolicyError(pointer, "one statement at a time: this object says \(keys.joined(separator: " and "))") }
            let named = members.first.map { "'\($0.key)'" } ?? "nothing"
            throw PolicyError(pointer, "unknown statement \(named): use one of \(Self.statementFields.keys.sorted().joined(separator: ", "))")
        }
        let extra = Self.statementFields[key]!
        if !extra.contains("*"), let unknown = members.first(where: { $0.key != key && !extra.contains($0.key) }) {
            let allowed = extra.isEmpty ? "nothing else" : extra.sorted().joined(separator: ", ")
            throw PolicyError(JSON.pointer(pointer, unknown.key), "'\(key)' takes \(allowed), not '\(unknown.key)'")
        }
        let argument = value[key]!
        let at = JSON.pointer(pointer, key)
        let place = scope.place
        if Self.faultOnly.contains(key), place != .fault, place != .entry {
            throw PolicyError(pointer, "'\(key)' belongs to the fault path and entries, not to \(describe(place))")
        }
        func name(_ json: JSON, _ what: String) throws(PolicyError) -> String {
            guard let text = json.string, !text.isEmpty else { throw PolicyError(at, "'\(key)' names \(what), a string, not \(json)") }
            return text
        }
        func word(_ json: JSON, _ words: [String]) throws(PolicyError) -> String {
            guard let text = json.string, words.contains(text) else {
                throw PolicyError(at, "'\(key)' is one of \(words.map { "\"\($0)\"" }.joined(separator: ", ")), not \(json)")
            }
            return text
        }
        func flag(_ json: JSON?, _ field: String) throws(PolicyError) -> Bool {
            guard let json else { return false }
            guard case .bool(let value) = json else { throw PolicyError(JSON.pointer(pointer, field), "'\(field)' is true or false, not \(json)") }
            return value
        }
        func marker() throws(PolicyError) {
            guard argument == .bool(true) else { throw PolicyError(at, "write {\"\(key)\": true}") }
        }
        func lockName() throws(PolicyError) -> String {
            let lock = try name(argument, "a lock")
            guard locks[lock] != nil else {
                let declared = locks.isEmpty ? "it declares none" : "its locks are " + locks.keys.sorted().joined(separator: ", ")
                throw PolicyError(at, "lock '\(lock)' is not declared in 'locks': \(declared)")
            }
            return lock
        }
        func variable() throws(PolicyError) -> String {
            let variable = try name(argument, "a variable")
            guard vars[variable] != nil || sharedVars[variable] != nil || scope.locals.contains(variable) else {
                throw PolicyError(at, "variable '\(variable)' is never declared")
            }
            return variable
        }
        func expr(_ json: JSON?, _ field: String) throws(PolicyError) -> Expr {
            guard let json else { throw PolicyError(JSON.pointer(pointer, field), "'\(key)' needs '\(field)', an expression") }
            return try expression(json, JSON.pointer(pointer, field), &scope)
        }
        func body(_ field: String, required: Bool) throws(PolicyError) -> Program? {
            guard let json = value[field] else {
                if required { throw PolicyError(JSON.pointer(pointer, field), "'\(key)' needs '\(field)', a list of statements") }
                return nil
            }
            return try statements(json, JSON.pointer(pointer, field), &scope)
        }
        func pageArgument() throws(PolicyError) -> JSON {
            guard argument.members != nil else { throw PolicyError(at, "'\(key)' takes an object such as {\"write\": {\"arg\": \"write\"}}") }
            return argument
        }
        func requireModern(_ what: String) throws(PolicyError) {
            guard kernel == .modern else { throw PolicyError(pointer, "'\(what)' is modern; this policy is v17") }
        }

        let action: Statement.Action
        switch key {
        case "lock": action = .lock(try lockName())
        case "unlock": action = .unlock(try lockName())
        case "trylock": action = .trylock(try lockName(), otherwise: try body("else", required: true)!)
        case "inc": action = .inc(try variable())
        case "dec": action = .dec(try variable())
        case "set": action = .set(try variable(), to: try expr(value["to"], "to"))
        case "wait": action = .wait(try expression(argument, at, &scope))
        case "sleep":
            try marker()
            action = .sleep
        case "if":
            action = .branch(
                try expression(argument, at, &scope),
                then: try body("then", required: true)!,
                otherwise: try body("else", required: false)
            )
        case "return":
            if argument == .string("-EAGAIN") {
                guard kernel == .modern, place == .callback(.invalidateRangeStart) else {
                    throw PolicyError(at, "-EAGAIN is what a modern invalidate_range_start returns when it may not block")
                }
                action = .ret(.int(-Errno.EAGAIN.number))
            } else {
                action = .ret(try expression(argument, at, &scope))
            }
        case "retry":
            try marker()
            guard place == .fault else {
                throw PolicyError(pointer, "'retry' starts the fault over: it belongs to the fault path, not to \(describe(place))")
            }
            action = .retry
        case "zap":
            let scopeWord = try Statement.Scope(rawValue: word(argument, ["range", "page", "all"]))!
            try checkScope(scopeWord, at, place)
            let dirty = try value["dirty"].map { json throws(PolicyError) -> Bool in
                guard let text = json.string, text == "set_page_dirty" || text == "ignore" else {
                    throw PolicyError(JSON.pointer(pointer, "dirty"), "'dirty' is \"set_page_dirty\" or \"ignore\", not \(json)")
                }
                return text == "set_page_dirty"
            }
            action = .zap(scopeWord, setDirty: dirty ?? true, put: try flag(value["put"], "put"))
        case "flush_tlb":
            let scopeWord = try Statement.Scope(rawValue: word(argument, ["range", "all"]))!
            try checkScope(scopeWord, at, place)
            action = .flushTLB(scopeWord)
        case "age":
            guard case .callback(let callback) = place, [.clearFlushYoung, .clearYoung, .testYoung].contains(callback) else {
                throw PolicyError(pointer, "'age' belongs to the aging callbacks (clear_flush_young, clear_young, test_young)")
            }
            let scopeWord = try Statement.Scope(rawValue: word(argument, ["range", "page"]))!
            try checkScope(scopeWord, at, place)
            action = .age(scopeWord, clear: try flag(value["clear"], "clear"))
        case "set_seq":
            try marker()
            guard place == .callback(.invalidate) else { throw PolicyError(pointer, "'set_seq' is mmu_interval_set_seq: it belongs to invalidate") }
            action = .setSeq
        case "call":
            let op = try name(argument, "an operation")
            guard Command.operations.contains(op), !["create_mm", "register", "unregister", "entry"].contains(op) else {
                throw PolicyError(at, "unknown operation '\(op)' for call: use an mm operation such as munmap, mprotect, touch")
            }
            var fields: [String: Expr] = [:]
            for (field, json) in value.members! where field != "call" {
                guard Self.callFields.contains(field) else {
                    throw PolicyError(
                        JSON.pointer(pointer, field),
                        "a call has the fields of a command (\(Self.callFields.sorted().joined(separator: ", "))), not '\(field)'"
                    )
                }
                fields[field] = try expression(json, JSON.pointer(pointer, field), &scope)
            }
            action = .call(op, fields: fields)
        case "queue_work":
            let item = try name(argument, "a work item")
            guard workNames.contains(item) else { throw PolicyError(at, "work item '\(item)' is not declared in 'work'") }
            action = .queueWork(item)
        case "assert":
            guard let label = value["name"]?.string, !label.isEmpty else {
                throw PolicyError(JSON.pointer(pointer, "name"), "'assert' needs 'name', a string")
            }
            action = .assert(try expression(argument, at, &scope), name: label)
        case "unregister":
            guard subscribe == .classic else { throw PolicyError(pointer, "'unregister' is mmu_notifier_unregister, for subscribe classic") }
            action = .unregister(release: try word(argument, ["release", "no_release"]) == "release")
        case "put":
            try marker()
            guard subscribe == .get else { throw PolicyError(pointer, "'put' is mmu_notifier_put, for subscribe get") }
            action = .put
        case "synchronize":
            let period = try Statement.GracePeriod(rawValue: word(argument, ["rcu", "srcu"]))!
            if period == .srcu { try requireModern("synchronize srcu") }
            action = .synchronize(period)
        case "free_notifier":
            try marker()
            action = .freeNotifier
        case "sample":
            let local = try name(argument, "a local")
            guard let from = value["from"]?.string, vars[from] != nil || sharedVars[from] != nil else {
                throw PolicyError(JSON.pointer(pointer, "from"), "'sample' reads a declared var or shared var, named by 'from'")
            }
            action = .sample(local, from: from)
        case "read_begin":
            try requireModern("read_begin")
            guard subscribe == .interval else { throw PolicyError(pointer, "'read_begin' is mmu_interval_read_begin, for subscribe interval") }
            action = .readBegin(try name(argument, "a local"))
        case "read_retry":
            try requireModern("read_retry")
            guard subscribe == .interval else { throw PolicyError(pointer, "'read_retry' is mmu_interval_read_retry, for subscribe interval") }
            let local = try name(argument, "a local")
            guard scope.locals.contains(local) else { throw PolicyError(at, "local '\(local)' is never set (read_begin sets it)") }
            action = .readRetry(local, then: try body("then", required: true)!)
        case "gup":
            let json = try pageArgument()
            if let unknown = json.members!.first(where: { $0.key != "write" && $0.key != "pin" }) {
                throw PolicyError(JSON.pointer(at, unknown.key), "'gup' takes write and pin, not '\(unknown.key)'")
            }
            action = .gup(
                write: try expression(json["write"] ?? .bool(false), at + "/write", &scope),
                pin: try flag(json["pin"], "gup/pin"),
                otherwise: try body("else", required: false)
            )
        case "hmm_range_fault":
            try requireModern("hmm_range_fault")
            let json = try pageArgument()
            if let unknown = json.members!.first(where: { $0.key != "write" }) {
                throw PolicyError(JSON.pointer(at, unknown.key), "'hmm_range_fault' takes write, not '\(unknown.key)'")
            }
            action = .hmmRangeFault(
                write: try expression(json["write"] ?? .bool(false), at + "/write", &scope),
                otherwise: try body("else", required: false)
            )
        case "lookup_pte":
            let json = try pageArgument()
            if let unknown = json.members!.first(where: { $0.key != "write" }) {
                throw PolicyError(JSON.pointer(at, unknown.key), "'lookup_pte' takes write, not '\(unknown.key)'")
            }
            action = .lookupPTE(
                write: try expression(json["write"] ?? .bool(false), at + "/write", &scope),
                otherwise: try body("else", required: false)
            )
        case "mmap_lock": action = .mmapLock(write: try word(argument, ["read", "write"]) == "write")
        case "mmap_unlock": action = .mmapUnlock(write: try word(argument, ["read", "write"]) == "write")
        case "install":
            let json = try pageArgument()
            if let unknown = json.members!.first(where: { $0.key != "writable" && $0.key != "prefetch" }) {
                throw PolicyError(JSON.pointer(at, unknown.key), "'install' takes writable and prefetch, not '\(unknown.key)'")
            }
            action = .install(
                writable: try expression(json["writable"] ?? .bool(false), at + "/writable", &scope),
                prefetch: try json["prefetch"].map { prefetch throws(PolicyError) in try expression(prefetch, at + "/prefetch", &scope) }
            )
        default:  // "put_page"
            try marker()
            action = .putPage
        }
        return Statement(pointer: pointer, action: action)
    }

    func describe(_ place: Place) -> String {
        switch place {
        case .callback(let callback): callback.rawValue
        case .fault: "the fault path"
        case .entry: "an entry"
        case .work: "a work item"
        case .invariant: "an invariant"
        }
    }

    /// A range needs a callback that has one; a page, a callback with an address or the fault
    /// path and entries.
    func checkScope(_ scope: Statement.Scope, _ pointer: String, _ place: Place) throws(PolicyError) {
        switch (scope, place) {
        case (.all, _): return
        case (.range, .callback(let callback)) where callback.hasRange(kernel): return
        case (.page, .callback(let callback)) where callback.hasAddress(kernel): return
        case (.page, .fault), (.page, .entry): return
        default: throw PolicyError(pointer, "\(describe(place)) has no \(scope.rawValue) to act on")
        }
    }

    // MARK: Expressions

    func expression(_ value: JSON, _ pointer: String, _ scope: inout Scope) throws(PolicyError) -> Expr {
        switch value {
        case .bool(let flag): return .bool(flag)
        case .int, .double:
            guard let number = value.int else { throw PolicyError(pointer, "\(value) is not an integer") }
            return .int(number)
        case .string(let name):
            try checkContext(name, pointer, scope.place)
            return .context(name)
        case .object(let members) where members.count == 1:
            let (key, argument) = members[0]
            let at = JSON.pointer(pointer, key)
            func name() throws(PolicyError) -> String {
                guard let text = argument.string else { throw PolicyError(at, "'\(key)' takes a name, not \(argument)") }
                return text
            }
            func operands(_ count: Int?) throws(PolicyError) -> [Expr] {
                guard let elements = argument.elements, count.map({ elements.count == $0 }) ?? !elements.isEmpty else {
                    throw PolicyError(at, "'\(key)' takes " + (count.map { "an array of \($0) expressions" } ?? "a non-empty array of expressions"))
                }
                var result: [Expr] = []
                for (index, element) in elements.enumerated() { result.append(try expression(element, JSON.pointer(at, index), &scope)) }
                return result
            }
            switch key {
            case "str": return .str(try name())
            case "var":
                let variable = try name()
                guard vars[variable] != nil else { throw PolicyError(at, "variable '\(variable)' is never declared in 'vars'") }
                return .variable(variable)
            case "shared":
                let variable = try name()
                guard sharedVars[variable] != nil else { throw PolicyError(at, "variable '\(variable)' is never declared in 'shared_vars'") }
                return .shared(variable)
            case "local":
                let local = try name()
                guard scope.place != .invariant else { throw PolicyError(at, "an invariant reads vars and shared vars, not locals") }
                guard scope.locals.contains(local) else { throw PolicyError(at, "local '\(local)' is never set in this program") }
                return .local(local)
            case "arg":
                let arg = try name()
                guard arg == "write", scope.place == .fault || scope.place == .entry else {
                    throw PolicyError(at, "the one argument is 'write', of the fault path and entries")
                }
                return .arg(arg)
            case "errno":
                let errno = try name()
                guard let known = Errno(rawValue: errno) else {
                    throw PolicyError(at, "unknown errno '\(errno)': use one of \(Errno.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return .int(-known.number)
            case "eq", "ne", "lt", "le", "gt", "ge":
                let pair = try operands(2)
                return .compare(key, pair[0], pair[1])
            case "and": return .all(try operands(nil))
            case "or": return .any(try operands(nil))
            case "not": return .not(try expression(argument, at, &scope))
            case "min", "max", "add", "sub", "shr":
                let pair = try operands(2)
                return .arithmetic(key, pair[0], pair[1])
            case "in":
                let triple = try operands(3)
                return .within(triple[0], triple[1], triple[2])
            default:
                throw PolicyError(at, "unknown expression '\(key)'")
            }
        default:
            throw PolicyError(pointer, "\(value) is not an expression: a number, true, false, a context name or an object such as {\"var\": \"seq\"}")
        }
    }

    /// `start`, `end`, `address`, and modern `blockable`, `event`, `owner`, where they exist.
    func checkContext(_ name: String, _ pointer: String, _ place: Place) throws(PolicyError) {
        let callback: Callback? = if case .callback(let callback) = place { callback } else { nil }
        switch name {
        case "start", "end":
            guard let callback, callback.hasRange(kernel) else {
                throw PolicyError(pointer, "\(describe(place)) has no range: '\(name)' does not exist there")
            }
        case "address":
            guard callback?.hasAddress(kernel) ?? (place == .fault || place == .entry) else {
                throw PolicyError(pointer, "\(describe(place)) has no page address")
            }
        case "blockable", "event", "owner":
            guard kernel == .modern else { throw PolicyError(pointer, "'\(name)' is the modern range's; v17 has no such thing") }
            guard let callback, callback.hasRange(kernel) else {
                throw PolicyError(pointer, "\(describe(place)) has no range: '\(name)' does not exist there")
            }
        default:
            throw PolicyError(
                pointer,
                "unknown name '\(name)': a string expression is start, end, address, blockable, event or owner (text is {\"str\": ...})"
            )
        }
    }

    // MARK: Locks

    /// Every path through a program must release what it takes: no lock held when it returns,
    /// retries or ends, none taken twice (locks are not recursive), none released unheld.
    func checkLocks(_ program: Program, place: Place) throws(PolicyError) {
        let ends = try flow(program, from: [[]])
        for held in ends where !held.isEmpty {
            let last = program.statements.last?.pointer ?? program.pointer
            throw PolicyError(last, "\(held.sorted().joined(separator: ", ")) is still held on a path out of \(describe(place))")
        }
    }

    /// The sets of locks that may be held after `program`, from each of `starts`.
    func flow(_ program: Program, from starts: Set<Set<String>>) throws(PolicyError) -> Set<Set<String>> {
        var current = starts
        for statement in program.statements {
            var next: Set<Set<String>> = []
            for held in current {
                switch statement.action {
                case .lock(let lock):
                    guard !held.contains(lock) else {
                        throw PolicyError(statement.pointer, "\(lock) is taken again while held: locks are not recursive")
                    }
                    next.insert(held.union([lock]))
                case .mmapLock:
                    guard !held.contains("mmap_lock") else { throw PolicyError(statement.pointer, "mmap_lock is taken again while held") }
                    next.insert(held.union(["mmap_lock"]))
                case .unlock(let lock):
                    guard held.contains(lock) else { throw PolicyError(statement.pointer, "\(lock) is released on a path that does not hold it") }
                    next.insert(held.subtracting([lock]))
                case .mmapUnlock:
                    guard held.contains("mmap_lock") else {
                        throw PolicyError(statement.pointer, "mmap_lock is released on a path that does not hold it")
                    }
                    next.insert(held.subtracting(["mmap_lock"]))
                case .trylock(let lock, let otherwise):
                    guard !held.contains(lock) else {
                        throw PolicyError(statement.pointer, "\(lock) is taken again while held: locks are not recursive")
                    }
                    next.insert(held.union([lock]))
                    next.formUnion(try flow(otherwise, from: [held]))
                case .branch(_, let then, let otherwise):
                    next.formUnion(try flow(then, from: [held]))
                    if let otherwise { next.formUnion(try flow(otherwise, from: [held])) } else { next.insert(held) }
                case .readRetry(_, let then):
                    next.formUnion(try flow(then, from: [held]))
                    next.insert(held)
                case .gup(_, _, let otherwise), .hmmRangeFault(_, let otherwise), .lookupPTE(_, let otherwise):
                    if let otherwise {
                        next.formUnion(try flow(otherwise, from: [held]))
                    } else if !held.isEmpty {
                        throw PolicyError(
                            statement.pointer,
                            "a failure here ends the fault with \(held.sorted().joined(separator: ", ")) held: give it an 'else'"
                        )
                    }
                    next.insert(held)
                case .ret, .retry:
                    guard held.isEmpty else {
                        throw PolicyError(statement.pointer, "\(held.sorted().joined(separator: ", ")) is still held when this path leaves")
                    }
                default:
                    next.insert(held)
                }
            }
            current = next
            if current.isEmpty { break }
        }
        return current
    }
}
