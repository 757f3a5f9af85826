/// The requests that scenarios make, over libcurl, with answers parsed by json-c.
///
/// Each helper checks that the answer is a 200 and throws ``UnexpectedAnswer`` otherwise, so a test reads as the
/// scenario it builds; the raw ``send(_:_:_:headers:)`` is for tests that expect an error status.
struct LabClient: Sendable {
    /// A page, in bytes.
    static let page: UInt64 = 4096
    /// The notifier methods, the calls a secondary MMU receives.
    static let methods: Set<String> = ["release", "clear_flush_young", "invalidate_page", "invalidate_range_start", "invalidate_range_end"]

    /// The libcurl client of the server under test.
    let client: HTTPClient

    init(_ server: TestServer) {
        self.client = server.client
    }

    /// Sends a request and parses the answer, whatever its status.
    func send(_ method: String, _ path: String, _ body: JSONValue? = nil, headers: [String] = []) async throws -> (status: Int, json: JSONValue) {
        let answer = try await self.client.request(method: method, path: path, body: body?.bytes, headers: headers)
        do {
            return (answer.status, try JSONValue.parse(answer.body))
        } catch {
            throw UnexpectedAnswer(request: "\(method) \(path)", status: answer.status, body: String(decoding: answer.body, as: UTF8.self))
        }
    }

    /// Sends a request that must answer 200 and returns the parsed answer.
    @discardableResult
    func ok(_ method: String, _ path: String, _ body: JSONValue? = nil) async throws -> JSONValue {
        let answer = try await self.client.request(method: method, path: path, body: body?.bytes)
        guard answer.status == 200 else {
            throw UnexpectedAnswer(request: "\(method) \(path)", status: answer.status, body: String(decoding: answer.body, as: UTF8.self))
        }
        return try JSONValue.parse(answer.body)
    }

    /// GET that must answer 200.
    func get(_ path: String) async throws -> JSONValue {
        try await self.ok("GET", path)
    }

    /// POST that must answer 200.
    @discardableResult
    func post(_ path: String, _ body: JSONValue = [:]) async throws -> JSONValue {
        try await self.ok("POST", path, body)
    }

    /// POST /mms; the new mm's id.
    func createMM(name: String = "test") async throws -> Int {
        try Self.int(try await self.post("/mms", ["name": .string(name)])["id"], "id")
    }

    /// mmap of `pages` pages: anonymous private by default; the address chosen.
    func mmap(mm: Int, pages: UInt64, prot: String = "rw", shared: Bool = false, file: String? = nil) async throws -> UInt64 {
        var flags: [JSONValue] = [shared ? "shared" : "private"]
        var body: JSONValue = ["length": .number(pages * Self.page), "prot": .string(prot)]
        if let file {
            body = body.setting("file", .string(file))
        } else {
            flags.append("anonymous")
        }
        let answer = try await self.post("/mms/\(mm)/mmap", body.setting("flags", .array(flags)))
        guard answer["ret"]?.int == 0, let addr = answer["addr"]?.address else {
            throw UnexpectedAnswer(request: "POST /mms/\(mm)/mmap", status: 200, body: answer.serialized)
        }
        return addr
    }

    /// A CPU write of `value` (or of the model's default) to each page of a range.
    @discardableResult
    func write(mm: Int, _ addr: UInt64, pages: UInt64 = 1, value: UInt64? = nil) async throws -> JSONValue {
        var body: JSONValue = ["addr": .address(addr), "length": .number(pages * Self.page), "write": true]
        if let value { body = body.setting("value", .number(value)) }
        return try await self.post("/mms/\(mm)/touch", body)
    }

    /// A CPU read of each page of a range; the values read.
    func read(mm: Int, _ addr: UInt64, pages: UInt64 = 1) async throws -> [Int64] {
        let answer = try await self.post("/mms/\(mm)/touch", ["addr": .address(addr), "length": .number(pages * Self.page), "write": false])
        return answer["values"]?.array?.compactMap(\.int) ?? []
    }

    /// Registers a notifier of `kind`; its id (the registration must succeed).
    func register(mm: Int, _ kind: String, bugs: [String] = []) async throws -> Int {
        let answer = try await self.post("/mms/\(mm)/notifiers", ["kind": .string(kind), "bugs": .array(bugs.map { .string($0) })])
        guard answer["ret"]?.int == 0, let id = answer["id"]?.int else {
            throw UnexpectedAnswer(request: "POST /mms/\(mm)/notifiers", status: 200, body: answer.serialized)
        }
        return Int(id)
    }

    /// A secondary MMU fault.
    @discardableResult
    func fault(mm: Int, _ notifier: Int, _ address: UInt64, write: Bool = false, pauseAt: String? = nil) async throws -> JSONValue {
        var body: JSONValue = ["address": .address(address), "write": .bool(write)]
        if let pauseAt { body = body.setting("pause_at", .string(pauseAt)) }
        return try await self.post("/mms/\(mm)/notifiers/\(notifier)/fault", body)
    }

