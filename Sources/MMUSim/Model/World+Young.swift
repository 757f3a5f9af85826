/// The modern aging paths that ask secondary MMUs without flushing: idle page tracking
/// (mm/page_idle.c: `page_idle_clear_pte_refs` → `ptep_clear_young_notify` →
/// `clear_young`) and khugepaged's scan (mm/khugepaged.c `hpage_collapse_scan_pmd` →
/// `mmu_notifier_test_young`), read in a 6.17 tree. Both call under the page-table lock.
extension World {
    /// /sys/kernel/mm/page_idle/bitmap for the pages of `[address, end)`: a write (`mark`)
    /// clears each mapped page's references then marks it idle; a read clears an idle page's
    /// references and reports whether it is still idle (a value per page, 1 or 0).
    mutating func pageIdleNext(mm: Int, address: UInt64, end: UInt64, mark: Bool) -> Exec {
        guard address < end else { return .expanded }
        if me.result.values == nil, !mark { updateResult { $0.values = [] } }
        let next = Step.pageIdleNext(mm: mm, address: address + pageSize, end: end, mark: mark)
        let pte = mms[mm - 1].pageTable.translation(at: address)
        // page_idle_get_folio: an LRU page only (not the zero page); the read path walks only a
        // page that is still idle. The others read as not idle.
        guard pte.isPresent, pte.pfn != Self.zeroPfn, frames[pte.pfn].isAllocated, mark || frames[pte.pfn].idle else {
            if !mark { updateResult { $0.values?.append(0) } }
            push([next])
            return .expanded
        }
        let pfn = pte.pfn
        scratch.young = false
        var steps: [Step] = [.acquire(rmapLock(pfn))]
        for mapping in rmap(pfn, matching: { $0.isPresent && $0.pfn == pfn }) {
            steps += [
                .acquire(.pageTable(mm: mapping.mm)), .referencedOne(mm: mapping.mm, address: mapping.address, pfn: pfn, fresh: false),
                .notify(youngCall(.clearYoung, mm: mapping.mm, address: mapping.address)), .release(.pageTable(mm: mapping.mm)),
            ]
        }
        push(steps + [.release(rmapLock(pfn)), .pageIdleSet(pfn: pfn, mark: mark), next])
        return .expanded
    }

    /// After the walk: a page found referenced is not idle (`folio_clear_idle`, and
    /// `folio_set_young`, which the model keeps as the page's referenced bit); a write marks it
    /// idle, a read reports it.
    mutating func pageIdleSet(pfn: Int, mark: Bool) -> Exec {
        if scratch.young {
            frames[pfn].idle = false
            frames[pfn].referenced = true
        }
        scratch.young = false
        if mark {
            frames[pfn].idle = true
        } else {
            let idle = frames[pfn].idle
            updateResult { $0.values?.append(idle ? 1 : 0) }
        }
        return .ran
    }

    /// `hpage_collapse_scan_pmd` at one pte, under the page-table lock: a present page counts
    /// as referenced if its pte is young or the page referenced, and only then is
    /// `mmu_notifier_test_young` asked (the `||` stops at the first).
    mutating func khugepagedScanPTE(mm: Int, address: UInt64) -> Exec {
        if me.result.scanned == nil {
            updateResult {
                $0.scanned = 0
                $0.referenced = 0
            }
        }
        let pte = mms[mm - 1].pageTable.pte(at: address)
        guard pte.isPresent, !pte.isHuge, pte.pfn != Self.zeroPfn else { return .ran }
        updateResult { $0.scanned = ($0.scanned ?? 0) + 1 }
        if pte.young || frames[pte.pfn].referenced {
            updateResult { $0.referenced = ($0.referenced ?? 0) + 1 }
            return .ran
        }
        scratch.young = false
        push([.notify(youngCall(.testYoung, mm: mm, address: address)), .khugepagedCount])
        return .ran
    }

    /// What test_young answered for the pte just scanned.
    mutating func khugepagedCount() -> Exec {
        if scratch.young { updateResult { $0.referenced = ($0.referenced ?? 0) + 1 } }
        scratch.young = false
        return .expanded
    }
}
