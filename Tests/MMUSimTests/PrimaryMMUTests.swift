import Foundation
import Testing

@testable import MMUSim

@Suite("Primary MMU: mappings, faults, fork, reclaim")
struct PrimaryMMUTests {
    @Test("mmap places memory at mmap_base and merges an adjacent compatible VMA")
    func mmapPlacesAndMerges() {
        var lab = Lab()
        let a = lab.mmap(4)
        let b = lab.mmap(2)
        #expect(a == mmapBase)
        #expect(b == a + 4 * pageSize)
        let vmas = lab.world.mm(lab.mm)!.vmas
        #expect(vmas.count == 1)
        #expect(vmas[0].start == a && vmas[0].end == a + 6 * pageSize)
        // Nothing is populated until touched.
        #expect(lab.world.mm(lab.mm)!.rss == 0)
        #expect(lab.world.framesInUse == 1)
    }

    @Test("a read of untouched private memory maps the zero page read-only; a write then copies it")
    func zeroPageRead() {
        var lab = Lab()
        let a = lab.mmap(2)
        #expect(lab.read(a, pages: 2) == [0, 0])
        #expect(lab.pte(a).pfn == World.zeroPfn && !lab.pte(a).write)
        #expect(lab.world.frames[World.zeroPfn].mapcount == 2)
        #expect(lab.world.framesInUse == 1)
        let seq = lab.world.lastSeq
        lab.write(a, value: 5)
        let pte = lab.pte(a)
        #expect(pte.pfn != World.zeroPfn && pte.write && pte.dirty)
        #expect(lab.frame(at: a).content == 5 && lab.frame(at: a).refcount == 1 && lab.frame(at: a).mapcount == 1)
        #expect(lab.world.frames[World.zeroPfn].mapcount == 1)
        // The copy goes through ptep_clear_flush_notify; no notifier is registered, so no call.
        #expect(lab.calls(since: seq).isEmpty)
        #expect(lab.events(since: seq, ["pte_clear"]).count == 1)
    }

