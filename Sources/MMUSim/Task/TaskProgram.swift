/// A task's program: the steps still to run, the last one next (a stack).
///
/// Its steps live as an array's do, in storage that copies share until one of them changes. An
/// array checks that its storage is unique at every push and pop, a call into the runtime, and a
/// secondary fault pushes and pops some twenty-five steps. Here a push of several steps checks
/// once (`push`, `pushStatements`), and the running task's pops and pushes check none
/// (`popClaimed`, `appendClaimed`): `World.claim` made the running task's program its own, and
/// no step keeps a copy of it while it runs (asserted in debug builds, where the tests run).
struct TaskProgram: RandomAccessCollection, RangeReplaceableCollection, ExpressibleByArrayLiteral, Hashable, Codable, @unchecked Sendable {
    // (Sendable as an array is: the storage is written only by the one value that holds it.)

    /// The count and the room of a storage.
    fileprivate struct Header {
        var count: Int
        let capacity: Int
    }

    /// The steps, `header.count` of them initialized.
    fileprivate final class Storage: ManagedBuffer<Header, Step> {
        static func make(capacity: Int) -> Storage {
            unsafeDowncast(create(minimumCapacity: capacity) { _ in Header(count: 0, capacity: capacity) }, to: Storage.self)
        }

        /// The steps initialized. (Read and written through a pointer: `header`, a class's
        /// stored property, is checked for exclusive access by the runtime at every access.)
        var count: Int {
            @inline(__always) get { withUnsafeMutablePointerToHeader { $0.pointee.count } }
            @inline(__always) set { withUnsafeMutablePointerToHeader { $0.pointee.count = newValue } }
        }

        /// The steps it has room for.
        var room: Int {
            @inline(__always) get { withUnsafeMutablePointerToHeader { $0.pointee.capacity } }
        }

        deinit {
            _ = withUnsafeMutablePointers { header, steps in steps.deinitialize(count: header.pointee.count) }
        }

        /// Pushes `step`; the storage has room for it.
        @inline(__always)
        func push(_ step: consuming Step) {
            // The slot found inside, the step moved in outside: a consumed parameter cannot be
            // moved inside a closure. (The storage is this object's, alive for the call.)
            let slot = withUnsafeMutablePointers { header, steps in
                header.pointee.count += 1
                return steps + (header.pointee.count - 1)
            }
            slot.initialize(to: step)
        }

        /// Pops the last step, if there is one.
        @inline(__always)
        func pop() -> Step? {
            withUnsafeMutablePointers { header, steps in
                guard header.pointee.count > 0 else { return nil }
                header.pointee.count -= 1
                return (steps + header.pointee.count).move()
            }
        }
    }

    /// The storage of every program that never held a step: no room, and never unique (this
    /// reference holds it), so that a first push makes storage of the program's own. (Never
    /// written: unsafe only in name.)
    nonisolated(unsafe) private static let none = Storage.make(capacity: 0)

    private var storage: Storage

    /// An empty program.
    init() { storage = Self.none }

    /// The program `steps`, the last one next.
    init(_ steps: [Step]) {
        self.init()
        guard !steps.isEmpty else { return }
        reserveCapacity(steps.count)
        for step in steps { storage.push(step) }
    }

    init(arrayLiteral steps: Step...) { self.init(steps) }

    var startIndex: Int { 0 }
    var endIndex: Int { storage.count }
    /// The steps it has room for without growing.
    var capacity: Int { storage.room }

    subscript(position: Int) -> Step {
        precondition(position >= 0 && position < count, "index \(position) out of a program of \(count) steps")
        return storage.withUnsafeMutablePointerToElements { $0[position] }
    }

    // MARK: Room

    /// Makes the storage this value's own, with room for `minimumCapacity` steps.
    @inline(__always)
    mutating func reserveCapacity(_ minimumCapacity: Int) {
        if isKnownUniquelyReferenced(&storage), storage.room >= minimumCapacity { return }
        regrow(minimumCapacity)
    }

    /// Makes the storage this value's own (`World.claim`, for the running task's program), if
    /// it has room (a program that never held a step gets storage at its first push).
    mutating func makeUnique() {
        guard capacity > 0, !isKnownUniquelyReferenced(&storage) else { return }
        regrow(count)
    }

