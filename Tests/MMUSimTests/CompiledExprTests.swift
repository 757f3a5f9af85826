import Testing

@testable import MMUSim

/// A policy's expressions run flat (postfix operations over a stack): the value is the one
/// DRIVERS.md gives an expression tree, for every operator, for trees deeper than the stack
/// kept in place, and for `and`/`or` with no operand.
@Suite("Compiled expressions: the flat form's value is the expression tree's")
struct CompiledExprTests {
    /// The leaves a generated expression reads: three variables, a shared one, two locals, the
    /// write argument and a context field, with the values `reference` and the leaf reader give.
    static let variables = ["a": 3, "b": -2, "c": 0]
    static let shared = ["s": 7]
    static let locals = ["x": 5, "y": 0]
    static let write = 1
    static let address = 0x7f00_0000_1000

    /// The value of `expr` as DRIVERS.md defines it, read from the tree itself.
    static func reference(_ expr: Expr) -> Int {
        switch expr {
        case .int(let number): return number
        case .bool(let flag): return flag ? 1 : 0
        case .str(let text): return World.code(text)
        case .variable(let name): return variables[name] ?? shared[name] ?? locals[name]!
        case .shared(let name): return shared[name]!
        case .local(let name): return locals[name]!
        case .arg: return write
        case .context: return address
        case .compare(let op, let a, let b):
            let (x, y) = (reference(a), reference(b))
            let holds = ["eq": x == y, "ne": x != y, "lt": x < y, "le": x <= y, "gt": x > y, "ge": x >= y][op]!
            return holds ? 1 : 0
        case .all(let operands): return operands.allSatisfy { reference($0) != 0 } ? 1 : 0
        case .any(let operands): return operands.contains { reference($0) != 0 } ? 1 : 0
        case .not(let operand): return reference(operand) == 0 ? 1 : 0
        case .arithmetic(let op, let a, let b):
            let (x, y) = (reference(a), reference(b))
            switch op {
            case "min": return min(x, y)
            case "max": return max(x, y)
            case "add": return x &+ y
            case "sub": return x &- y
            default: return y >= 0 && y < 64 ? x >> y : 0
            }
        case .within(let x, let low, let high):
            let value = reference(x)
            return reference(low) <= value && value < reference(high) ? 1 : 0
        }
    }

    /// A resolver for the leaves above, as a policy declaring `a`, `b`, `c` and shared `s` has it.
    static let resolver = NameResolver(
        varNames: ["a", "b", "c"],
        sharedVars: ["s": 7],
        localNames: ["ret", "x", "y"],
        locks: [:]
    )

    /// The compiled expression's value, evaluated where the interpreter keeps it (`PlainExprs`),
    /// its leaves read as `reference` reads them.
    static func flat(_ expr: Expr) -> Int {
        let varNames = ["a", "b", "c"]
        let plain = PlainExprs([resolver.compile(expr)])
        return plain[0].value { leaf in
            switch leaf {
            case .variable(.instance(let index)): variables[varNames[index]]!
            case .variable(.shared(let name, let initial)): shared[name.text] ?? initial
            case .variable(.local(let slot)): locals[resolver.localNames[slot]] ?? 0
            case .write: write
            case .context(let field): field == .address ? address : 0
            }
        }
    }

    /// A deterministic generator (SplitMix64), so that a failure names a tree that comes back.
    struct Generator {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    /// A random tree of at most `depth` levels over every leaf and operator.
    static func tree(_ random: inout Generator, depth: Int) -> Expr {
        let leaves: [Expr] = [
            .int(random.next(9) - 4), .bool(random.next(2) == 1), .str("x"), .variable("a"), .variable("b"),
            .variable("c"), .shared("s"), .local("x"), .local("y"), .arg("write"), .context("address"),
        ]
        if depth == 0 || random.next(4) == 0 { return leaves[random.next(leaves.count)] }
        func sub() -> Expr { tree(&random, depth: depth - 1) }
        switch random.next(6) {
        case 0: return .compare(["eq", "ne", "lt", "le", "gt", "ge"][random.next(6)], sub(), sub())
        case 1: return .all((0..<random.next(4)).map { _ in sub() })
        case 2: return .any((0..<random.next(4)).map { _ in sub() })
        case 3: return .not(sub())
        case 4: return .arithmetic(["min", "max", "add", "sub", "shr"][random.next(5)], sub(), sub())
        default: return .within(sub(), sub(), sub())
        }
    }

