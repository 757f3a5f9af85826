/// The versions this server reports at `GET /version`.
public enum ServerVersion {
    /// The release of MMU Notifier Lab.
    public static let version = "0.1.0"
    /// The MMU-notifier patch revision the model follows ("mmu-notifier-core v17").
    public static let protocolRevision = "v17"
}