    /// New storage with room for `minimumCapacity` steps, the steps moved there (a program's own
    /// storage grows to twice its room at least), or copied (another value shares the storage:
    /// the copy has the room asked for, as an array's, since a world the explorer keeps holds
    /// every task's).
    @inline(never)
    private mutating func regrow(_ minimumCapacity: Int) {
        let unique = isKnownUniquelyReferenced(&storage)
        let (count, room) = (self.count, capacity)
        let new = Storage.make(capacity: unique ? Swift.max(minimumCapacity, 2 * room, 4) : Swift.max(minimumCapacity, 1))
        let old = storage
        old.withUnsafeMutablePointerToElements { from in
            new.withUnsafeMutablePointerToElements { to in
                if unique { to.moveInitialize(from: from, count: count) } else { to.initialize(from: from, count: count) }
            }
        }
        // Moved out: the old storage destroys none of them.
        if unique { old.count = 0 }
        new.count = count
        storage = new
    }

    // MARK: Pushes and pops

    /// Pushes `step`: it runs next. (Moved in: a copy of a step goes through its enum's every
    /// case.)
    @inline(__always)
    mutating func append(_ step: consuming Step) {
        reserveCapacity(count + 1)
        storage.push(step)
    }

    /// Pushes `steps` so that the first runs next. (One check for them all; Array's
    /// append(contentsOf:) of a reversed collection took Sequence's generic path.)
    mutating func push(_ steps: [Step]) {
        reserveCapacity(count + steps.count)
        for position in steps.indices.reversed() { storage.push(steps[position]) }
    }

    /// Pushes the steps of the statements `ids` of notifier `node`'s policy `policy`, last
    /// first, so that the first runs next. (The ids and the policy are read where they are: a
    /// collection of the steps holding them retained both.)
    @inline(__always)
    mutating func pushStatements(_ ids: [Int], of node: Int, in policy: LoadedPolicy) {
        reserveCapacity(count + ids.count)
        for position in ids.indices.reversed() { storage.push(policy.step(ids[position], of: node)) }
    }

    /// Pops the step that runs next.
    @discardableResult
    mutating func popLast() -> Step? {
        guard !isEmpty else { return nil }
        makeUnique()
        return storage.pop()
    }

    /// Pops the step that runs next, which is there.
    @discardableResult
    mutating func removeLast() -> Step {
        guard let step = popLast() else { preconditionFailure("removeLast from an empty program") }
        return step
    }

    /// `append` for the running task's program (`World.claim` made it its own): no check that
    /// the storage is unique.
    @inline(__always)
    mutating func appendClaimed(_ step: consuming Step) {
        assert(capacity == 0 || isKnownUniquelyReferenced(&storage), "the running task's program is shared")
        guard count < capacity else { return append(step) }
        storage.push(step)
    }

    /// `popLast` for the running task's program: no check that the storage is unique.
    @inline(__always)
    mutating func popClaimed() -> Step? {
        assert(capacity == 0 || isKnownUniquelyReferenced(&storage), "the running task's program is shared")
        return storage.pop()
    }

    /// Empties the program.
    mutating func removeAll(keepingCapacity keep: Bool = false) {
        guard keep, isKnownUniquelyReferenced(&storage) else {
            storage = Self.none
            return
        }
        _ = storage.withUnsafeMutablePointers { header, steps in steps.deinitialize(count: header.pointee.count) }
        storage.count = 0
    }

    /// Replaces the steps in `subrange` (through an array: the engine only pushes and pops).
    mutating func replaceSubrange<C: Collection>(_ subrange: Range<Int>, with steps: C) where C.Element == Step {
        var array = Array(self)
        array.replaceSubrange(subrange, with: steps)
        self = TaskProgram(array)
    }

    // MARK: Reading the next step in place

    /// Whether the step that runs next (the last) is a macro, read in place (`last` would copy
    /// it out, every field retained).
    var nextIsMacro: Bool {
        storage.withUnsafeMutablePointers { header, steps in header.pointee.count > 0 && steps[header.pointee.count - 1].isMacro }
    }

    /// Whether the step that runs next is the return of `node`'s program, read in place.
    func nextIsReturn(of node: Int) -> Bool {
        storage.withUnsafeMutablePointers { header, steps in
            guard header.pointee.count > 0, case .driverReturn(let owner) = steps[header.pointee.count - 1] else { return false }
            return owner == node
        }
    }

    // MARK: Value

    /// The same steps (one storage is the same steps).
    static func == (a: TaskProgram, b: TaskProgram) -> Bool {
        a.storage === b.storage || a.elementsEqual(b)
    }

    /// Hashes as an array of its steps does.
    func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        for step in self { hasher.combine(step) }
    }

    /// Decodes an array of steps.
    init(from decoder: any Decoder) throws { self.init(try [Step](from: decoder)) }

    /// Encodes an array of steps.
    func encode(to encoder: any Encoder) throws { try Array(self).encode(to: encoder) }
}
