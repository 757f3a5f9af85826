/// The simulated machine.
public struct World: Sendable {
    /// Creates an empty world.
    public init() {}
}