    @Test("munmap inside one VMA splits it and frees only the pages in the hole")
    func munmapInsideOneVMA() {
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4, value: 1)
        let kept = [lab.pte(a).pfn, lab.pte(a + 3 * pageSize).pfn]
        let hole = [lab.pte(a + pageSize).pfn, lab.pte(a + 2 * pageSize).pfn]
        #expect(lab.run(.munmap(mm: lab.mm, addr: a + pageSize, length: 2 * pageSize)).ret == 0)
        let vmas = lab.world.mm(lab.mm)!.vmas
        #expect(vmas.map { [$0.start, $0.end] } == [[a, a + pageSize], [a + 3 * pageSize, a + 4 * pageSize]])
        #expect(vmas[1].pgoff == vmas[0].pgoff + 3)
        #expect(lab.pte(a + pageSize).isNone && lab.pte(a + 2 * pageSize).isNone)
        #expect(hole.allSatisfy { !lab.world.frames[$0].isAllocated })
        #expect(kept.allSatisfy { lab.world.frames[$0].refcount == 1 && lab.world.frames[$0].mapcount == 1 })
        #expect(lab.world.mm(lab.mm)!.rss == 2)
    }

    @Test("munmap across two VMAs removes both and frees their frames")
    func munmapAcrossTwoVMAs() {
        var lab = Lab()
        let a = lab.mmap(2)
        let b = lab.mmap(2, prot: [.read])
        #expect(lab.world.mm(lab.mm)!.vmas.count == 2)
        lab.write(a, pages: 2)
        _ = lab.read(b, pages: 2)
        let used = lab.world.framesInUse
        #expect(used == 3)
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: 4 * pageSize)).ret == 0)
        #expect(lab.world.mm(lab.mm)!.vmas.isEmpty)
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.frames[World.zeroPfn].mapcount == 0)
    }

    @Test("munmap checks its arguments: unaligned, zero length and overflow are EINVAL and change nothing")
    func munmapArguments() {
        var lab = Lab()
        let a = lab.mmap(1)
        let before = lab.world
        #expect(lab.run(.munmap(mm: lab.mm, addr: a + 1, length: pageSize)).errno == .EINVAL)
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: 0)).errno == .EINVAL)
        #expect(lab.run(.munmap(mm: lab.mm, addr: taskSize - pageSize, length: 2 * pageSize)).errno == .EINVAL)
        #expect(lab.world.mms == before.mms && lab.world.frames == before.frames)
    }

    @Test("touch outside a VMA is EFAULT, a write to a read-only VMA is EPERM, a read of PROT_NONE is EFAULT")
    func touchPermissions() {
        var lab = Lab()
        let r = lab.mmap(1, prot: [.read])
        let none = lab.mmap(1, prot: [])
        #expect(lab.run(.touch(mm: lab.mm, addr: 0x1000, length: pageSize, write: false, value: nil)).errno == .EFAULT)
        #expect(lab.write(r).errno == .EPERM)
        #expect(lab.run(.touch(mm: lab.mm, addr: none, length: pageSize, write: false, value: nil)).errno == .EFAULT)
        #expect(lab.pte(r).isNone)
        #expect(lab.world.tasks.isEmpty)
    }

    @Test("COW after fork: each side sees its own writes, and the shared frame's counts fall back")
    func forkCOW() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 10)
        let shared = lab.pte(a).pfn
        let child = lab.run(.fork(mm: lab.mm)).child!
        #expect(lab.world.mm(child)!.vmas == lab.world.mm(lab.mm)!.vmas)
        #expect(lab.world.frames[shared].refcount == 2 && lab.world.frames[shared].mapcount == 2)
        #expect(!lab.pte(a).write && !lab.pte(a, mm: child).write)
        #expect(lab.pte(a, mm: child).pfn == shared)

        lab.write(a, value: 11)
        #expect(lab.pte(a).pfn != shared && lab.pte(a).write)
        #expect(lab.world.frames[shared].refcount == 1 && lab.world.frames[shared].mapcount == 1)
        #expect(lab.read(a) == [11])
        #expect(lab.read(a, mm: child) == [10])

        // The child is now the only mapper: its write reuses the frame in place.
        lab.write(a, value: 12, mm: child)
        #expect(lab.pte(a, mm: child).pfn == shared && lab.pte(a, mm: child).write)
        #expect(lab.read(a, mm: child) == [12])
        #expect(lab.read(a) == [11])
    }

    @Test("swap-out then swap-in returns the written content")
    func swapRoundTrip() {
        var lab = Lab()
        let a = lab.mmap(3)
        lab.write(a, pages: 3, value: 0xabc)
        let first = lab.run(.reclaim(mm: lab.mm, addr: a, length: 3 * pageSize, pages: nil))
        #expect(first.scanned == 3 && first.referenced == 3 && first.swappedOut == 0)
        let second = lab.run(.reclaim(mm: lab.mm, addr: a, length: 3 * pageSize, pages: nil))
        #expect(second.scanned == 3 && second.swappedOut == 3 && second.failed == 0)
        #expect(lab.pte(a).isSwap && lab.pte(a + 2 * pageSize).isSwap)
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.mm(lab.mm)!.rss == 0)
        #expect(lab.read(a, pages: 3) == [0xabc, 0xabc, 0xabc])
        #expect(lab.pte(a).isPresent && !lab.pte(a).write)
        #expect(lab.world.mm(lab.mm)!.rss == 3)
        // A write after swap-in reuses the page: it is the only mapping.
        let pfn = lab.pte(a).pfn
        lab.write(a, value: 1)
        #expect(lab.pte(a).pfn == pfn && lab.pte(a).write)
    }

    @Test("mlocked pages survive reclaim")
    func lockedPagesStay() {
        var lab = Lab()
        let a = lab.mmap(2, locked: true)
        #expect(lab.pte(a).isPresent && lab.pte(a + pageSize).isPresent)
        for _ in 0..<2 {
            let result = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
            #expect(result.failed == 2 && result.swappedOut == 0)
        }
        #expect(lab.pte(a).isPresent && lab.pte(a + pageSize).isPresent)
        #expect(lab.run(.madviseDontneed(mm: lab.mm, addr: a, length: pageSize)).errno == .EINVAL)
    }

    @Test("mprotect to read-only splits the VMA, write-protects its ptes, and a write then gets EPERM")
    func mprotectReadOnly() {
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4, value: 3)
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a + pageSize, length: 2 * pageSize, prot: [.read])).ret == 0)
        let vmas = lab.world.mm(lab.mm)!.vmas
        #expect(vmas.map(\.prot) == [[.read, .write], [.read], [.read, .write]])
        #expect(lab.pte(a).write && !lab.pte(a + pageSize).write && !lab.pte(a + 2 * pageSize).write)
        #expect(lab.write(a + pageSize).errno == .EPERM)
        #expect(lab.read(a + pageSize) == [3])
        // Back to rw: the VMAs merge again; the ptes stay read-only until a write reuses them.
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a + pageSize, length: 2 * pageSize, prot: [.read, .write])).ret == 0)
        #expect(lab.world.mm(lab.mm)!.vmas.count == 1)
        let pfn = lab.pte(a + pageSize).pfn
        lab.write(a + pageSize, value: 4)
        #expect(lab.pte(a + pageSize).pfn == pfn && lab.pte(a + pageSize).write)
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a + 8 * pageSize, length: pageSize, prot: [.read])).errno == .ENOMEM)
    }

    @Test("mremap move keeps contents and frames; growing in place and shrinking work too")
    func mremap() {
        var lab = Lab()
        let a = lab.mmap(2)
        let blocker = lab.mmap(1, prot: [.read])
        lab.write(a, pages: 2, value: 9)
        let pfns = [lab.pte(a).pfn, lab.pte(a + pageSize).pfn]
        let moved = lab.run(
            .mremap(mm: lab.mm, oldAddr: a, oldLength: 2 * pageSize, newLength: 4 * pageSize, mayMove: true, fixed: false, newAddr: nil)
        )
        let b = moved.addr!
        #expect(moved.ret == 0 && b != a && b > blocker)
        #expect(lab.pte(a).isNone && lab.world.mm(lab.mm)!.vma(containing: a) == nil)
        #expect([lab.pte(b).pfn, lab.pte(b + pageSize).pfn] == pfns)
        #expect(lab.read(b, pages: 2) == [9, 9])
        #expect(lab.world.frames[pfns[0]].mapcount == 1)
        // Shrink, then grow back in place.
        #expect(
            lab.run(.mremap(mm: lab.mm, oldAddr: b, oldLength: 4 * pageSize, newLength: pageSize, mayMove: false, fixed: false, newAddr: nil)).addr
                == b
        )
        #expect(lab.pte(b + pageSize).isNone && !lab.world.frames[pfns[1]].isAllocated)
        let grown = lab.run(.mremap(mm: lab.mm, oldAddr: b, oldLength: pageSize, newLength: 3 * pageSize, mayMove: false, fixed: false, newAddr: nil))
        #expect(grown.addr == b)
        #expect(lab.world.mm(lab.mm)!.vma(containing: b + 2 * pageSize)?.start == b)
        // Growing a mapping that something follows, without MREMAP_MAYMOVE, fails.
        let c = lab.mmap(1, at: b + 3 * pageSize)
        #expect(c == b + 3 * pageSize)
        #expect(
            lab.run(.mremap(mm: lab.mm, oldAddr: b, oldLength: 3 * pageSize, newLength: 5 * pageSize, mayMove: false, fixed: false, newAddr: nil))
                .errno == .ENOMEM
        )
        // The old address is gone.
        #expect(
            lab.run(.mremap(mm: lab.mm, oldAddr: a, oldLength: pageSize, newLength: pageSize, mayMove: false, fixed: false, newAddr: nil)).errno
                == .EFAULT
        )
    }

    @Test("madvise(DONTNEED) drops the pages but keeps the VMA; the next read sees zeroes")
    func madviseDontneed() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 8)
        #expect(lab.run(.madviseDontneed(mm: lab.mm, addr: a, length: 2 * pageSize)).ret == 0)
        #expect(lab.world.mm(lab.mm)!.vmas.count == 1)
        #expect(lab.pte(a).isNone && lab.world.framesInUse == 1)
        #expect(lab.read(a, pages: 2) == [0, 0])
    }

    @Test("a shared file mapping writes through the page cache; writeback cleans the pte and writes the file")
    func sharedFileWriteback() {
        var lab = Lab()
        let a = lab.mmap(2, shared: true, file: "data")
        lab.write(a, value: 0x42)
        let pfn = lab.pte(a).pfn
        #expect(lab.world.frames[pfn].kind == .file && lab.world.frames[pfn].dirty)
        #expect(lab.world.frames[pfn].refcount == 2 && lab.world.frames[pfn].mapcount == 1)
        let result = lab.run(.writeback(file: "data"))
        #expect(result.cleaned == 1)
        #expect(!lab.world.frames[pfn].dirty && !lab.pte(a).write && !lab.pte(a).dirty)
        #expect(lab.world.file(named: "data")!.disk[0] == 0x42)
        // A second process mapping the same file sees the page.
        let other = lab.world.createMM()
        let b = lab.mmap(2, shared: true, file: "data", mm: other)
        #expect(lab.read(b, mm: other) == [0x42])
        #expect(lab.pte(b, mm: other).pfn == pfn)
    }

    @Test("a private file mapping copies on write and leaves the file unchanged")
    func privateFileCOW() {
        var lab = Lab()
        let shared = lab.mmap(1, shared: true, file: "f")
        lab.write(shared, value: 1)
        let a = lab.mmap(1, file: "f")
        #expect(lab.read(a) == [1])
        let cached = lab.pte(a).pfn
        lab.write(a, value: 2)
        #expect(lab.pte(a).pfn != cached && lab.frame(at: a).kind == .anon)
        #expect(lab.read(shared) == [1])
        #expect(lab.world.frames[cached].mapcount == 1)
    }

    @Test("migration moves pages to new frames with the same content")
    func migration() {
        var lab = Lab()
        let a = lab.mmap(2)
        lab.write(a, pages: 2, value: 6)
        let old = lab.pte(a).pfn
        let generation = lab.world.frames[old].generation
        let result = lab.run(.migrate(mm: lab.mm, addr: a, length: 2 * pageSize))
        #expect(result.migrated == 2)
        #expect(lab.pte(a).pfn != old && lab.pte(a).isPresent && lab.pte(a).write)
        // The old frame was freed (and, freed first, reused for the second page's copy).
        #expect(lab.world.frames[old].generation != generation)
        #expect(lab.world.framesInUse == 3)
        #expect(lab.frame(at: a).refcount == 1 && lab.frame(at: a).mapcount == 1)
        #expect(lab.read(a, pages: 2) == [6, 6])
    }

    @Test("ENOMEM when memory and swap are exhausted leaves nothing half-done")
    func outOfMemory() {
        var lab = Lab(frames: 5, swapSlots: 2)
        let a = lab.mmap(8)
        // Frames 1-4 are free: four pages fit, the fifth fails.
        let result = lab.write(a, pages: 8, value: 1)
        #expect(result.errno == .ENOMEM)
        #expect(result.faults == 5)
        #expect(lab.pte(a + 4 * pageSize).isNone)
        #expect(lab.world.framesInUse == 5)
        #expect(lab.world.tasks.isEmpty)
        // Reclaim swaps out what swap can hold; the rest fails and stays mapped.
        _ = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        let swapped = lab.run(.reclaim(mm: lab.mm, addr: nil, length: nil, pages: nil))
        #expect(swapped.swappedOut == 2 && swapped.failed == 2)
        #expect(lab.write(a + 4 * pageSize, pages: 2).ret == 0)
        let full = lab.write(a + 6 * pageSize)
        #expect(full.errno == .ENOMEM && lab.pte(a + 6 * pageSize).isNone)
        #expect(lab.world.mm(lab.mm)!.rss == 4)
        // Swapping a page back in needs a frame too.
        let swapIn = lab.run(.touch(mm: lab.mm, addr: a, length: pageSize, write: false, value: nil))
        #expect(swapIn.errno == .ENOMEM && lab.pte(a).isSwap)
        #expect(lab.world.framesInUse == 5)
    }

    @Test("munmap and mprotect of a sparse 1 TiB range visit only populated tables")
    func sparseRangesStayCheap() {
        var lab = Lab(frames: 64)
        let tib: UInt64 = 1 << 40
        let a = lab.mmap(tib / pageSize)
        for i in 0..<10 { lab.write(a + UInt64(i) * (tib / 10) & ~(pageSize - 1)) }
        #expect(lab.world.mm(lab.mm)!.rss == 10)
        var before = lab.world.tablesVisited
        #expect(lab.run(.mprotect(mm: lab.mm, addr: a, length: tib, prot: [.read])).ret == 0)
        let mprotectTables = lab.world.tablesVisited - before
        before = lab.world.tablesVisited
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: tib)).ret == 0)
        let munmapTables = lab.world.tablesVisited - before
        // Each populated page sits under its own PUD, PMD and PTE table: 1 root + 3 x 10.
        #expect(mprotectTables <= 31)
        #expect(munmapTables <= 31)
        #expect(lab.world.framesInUse == 1)
        #expect(lab.world.mm(lab.mm)!.pageTable.leafTables == 0)
    }

    @Test("a one-page range is read down its path: the same entry and the same tables counted as a walk of the range")
    func onePageForEach() {
        var table = RadixTable()
        let vpn: UInt64 = (3 << 27) | (5 << 18) | (7 << 9) | 11
        table.set(vpn, 42)
        table.set(vpn + 3, 43)
        // Present: root, PUD, PMD, PTE table. A range of two pages walks the same four.
        var seen: [(UInt64, UInt64)] = []
        #expect(table.forEach(from: vpn, to: vpn + 1) { seen.append(($0, $1)) } == 4)
        #expect(seen.count == 1 && seen[0] == (vpn, 42))
        #expect(table.forEach(from: vpn, to: vpn + 2) { _, _ in } == 4)
        // An empty slot of a present PTE table: four tables, no entry.
        seen = []
        #expect(table.forEach(from: vpn + 1, to: vpn + 2) { seen.append(($0, $1)) } == 4)
        #expect(seen.isEmpty)
        // No PMD under the PUD: root and PUD, as the walk of a two-page range counts them.
        let far = (3 << 27) | (6 << 18) as UInt64
        #expect(table.forEach(from: far, to: far + 1) { _, _ in } == 2)
        #expect(table.forEach(from: far, to: far + 2) { _, _ in } == 2)
    }

    @Test("the same commands on two fresh worlds give equal worlds, and a world survives encoding")
    func determinism() throws {
        func script() -> World {
            var lab = Lab()
            let a = lab.mmap(4)
            lab.write(a, pages: 4, value: 1)
            _ = lab.run(.fork(mm: lab.mm))
            lab.write(a + pageSize, value: 2)
            _ = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
            _ = lab.run(.reclaim(mm: nil, addr: nil, length: nil, pages: nil))
            _ = lab.register("kvm")
            lab.fault(1, a, write: true)
            _ = lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize))
            return lab.world
        }
        let first = script()
        #expect(first == script())
        let data = try JSONEncoder().encode(first)
        #expect(try JSONDecoder().decode(World.self, from: data) == first)
    }

    @Test("exit tears the address space down and frees every frame")
    func exitFreesEverything() {
        var lab = Lab()
        let a = lab.mmap(4)
        lab.write(a, pages: 4)
        #expect(lab.run(.exit(mm: lab.mm)).ret == 0)
        let mm = lab.world.mm(lab.mm)!
        #expect(mm.users == 0 && mm.count == 0 && mm.exited && mm.vmas.isEmpty)
        #expect(lab.world.framesInUse == 1)
        #expect(lab.run(.munmap(mm: lab.mm, addr: a, length: pageSize)).errno == .ESRCH)
    }

    @Test("remap_file_pages rebinds page offsets of a shared file mapping")
    func remapFilePages() {
        var lab = Lab()
        let a = lab.mmap(2, shared: true, file: "f")
        lab.write(a, value: 100)
        lab.write(a + pageSize, value: 200)
        #expect(lab.run(.remapFilePages(mm: lab.mm, addr: a, length: pageSize, pgoff: 1)).ret == 0)
        #expect(lab.pte(a).isNone)
        #expect(lab.read(a) == [200])
        #expect(lab.pte(a).pfn == lab.pte(a + pageSize).pfn)
        #expect(lab.run(.remapFilePages(mm: lab.mm, addr: lab.mmap(1), length: pageSize, pgoff: 0)).errno == .EINVAL)
    }

    @Test("a hugetlb mapping is rounded up to whole 2 MiB pages")
    func hugetlbRounds() {
        var lab = Lab()
        let a = lab.mmap(1, hugetlb: true)
        #expect(a % hugePageSize == 0)
        #expect(lab.world.mm(lab.mm)!.vmas[0].length == hugePageSize)
        #expect(lab.world.mm(lab.mm)!.vmas[0].hugetlb)
    }

    /// get_user_pages' follow_page (2.6.26 mm/memory.c, FOLL_GET | FOLL_TOUCH | FOLL_WRITE)
    /// writes no pte: it takes a reference, set_page_dirty on a page neither the pte nor the
    /// page calls dirty, and mark_page_accessed. Paused after kvm's gup (at its lock), the pte is
    /// the one the write left, bit for bit, and no range waits for the quiescent checks; the
    /// page is referenced and dirty, with the gup's reference on it.
    @Test("a gup's follow_page leaves the pte as it was and gives no range to the quiescent checks")
    func followPageWritesNoPTE() throws {
        var (lab, addr, kvm, _) = EngineTests.faultWorld()
        let pte = lab.world.mms[lab.mm - 1].pageTable.pte(at: addr)
        let pfn = pte.pfn
        lab.world.frames[pfn].dirty = false
        lab.world.frames[pfn].referenced = false
        let count = lab.world.frames[pfn].refcount
        #expect(pte.isPresent && pte.write && pte.dirty && lab.world.checker.changed.isEmpty)
        let id = lab.world.start(.fault(mm: lab.mm, notifier: kvm, address: addr, write: true), pauseAt: "driver:kvm:/fault/3")
        #expect(lab.world.run(id) == .paused)
        #expect(lab.world.mms[lab.mm - 1].pageTable.pte(at: addr) == pte)
        #expect(lab.world.checker.changed.isEmpty)
        // The pte is dirty: follow_page leaves the page's own flag alone (no set_page_dirty).
        #expect(lab.world.frames[pfn].referenced && !lab.world.frames[pfn].dirty && lab.world.frames[pfn].refcount == count + 1)
        #expect(lab.world.resume(id) == .done && lab.world.violations.isEmpty)
    }
}

