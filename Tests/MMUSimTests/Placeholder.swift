import MMUSim
import Testing

@Test("an empty world can be constructed and compares as a Sendable value")
func emptyWorldConstructs() {
    let world = World()
    let sent: any Sendable = world
    #expect(sent is World)
}
