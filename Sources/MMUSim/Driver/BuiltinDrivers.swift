/// The built-in drivers: the five secondary MMUs the lab started with (kvm, gru, xpmem, pinning,
/// unsafe), each a policy file under drivers/ that the model carries compiled in
/// (BuiltinDrivers+Texts.swift, written by scripts/embed-drivers), and their bug switches,
/// which are the files' variants. They run in the interpreter like any loaded policy.
public enum BuiltinDrivers {
    /// The built-in drivers' names, in the order GET /drivers lists them: the five kinds of
    /// the seed's world, then the modern kernel's.
    public static let names = ["kvm", "gru", "xpmem", "pinning", "unsafe", "kvm-modern", "dmirror"]

    /// The bug switches every built-in driver of the seed's world has as variants, in the order
    /// GET /drivers lists them (a modern one has those of its own).
    public static let variantNames = ["skip_retry_check", "no_release", "ignore_invalidate_page", "no_set_page_dirty", "sleeps", "free_in_release"]

    /// Each built-in driver's policy, by name (no variant applied).
    public static let policies: [String: Policy] = texts.mapValues { text in
        do throws(PolicyError) {
            return try Policy.load(text: text)
        } catch {
            preconditionFailure("built-in driver policy \(error.pointer): \(error.message)")
        }
    }

    /// What each built-in driver models, in a sentence (GET /drivers).
    public static let summaries: [String: String] = [
        "kvm": "KVM shadow page tables: sptes plus a TLB, and the mmu_notifier_seq/count retry protocol of its fault path.",
        "gru": "SGI GRU: a TLB only; a dropin is refused while an invalidate range is active (ms_range_active).",
        "xpmem": "XPMEM: remote attachments pinned with get_user_pages; its invalidations sleep to reach the remote node.",
        "pinning": "A legacy driver that pins every page it maps and registers no notifier (KVM before 2.6.27).",
        "unsafe": "A driver that neither pins its pages nor registers a notifier: the use-after-free the seed prevents.",
        "kvm-modern":
            "KVM as 6.x has it (modern worlds): mmu_invalidate_in_progress and the union of the ranges in progress, mmu_invalidate_seq, a fault retried by gfn.",
        "dmirror":
            "lib/test_hmm.c's device mirror (modern worlds): an interval subscription, its mutex (trylock when not blockable), set_seq, and the read_begin / hmm_range_fault / read_retry loop.",
    ]

    /// What each bug switch does, in a sentence (GET /drivers).
    public static let variantSummaries: [String: String] = [
        "skip_retry_check":
            "The fault path installs its mapping without checking the invalidate count and sequence (kvm) or ms_range_active (gru).",
        "no_release": "The driver has no ->release.",
        "ignore_invalidate_page": "->invalidate_page does nothing.",
        "no_set_page_dirty": "Dropping a dirty mapping does not call set_page_dirty.",
        "sleeps": "Every callback sleeps.",
        "free_in_release": "->release frees the notifier at once instead of after a grace period.",
        "sleeps_nonblocking": "dmirror's invalidate takes its mutex with mutex_lock even when the range may not block.",
        "skip_read_retry": "dmirror's fault maps the page without mmu_interval_read_retry under its mutex.",
    ]

    /// A built-in driver's policy with the named bug switches applied.
    public static func policy(_ name: String, bugs: [String]) throws(PolicyError) -> Policy {
        guard let base = policies[name] else {
            throw PolicyError("", "unknown kind '\(name)': use one of \(names.joined(separator: ", "))")
        }
        return try base.applying(variants: bugs)
    }
}
