extension World {
    /// The steps each operation may run, by operation name: the names `pause_at` takes (a
    /// task stops before the first step of that name) and `GET /steps` lists.
    public static let stepCatalog: [String: [String]] = {
        func locked(_ lock: String) -> [String] { ["lock:\(lock)", "unlock:\(lock)"] }
        // A modern world's core walks its list under SRCU instead.
        let rcu = ["rcu_read_lock", "rcu_read_unlock", "srcu_read_lock", "srcu_read_unlock"]
        // A modern world's ranges go to the interval subscriptions first.
        let itree = ["mn_itree_inv_start_range", "invalidate", "mn_itree_inv_end", "mn_itree_inv_end:deferred_list"]
        // And a modern TLB flush to the subscribers of arch_invalidate_secondary_tlbs.
        let range = rcu + ["invalidate_range_start", "invalidate_range_end", "arch_invalidate_secondary_tlbs"] + itree
        let unmap =
            [
                "split_vma", "detach_vmas_to_be_unmapped", "zap_pte_range", "tlb_finish_mmu", "__unmap_hugepage_range",
                "__unmap_hugepage_range:put_page",
            ]
            + range
        let fault =
            [
                "handle_mm_fault", "do_wp_page", "ptep_clear_flush", "set_pte_at", "put_page", "invalidate_page", "copy_huge_page", "hugetlb_cow",
                "huge_ptep_clear_flush", "set_huge_pte_at", "__xip_unmap", "__xip_unmap:ptep_clear_flush", "vm_insert_mixed",
            ] + range + locked("page_table_lock") + locked("i_mmap_lock")
        // A modern reclaim, writeback or migration brackets its pte change with a range.
        let rmap = locked("anon_vma") + locked("i_mmap_lock") + locked("page_table_lock") + range
        let mmapSem = locked("mmap_sem")
        // mmput (exit_mm's, or a call's own) and, when it drops the last user, exit_mmap.
        let lastMmput =
            [
                "exit_mm", "mmput", "mmu_notifier_release", "release", "hlist_del_init_rcu", "synchronize_rcu", "synchronize_srcu", "zap_pte_range",
                "tlb_finish_mmu",
                "__unmap_hugepage_range", "__unmap_hugepage_range:put_page", "remove_vma", "mmdrop",
            ] + range
        return [
            "mmap": mmapSem + ["mmap_region"] + unmap + fault,
            "munmap": mmapSem + unmap + ["mmap_write_downgrade"],
            "mprotect": mmapSem + ["mprotect_fixup", "change_protection"] + range,
            "mremap": mmapSem + ["vma_adjust", "copy_vma", "move_ptes"] + unmap,
            "madvise": mmapSem + ["zap_pte_range", "tlb_finish_mmu"] + range,
            "touch": mmapSem + fault,
            // A failed copy tears the child down: its mmput runs exit_mmap.
            "fork": mmapSem + ["dup_mm", "dup_vma", "copy_page_range"] + range + lastMmput,
            "exit": lastMmput,
            "reclaim": rmap + [
                "ptep_clear_flush_young", "clear_flush_young", "add_to_swap", "try_to_unmap_one", "invalidate_page", "try_to_unmap_one:set_pte_at",
                "pageout",
            ],
            "writeback": rmap + ["page_mkclean_one", "invalidate_page", "page_mkclean_one:set_pte_at", "writepage"],
            "migrate": mmapSem + rmap + [
                "alloc_new_page", "try_to_unmap_one", "invalidate_page", "try_to_unmap_one:set_pte_at", "migrate_page_copy", "remove_migration_ptes",
            ],
            "remap_file_pages": mmapSem + ["populate_range"] + range,
            "apply_to_page_range": mmapSem + ["apply_to_pte_range"] + range,
            // The call holds a user reference: its mmput may be the last, and run exit_mmap.
            "register": mmapSem + locked("mm_all_locks_mutex") + locked("anon_vma") + locked("i_mmap_lock") + [
                "signal_pending", "hlist_add_head", "mm_drop_all_locks", "attach", "has_itree", "mmu_interval_notifier_insert", "mmu_notifier_get",
                "alloc_notifier",
            ] + lastMmput,
            "unregister": [
                "hlist_del_rcu", "mmu_notifier_unregister:rcu_read_lock", "mmu_notifier_unregister:hlist_del_init_rcu", "release", "synchronize_rcu",
                "synchronize_srcu",
                "mmu_notifier_unregister", "mmu_interval_notifier_remove", "mmu_interval_notifier_remove:wait_event",
                "mmu_interval_notifier_remove:mmdrop", "mmu_notifier_put",
            ] + rcu,
            "fault": mmapSem + fault + locked("mmu_lock") + [
                "mmu_notifier_seq", "install_spte", "ms_range_active", "atomic_pte_lookup", "tlb_dropin", "map_pinned", "kvm_release_pfn_clean",
                "mmu_interval_read_begin", "mmu_interval_check_retry", "mmu_notifier_put",
            ] + lastMmput,
            "access": ["secondary_access"],
            "oom_reap": locked("mmap_sem") + ["oom_reap_task_mm", "unmap_page_range", "zap_pte_range", "tlb_finish_mmu", "oom_reap_task"]
                + range + locked("page_table_lock"),
            "call_srcu": ["synchronize_srcu", "mmu_notifier_free_rcu", "free_notifier", "mmdrop"],
            "page_idle": rmap + ["ptep_clear_flush_young", "clear_young", "folio_set_idle"],
            "khugepaged_scan": locked("mmap_sem") + locked("page_table_lock") + rcu + ["hpage_collapse_scan_pmd", "test_young"],
        ]
    }()

    /// Every step name of every operation.
    public static let stepNames: Set<String> = Set(stepCatalog.values.joined())

    /// Names that several steps shared before each step got a name of its own: `pause_at` with
    /// one still stops at every step it named then (each is also the name of one step today).
    public static let stepAliases: [String: Set<String>] = [
        "set_pte_at": ["try_to_unmap_one:set_pte_at", "page_mkclean_one:set_pte_at"],
        "ptep_clear_flush": ["__xip_unmap:ptep_clear_flush"],
        "put_page": ["__unmap_hugepage_range:put_page", "kvm_release_pfn_clean"],
        "mmput": ["exit_mm"],
        "rcu_read_lock": ["mmu_notifier_unregister:rcu_read_lock"],
        "hlist_del_init_rcu": ["mmu_notifier_unregister:hlist_del_init_rcu"],
    ]

    /// True when a task told to pause at `pause` stops before the step named `step`: the same
    /// name, or an old name the step had.
    static func pause(_ pause: String, stopsAt step: String) -> Bool {
        pause == step || stepAliases[pause]?.contains(step) == true
    }

    /// True when a task told to pause at `pause` stops before `step`: by the step's name, or,
    /// for a driver statement, by the name the built-in kinds' step for it had in Swift
    /// (`lock:mmu_lock`, `install_spte`).
    func pause(_ pause: String, stopsAt step: Step) -> Bool {
        if Self.pause(pause, stopsAt: step.name) { return true }
        guard case .driverStatement(let node, let id, _) = step, let old = policies[notifiers[node - 1].policy].oldStepNames[id] else { return false }
        return Self.pause(pause, stopsAt: old)
    }
}