@Suite("Limits the kernel itself has")
struct KernelLimitTests {
    @Test("mmap past sysctl_max_map_count is ENOMEM, and so is a munmap or mprotect that would split a VMA")
    func maxMapCount() {
        var world = World(WorldConfig(frames: 64, swapSlots: 0, maxMapCount: 3))
        let mm = world.createMM()
        func mmap(_ prot: Prot) -> OpResult {
            world.perform(.mmap(mm: mm, addr: nil, length: 4 * pageSize, prot: prot, flags: MmapFlags(), file: nil, offset: 0)).result
        }
        #expect(mmap([.read]).ret == 0)
        #expect(mmap([.read, .write]).ret == 0)
        #expect(mmap([.read]).ret == 0)
        #expect(world.mm(mm)!.vmas.count == 3)
        #expect(mmap([.read, .write]).errno == .ENOMEM)
        let before = world.mm(mm)!
        #expect(world.perform(.munmap(mm: mm, addr: mmapBase + pageSize, length: pageSize)).result.errno == .ENOMEM)
        #expect(world.perform(.mprotect(mm: mm, addr: mmapBase + pageSize, length: pageSize, prot: [])).result.errno == .ENOMEM)
        #expect(world.mm(mm)! == before)
        // A munmap that splits nothing is fine.
        #expect(world.perform(.munmap(mm: mm, addr: mmapBase, length: 4 * pageSize)).result.ret == 0)
        #expect(world.tasks.isEmpty)
    }
}
