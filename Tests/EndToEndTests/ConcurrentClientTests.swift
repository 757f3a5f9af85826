import Testing

@Suite("Concurrent clients")
struct ConcurrentClientTests {
    private static let page = LabClient.page

    /// What one client did, and what it expects to find afterwards.
    private struct ClientResult: Sendable {
        var mm: Int
        var addr: UInt64
        var kvm: Int
        var value: Int64
    }

    /// One client's work on its own mm: mmap 8 pages, write them, register kvm, fault 4, munmap the upper 4,
    /// mprotect the lowest 2 read-only; each answer's trace must hold only this mm's events.
    private static func client(_ lab: LabClient, index: Int) async throws -> ClientResult {
        let value = Int64(100 + index)
        let mm = try await lab.createMM(name: "client \(index)")
        let a = try await lab.mmap(mm: mm, pages: 8)
        try await lab.write(mm: mm, a, pages: 8, value: UInt64(value))
        let kvm = try await lab.register(mm: mm, "kvm")
        for page in 0..<4 as Range<UInt64> {
            let fault = try await lab.fault(mm: mm, kvm, a + page * Self.page, write: page % 2 == 0)
            #expect(fault["ret"] == 0 && fault["spte"]?["address"]?.address == a + page * Self.page)
        }
        let munmap = try await lab.post("/mms/\(mm)/munmap", ["addr": .address(a + 4 * Self.page), "length": .number(4 * Self.page)])
        #expect(
            LabClient.calls(in: munmap) == [
                LabClient.range("invalidate_range_start", kvm, a + 4 * Self.page, a + 8 * Self.page),
                LabClient.range("invalidate_range_end", kvm, a + 4 * Self.page, a + 8 * Self.page),
            ]
        )
        #expect(munmap["trace"]?.array?.allSatisfy { $0["mm"] == nil || $0["mm"]?.int == Int64(mm) } == true)
        let mprotect = try await lab.post("/mms/\(mm)/mprotect", ["addr": .address(a), "length": .number(2 * Self.page), "prot": "r"])
        #expect(
            LabClient.calls(in: mprotect) == [
                LabClient.range("invalidate_range_start", kvm, a, a + 2 * Self.page),
                LabClient.range("invalidate_range_end", kvm, a, a + 2 * Self.page),
            ]
        )
        #expect(try await lab.read(mm: mm, a, pages: 4) == Array(repeating: value, count: 4))
        return ClientResult(mm: mm, addr: a, kvm: kvm, value: value)
    }

    @Test("8 libcurl clients in parallel, each on its own mm: the invariants hold and each mm holds what its client left")
    func eightClients() async throws {
        try await TestServer.withRunning { server in
            let lab = LabClient(server)
            let results = try await withThrowingTaskGroup(of: ClientResult.self) { group in
                for index in 0..<8 {
                    group.addTask { try await Self.client(lab, index: index) }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.count == 8)
            #expect(Set(results.map(\.mm)).count == 8 && Set(results.map(\.kvm)).count == 8)
            #expect(try await lab.get("/invariants") == ["ok": true, "violations": []])
            #expect(try await lab.get("/mms")["mms"]?.array?.count == 8)
            #expect(try await lab.get("/tasks")["tasks"] == [])

            for result in results {
                let a = result.addr
                let vmas = try await lab.get("/mms/\(result.mm)/vmas")["vmas"]?.array ?? []
                #expect(vmas.map { $0["start"]?.address } == [a, a + 2 * Self.page])
                #expect(vmas.map { $0["end"]?.address } == [a + 2 * Self.page, a + 4 * Self.page])
                #expect(vmas.map { $0["prot"] } == ["r", "rw"])
                let ptes = try await lab.get("/mms/\(result.mm)/ptes")["ptes"]?.array ?? []
                #expect(ptes.map { $0["address"]?.address } == (0..<4).map { a + $0 * Self.page })
                #expect(ptes.allSatisfy { $0["state"] == "present" })
                // mprotect zapped the sptes of the two read-only pages; those of pages 2 and 3 stay.
                let sptes = try await lab.sptes(mm: result.mm, result.kvm)
                #expect(sptes.map { $0["address"]?.address } == [a + 2 * Self.page, a + 3 * Self.page])
                #expect(sptes.map { $0["pfn"] } == ptes.suffix(2).map { $0["pfn"] })
                let counters = try await lab.notifier(mm: result.mm, result.kvm)["counters"]
                #expect(counters?["invalidate_range_start"] == 2 && counters?["invalidate_range_end"] == 2 && counters?["faults"] == 4)
                let frames = try await lab.get("/frames")["frames"]?.array ?? []
                let mine = Set(ptes.compactMap { $0["pfn"]?.int })
                #expect(frames.filter { mine.contains($0["pfn"]?.int ?? -1) }.allSatisfy { $0["content"]?.int == result.value })
            }
        }
    }
}