    /// A load or store through a secondary MMU's translation.
    @discardableResult
    func access(mm: Int, _ notifier: Int, _ address: UInt64, write: Bool, value: UInt64? = nil) async throws -> JSONValue {
        var body: JSONValue = ["address": .address(address), "write": .bool(write)]
        if let value { body = body.setting("value", .number(value)) }
        return try await self.post("/mms/\(mm)/notifiers/\(notifier)/access", body)
    }

    /// A reclaim pass over one range of an mm.
    @discardableResult
    func reclaim(mm: Int, _ addr: UInt64, pages: UInt64 = 1) async throws -> JSONValue {
        try await self.post("/reclaim", ["mm": .int(Int64(mm)), "addr": .address(addr), "length": .number(pages * Self.page)])
    }

    /// GET /trace's `next`: the sequence number of the last event so far.
    func traceNext() async throws -> Int {
        try Self.int(try await self.get("/trace")["next"], "next")
    }

    /// The events after `seq` (GET /trace?since=).
    func events(since seq: Int) async throws -> [JSONValue] {
        try await self.get("/trace?since=\(seq)")["events"]?.array ?? []
    }

    /// The pte at `address`, or nil when none is present or swapped.
    func pte(mm: Int, _ address: UInt64) async throws -> JSONValue? {
        try await self.get("/mms/\(mm)/ptes?addr=\(hexAddress(address))&length=\(Self.page)")["ptes"]?[0]
    }

    /// The secondary mappings of a notifier.
    func sptes(mm: Int, _ notifier: Int) async throws -> [JSONValue] {
        try await self.get("/mms/\(mm)/notifiers/\(notifier)/sptes")["sptes"]?.array ?? []
    }

    /// GET /mms/{mm}/notifiers/{n}.
    func notifier(mm: Int, _ notifier: Int) async throws -> JSONValue {
        try await self.get("/mms/\(mm)/notifiers/\(notifier)")
    }

    /// The names of the invariants GET /invariants reports broken, in order.
    func brokenInvariants() async throws -> [String] {
        try await self.get("/invariants")["violations"]?.array?.compactMap { $0["invariant"]?.string } ?? []
    }

    /// The notifier calls among `events`, each as "call nN 0xstart-0xend" or "call nN @0xaddress".
    static func calls(_ events: [JSONValue]) -> [String] {
        events.filter { Self.methods.contains($0["call"]?.string ?? "") }.map(Self.describe)
    }

    /// The notifier calls in an answer's `trace`.
    static func calls(in answer: JSONValue) -> [String] {
        Self.calls(answer["trace"]?.array ?? [])
    }

    /// The events among `events` whose call is one of `names`.
    static func events(_ events: [JSONValue], _ names: Set<String>) -> [JSONValue] {
        events.filter { names.contains($0["call"]?.string ?? "") }
    }

    /// One event as "call nN 0xstart-0xend" or "call nN @0xaddress".
    static func describe(_ event: JSONValue) -> String {
        var text = "\(event["call"]?.string ?? "?") n\(event["notifier"]?.int.map { String($0) } ?? "-")"
        if let start = event["start"]?.address, let end = event["end"]?.address { text += " \(hexAddress(start))-\(hexAddress(end))" }
        if let address = event["address"]?.address { text += " @\(hexAddress(address))" }
        return text
    }

    /// The expected description of a range call.
    static func range(_ call: String, _ notifier: Int, _ start: UInt64, _ end: UInt64) -> String {
        "\(call) n\(notifier) \(hexAddress(start))-\(hexAddress(end))"
    }

    /// The expected description of a page call.
    static func page(_ call: String, _ notifier: Int, _ address: UInt64) -> String {
        "\(call) n\(notifier) @\(hexAddress(address))"
    }

    /// The integer a member holds, or a thrown ``UnexpectedAnswer``.
    static func int(_ value: JSONValue?, _ name: String) throws -> Int {
        guard let value = value?.int else { throw UnexpectedAnswer(request: name, status: 200, body: value?.serialized ?? "missing") }
        return Int(value)
    }
}

extension JSONValue {
    /// This object with `key` set to `value`.
    func setting(_ key: String, _ value: JSONValue) -> JSONValue {
        guard case .object(var members) = self else { return self }
        members[key] = value
        return .object(members)
    }
}

/// An answer a helper did not expect: another status, or a body that is not the JSON it needs.
struct UnexpectedAnswer: Error, CustomStringConvertible {
    /// The request, as "METHOD /path".
    let request: String
    /// The HTTP status received.
    let status: Int
    /// The body received, as text.
    let body: String

    var description: String { "\(self.request) answered \(self.status): \(self.body)" }
}