    @Test("two thousand random trees up to eight levels deep: the same value")
    func randomTrees() {
        var random = Generator(state: 18)
        var deep = 0
        for _ in 0..<2000 {
            let expr = Self.tree(&random, depth: 8)
            if Self.resolver.compile(expr).depth > 8 { deep += 1 }
            #expect(Self.flat(expr) == Self.reference(expr), "\(expr)")
        }
        // Some trees need more than the eight values kept in place.
        #expect(deep > 0)
    }

    @Test("and/or with no operand, a shift out of range, within's bounds, lone comparisons, kvm's fault condition")
    func shapes() {
        let cases: [(Expr, Int)] = [
            (.all([]), 1),
            (.any([]), 0),
            (.arithmetic("shr", .int(256), .int(64)), 0),
            (.arithmetic("shr", .int(256), .int(-1)), 0),
            (.arithmetic("shr", .int(256), .int(4)), 16),
            (.within(.int(3), .int(3), .int(4)), 1),
            (.within(.int(4), .int(3), .int(4)), 0),
            // A comparison of two leaves or constants alone (evaluated without a stack): the
            // invariants' eq(count, 0), gru's ne(flushes, tfh).
            (.compare("eq", .variable("c"), .int(0)), 1),
            (.compare("ne", .variable("a"), .local("x")), 1),
            (.compare("lt", .int(5), .local("x")), 0),
            (.compare("ge", .local("x"), .int(5)), 1),
            // kvm.json's retry check with count 0 (c) and the sampled seq (x) equal to seq (x).
            (.any([.compare("ne", .variable("c"), .int(0)), .compare("ne", .local("x"), .local("x"))]), 0),
            (.any([.compare("ne", .variable("a"), .int(0)), .compare("ne", .local("x"), .local("x"))]), 1),
            // An or and an and of two comparisons (evaluated without a stack, the second compared
            // only when the first does not decide): each of the four outcomes of the two.
            (.any([.compare("eq", .variable("c"), .int(0)), .compare("eq", .local("y"), .int(0))]), 1),
            (.any([.compare("eq", .variable("c"), .int(0)), .compare("eq", .local("y"), .int(1))]), 1),
            (.any([.compare("eq", .variable("c"), .int(1)), .compare("eq", .local("y"), .int(0))]), 1),
            (.any([.compare("eq", .variable("c"), .int(1)), .compare("eq", .local("y"), .int(1))]), 0),
            (.all([.compare("lt", .variable("b"), .int(0)), .compare("gt", .local("x"), .shared("s"))]), 0),
            (.all([.compare("lt", .variable("b"), .int(0)), .compare("lt", .local("x"), .shared("s"))]), 1),
            (.all([.compare("gt", .variable("b"), .int(0)), .compare("lt", .local("x"), .shared("s"))]), 0),
            (.all([.compare("gt", .variable("b"), .int(0)), .compare("gt", .local("x"), .shared("s"))]), 0),
            // Seven operations of another shape go through the stack.
            (.any([.compare("eq", .variable("c"), .int(0)), .not(.not(.local("y")))]), 1),
            (.all([.compare("eq", .variable("c"), .int(0)), .arithmetic("add", .local("y"), .int(0))]), 0),
        ]
        for (expr, value) in cases {
            #expect(Self.flat(expr) == value, "\(expr)")
            #expect(Self.reference(expr) == value, "\(expr)")
        }
    }
}
