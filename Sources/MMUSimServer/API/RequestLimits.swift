import MMUSim

/// Limits on what one request may ask for.
public struct RequestLimits: Sendable {
    /// The largest request body, in bytes.
    public var maxBody: Int
    /// The most pages one touch may access.
    public var maxTouchPages: UInt64
    /// The most frames a reset may ask for.
    public var maxFrames: Int
    /// The most swap slots a reset may ask for.
    public var maxSwapSlots: Int
    /// The most items a list answer holds (ptes, frames, sptes).
    public var maxListed: Int
    /// The most distinct states one exploration may visit.
    public var maxExploreStates: Int
    /// The most seconds one exploration may run.
    public var maxExploreSeconds: Double
    /// The most mms a world may hold (POST /mms and fork).
    public var maxMMs: Int
    /// The most notifiers (of any kind) one mm may have.
    public var maxNotifiersPerMM: Int
    /// The most /trace/stream listeners at once.
    public var maxStreamClients: Int

    /// The defaults: 1 MiB bodies, 1 Mi pages a touch, 4 Mi frames (16 GiB) and slots.
    public init(
        maxBody: Int = 1 << 20,
        maxTouchPages: UInt64 = 1 << 20,
        maxFrames: Int = 1 << 22,
        maxSwapSlots: Int = 1 << 22,
        maxListed: Int = 100_000,
        maxExploreStates: Int = 200_000,
        maxExploreSeconds: Double = 20,
        maxMMs: Int = 1024,
        maxNotifiersPerMM: Int = 64,
        maxStreamClients: Int = 16
    ) {
        self.maxMMs = maxMMs
        self.maxNotifiersPerMM = maxNotifiersPerMM
        self.maxStreamClients = maxStreamClients
        self.maxListed = maxListed
        self.maxExploreStates = maxExploreStates
        self.maxExploreSeconds = maxExploreSeconds
        self.maxBody = maxBody
        self.maxTouchPages = maxTouchPages
        self.maxFrames = maxFrames
        self.maxSwapSlots = maxSwapSlots
    }
}
