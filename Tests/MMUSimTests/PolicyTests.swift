import Foundation
import Testing

@testable import MMUSim

@Suite("Driver policies: the JSON reader, JSON Patch, the built-in policy files and the validator")
struct PolicyTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("drivers")

    static func text(_ name: String) throws -> String {
        try String(contentsOf: folder.appendingPathComponent(name + ".json"), encoding: .utf8)
    }

    static func builtin(_ name: String) throws -> Policy {
        try Policy.load(text: text(name))
    }

    // MARK: JSON

    @Test("JSON.parse keeps member order and exact integers, and agrees with Foundation on the values")
    func parse() throws {
        let text = #"{"z": 1, "a": [true, false, null, -0.5, 1e3, "\u00e9\n\"x\""], "m": {"b": 9007199254740993, "a": {}}}"#
        let json = try JSON.parse(text)
        #expect(json.members?.map(\.key) == ["z", "a", "m"])
        #expect(json["m"]?["b"] == .int(9_007_199_254_740_993))
        #expect(json["a"]?.elements?[5] == .string("é\n\"x\""))
        #expect(json["a"]?.elements?[4] == .double(1000))
        // Written back and read by Foundation, the same document.
        let again = try JSONSerialization.jsonObject(with: Data(json.description.utf8)) as? NSDictionary
        let original = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
        #expect(again == original)
        #expect(try JSON.parse(json.text(indent: "  ")) == json)
    }

    @Test(
        "JSON.parse refuses what RFC 8259 does, naming line and column",
        arguments: [
            ("{\"a\": 1,}", 1), ("[1 2]", 1), ("{\"a\" 1}", 1), ("01", 1), ("\"abc", 1), ("{\"a\": 1, \"a\": 2}", 1), ("[1]\n x", 2),
            ("nul", 1), ("\"\\q\"", 1), ("", 1),
        ]
    )
    func syntaxErrors(text: String, line: Int) {
        #expect(throws: JSONSyntaxError.self) { try JSON.parse(text) }
        do {
            _ = try JSON.parse(text)
        } catch {
            #expect(error.line == line, "\(error.description)")
        }
    }

    @Test("JSON Patch: RFC 6902's operations, all or nothing")
    func patch() throws {
        let document = try JSON.parse(#"{"foo": ["bar", "baz"], "x": {"y": 1}}"#)
        func apply(_ patch: String) throws -> JSON { try document.applying(patch: try JSON.parse(patch)) }
        #expect(try apply(#"[{"op": "add", "path": "/foo/1", "value": "qux"}]"#)["foo"] == .array(["bar", "qux", "baz"].map(JSON.string)))
        #expect(try apply(#"[{"op": "add", "path": "/foo/-", "value": 1}]"#)["foo"]?.elements?.count == 3)
        #expect(try apply(#"[{"op": "remove", "path": "/foo/0"}]"#)["foo"] == .array([.string("baz")]))
        #expect(try apply(#"[{"op": "replace", "path": "/x/y", "value": 2}]"#)["x"]?["y"] == .int(2))
        #expect(try apply(#"[{"op": "move", "from": "/x/y", "path": "/z"}]"#) == (try JSON.parse(#"{"foo": ["bar", "baz"], "x": {}, "z": 1}"#)))
        #expect(try apply(#"[{"op": "copy", "from": "/foo/0", "path": "/x/w"}]"#)["x"]?["w"] == .string("bar"))
        #expect(try apply(#"[{"op": "test", "path": "/x", "value": {"y": 1}}]"#) == document)
        #expect(try apply(#"[{"op": "add", "path": "/x~1y", "value": 3}]"#)["x/y"] == .int(3))
        for bad in [
            #"[{"op": "remove", "path": "/nope"}]"#, #"[{"op": "add", "path": "/a/b", "value": 1}]"#,
            #"[{"op": "test", "path": "/x/y", "value": 2}]"#,
            #"[{"op": "add", "path": "/foo/5", "value": 1}]"#, #"[{"op": "frob", "path": "/x"}]"#, #"[{"op": "replace", "path": "/q", "value": 1}]"#,
            #"[{"op": "add", "path": "/x/z", "value": 1}, {"op": "remove", "path": "/none"}]"#,
        ] {
            #expect(throws: PatchError.self, "\(bad)") { try apply(bad) }
        }
        do {
            _ = try document.applying(patch: try JSON.parse(#"[{"op": "add", "path": "/x/z", "value": 1}, {"op": "remove", "path": "/none"}]"#))
        } catch let error as PatchError {
            #expect(error.index == 1)
        }
    }

    // MARK: The built-in policies

    static let builtins = BuiltinDrivers.names

    @Test("drivers/ holds one policy per built-in kind, named as the kind, each variant a bug switch", arguments: builtins)
    func builtinLoads(name: String) throws {
        let policy = try Self.builtin(name)
        // The seed's five kinds, each with the six bug switches; kvm-modern is the modern kernel's.
        let modern = ["kvm-modern", "dmirror"].contains(name)
        #expect(policy.name == name && policy.kernel == (modern ? .modern : .v17))
        if !modern { #expect(Set(policy.variantNames) == Set(BuiltinDrivers.variantNames)) }
        // pinning and unsafe register no notifier (the drivers before 2.6.27); the pinning kinds
        // pin; dmirror is an interval subscription.
        let subscribe: Subscription = ["pinning", "unsafe"].contains(name) ? .none : name == "dmirror" ? .interval : .classic
        #expect(policy.subscribe == subscribe)
        #expect(policy.pins == ["pinning", "xpmem"].contains(name))
        #expect(policy.fault != nil)
        // The model carries the file compiled in (scripts/embed-drivers): the same document.
        #expect(BuiltinDrivers.policies[name] == policy, "drivers/\(name).json changed: run scripts/embed-drivers")
    }

    @Test("every combination of a built-in policy's variants applies and loads, whatever order a bugs list names them in", arguments: builtins)
    func everyCombination(name: String) throws {
        let policy = try Self.builtin(name)
        let names = policy.variantNames
        for mask in 0..<(1 << names.count) {
            let chosen = names.indices.filter { mask & (1 << $0) != 0 }.map { names[$0] }
            let applied = try policy.applying(variants: chosen)
            #expect(try policy.applying(variants: chosen.reversed()) == applied)
        }
    }

    @Test("the kvm variants change what their switches say, and only that")
    func kvmVariants() throws {
        let kvm = try Self.builtin("kvm")
        let skip = try kvm.applying(variants: ["skip_retry_check"])
        func isRetryCheck(_ statement: Statement) -> Bool {
            if case .branch(_, let then, _) = statement.action { then.statements.contains { $0.action == .retry } } else { false }
        }
        #expect(kvm.fault!.statements.contains(where: isRetryCheck) && !skip.fault!.statements.contains(where: isRetryCheck))
        // Without the check the fault never retries, so the wait for the count after a retry goes too.
        #expect(skip.fault!.statements.count == kvm.fault!.statements.count - 2 && skip.callbacks == kvm.callbacks)
        #expect(skip.fault!.statements.first?.action == .sample("mmu_seq", from: "seq"))
        #expect(try kvm.applying(variants: ["no_release"]).callbacks[.release] == nil)
        #expect(try kvm.applying(variants: ["ignore_invalidate_page"]).callbacks[.invalidatePage]?.statements == [])
        let dirty = try kvm.applying(variants: ["no_set_page_dirty"])
        let zaps = dirty.callbacks.values.flatMap(\.statements).compactMap { statement -> Bool? in
            if case .zap(_, let setDirty, _) = statement.action { setDirty } else { nil }
        }
        #expect(zaps == [false, false, false])
        let sleeps = try kvm.applying(variants: ["sleeps", "free_in_release"])
        #expect(sleeps.callbacks.values.allSatisfy { $0.statements.first?.action == .sleep })
        #expect(sleeps.callbacks[.release]?.statements.last?.action == .freeNotifier)
        #expect(throws: PolicyError.self) { try kvm.applying(variants: ["no_such_bug"]) }
    }

    // MARK: Invalid policies

    /// A small valid policy to break in one place at a time.
    static let base = """
        {"name": "mine", "kernel": "v17", "locks": {"pt": "spinlock"}, "vars": {"seq": 0},
         "callbacks": {"invalidate_range_start": [{"lock": "pt"}, {"zap": "range"}, {"unlock": "pt"}]},
         "fault": [{"sample": "s", "from": "seq"}, {"gup": {"write": {"arg": "write"}}}, {"lock": "pt"},
                   {"if": {"ne": [{"var": "seq"}, {"local": "s"}]}, "then": [{"unlock": "pt"}, {"put_page": true}, {"retry": true}]},
                   {"install": {"writable": {"arg": "write"}}}, {"unlock": "pt"}, {"put_page": true}]}
        """

    struct Broken: Sendable, CustomStringConvertible {
        var what: String
        var patch: String
        var pointer: String
        var description: String { what }
    }

    static let broken: [Broken] = [
        Broken(what: "an unknown statement", patch: #"[{"op": "add", "path": "/fault/0", "value": {"frobnicate": 1}}]"#, pointer: "/fault/0"),
        Broken(
            what: "two statements in one object",
            patch: #"[{"op": "add", "path": "/fault/0", "value": {"inc": "seq", "dec": "seq"}}]"#,
            pointer: "/fault/0"
        ),
        Broken(what: "a statement's unknown member", patch: #"[{"op": "add", "path": "/fault/0/color", "value": "red"}]"#, pointer: "/fault/0/color"),
        Broken(
            what: "a callback v17 does not have",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate", "value": []}]"#,
            pointer: "/callbacks/invalidate"
        ),
        Broken(
            what: "an unknown callback",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_pages", "value": []}]"#,
            pointer: "/callbacks/invalidate_pages"
        ),
        Broken(
            what: "a lock held on the path out of a callback",
            patch: #"[{"op": "remove", "path": "/callbacks/invalidate_range_start/2"}]"#,
            pointer: "/callbacks/invalidate_range_start/1"
        ),
        Broken(what: "a lock held across retry", patch: #"[{"op": "remove", "path": "/fault/3/then/0"}]"#, pointer: "/fault/3/then/1"),
        Broken(what: "a lock taken twice", patch: #"[{"op": "add", "path": "/fault/3", "value": {"lock": "pt"}}]"#, pointer: "/fault/3"),
        Broken(what: "an unlock of a lock not held", patch: #"[{"op": "add", "path": "/fault/0", "value": {"unlock": "pt"}}]"#, pointer: "/fault/0"),
        Broken(
            what: "an undeclared lock",
            patch: #"[{"op": "replace", "path": "/callbacks/invalidate_range_start/0", "value": {"lock": "mmu_lock"}}]"#,
            pointer: "/callbacks/invalidate_range_start/0/lock"
        ),
        Broken(
            what: "retry outside the fault path",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_range_start/0", "value": {"retry": true}}]"#,
            pointer: "/callbacks/invalidate_range_start/0"
        ),
        Broken(
            what: "a var never declared",
            patch: #"[{"op": "replace", "path": "/fault/3/if/ne/0", "value": {"var": "sequence"}}]"#,
            pointer: "/fault/3/if/ne/0/var"
        ),
        Broken(
            what: "a local never set",
            patch: #"[{"op": "replace", "path": "/fault/3/if/ne/1", "value": {"local": "t"}}]"#,
            pointer: "/fault/3/if/ne/1/local"
        ),
        Broken(
            what: "inc of a name never declared",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_range_start/0", "value": {"inc": "cuont"}}]"#,
            pointer: "/callbacks/invalidate_range_start/0/inc"
        ),
        Broken(
            what: "a fault statement in a callback",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_range_start/0", "value": {"put_page": true}}]"#,
            pointer: "/callbacks/invalidate_range_start/0"
        ),
        Broken(
            what: "zap page in a range callback",
            patch: #"[{"op": "replace", "path": "/callbacks/invalidate_range_start/1/zap", "value": "page"}]"#,
            pointer: "/callbacks/invalidate_range_start/1/zap"
        ),
        Broken(what: "a modern statement in v17", patch: #"[{"op": "add", "path": "/fault/0", "value": {"read_begin": "s"}}]"#, pointer: "/fault/0"),
        Broken(
            what: "a modern context name in v17",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_range_start/0", "value": {"wait": "blockable"}}]"#,
            pointer: "/callbacks/invalidate_range_start/0/wait"
        ),
        Broken(
            what: "an unknown expression",
            patch: #"[{"op": "replace", "path": "/fault/3/if", "value": {"xor": [1, 2]}}]"#,
            pointer: "/fault/3/if/xor"
        ),
        Broken(
            what: "a comparison of three",
            patch: #"[{"op": "replace", "path": "/fault/3/if", "value": {"eq": [1, 2, 3]}}]"#,
            pointer: "/fault/3/if/eq"
        ),
        Broken(
            what: "an unknown errno",
            patch: #"[{"op": "add", "path": "/fault/0", "value": {"return": {"errno": "EWHAT"}}}]"#,
            pointer: "/fault/0/return/errno"
        ),
        Broken(
            what: "-EAGAIN from a v17 callback",
            patch: #"[{"op": "add", "path": "/callbacks/invalidate_range_start/0", "value": {"return": "-EAGAIN"}}]"#,
            pointer: "/callbacks/invalidate_range_start/0/return"
        ),
        Broken(what: "start in the fault path", patch: #"[{"op": "add", "path": "/fault/0", "value": {"wait": "start"}}]"#, pointer: "/fault/0/wait"),
        Broken(
            what: "queue_work of an undeclared item",
            patch: #"[{"op": "add", "path": "/fault/0", "value": {"queue_work": "flush"}}]"#,
            pointer: "/fault/0/queue_work"
        ),
        Broken(
            what: "a call of no operation",
            patch: #"[{"op": "add", "path": "/fault/0", "value": {"call": "explode"}}]"#,
            pointer: "/fault/0/call"
        ),
        Broken(
            what: "a call with a field commands lack",
            patch: #"[{"op": "add", "path": "/fault/0", "value": {"call": "munmap", "addr": "address", "size": 4096}}]"#,
            pointer: "/fault/0/size"
        ),
        Broken(what: "an unknown top-level member", patch: #"[{"op": "add", "path": "/callback", "value": {}}]"#, pointer: "/callback"),
        Broken(what: "a bad name", patch: #"[{"op": "replace", "path": "/name", "value": "My Driver"}]"#, pointer: "/name"),
        Broken(what: "an unknown kernel", patch: #"[{"op": "replace", "path": "/kernel", "value": "v18"}]"#, pointer: "/kernel"),
        Broken(what: "a modern subscription in v17", patch: #"[{"op": "add", "path": "/subscribe", "value": "interval"}]"#, pointer: "/subscribe"),
        Broken(
            what: "callbacks without a notifier",
            patch: #"[{"op": "add", "path": "/subscribe", "value": "none"}]"#,
            pointer: "/callbacks/invalidate_range_start"
        ),
        Broken(what: "a lock of no kind", patch: #"[{"op": "replace", "path": "/locks/pt", "value": "rwlock"}]"#, pointer: "/locks/pt"),
        Broken(what: "a variable that is no integer", patch: #"[{"op": "replace", "path": "/vars/seq", "value": "zero"}]"#, pointer: "/vars/seq"),
        Broken(what: "a tlb of no mode", patch: #"[{"op": "add", "path": "/tlb", "value": "maybe"}]"#, pointer: "/tlb"),
        Broken(what: "a program that is no array", patch: #"[{"op": "replace", "path": "/fault", "value": {"lock": "pt"}}]"#, pointer: "/fault"),
        Broken(what: "an if without then", patch: #"[{"op": "remove", "path": "/fault/3/then"}]"#, pointer: "/fault/3/then"),
        Broken(what: "a gup failure with the lock held", patch: #"[{"op": "move", "from": "/fault/2", "path": "/fault/1"}]"#, pointer: "/fault/2"),
        Broken(what: "sample of a local", patch: #"[{"op": "replace", "path": "/fault/0/from", "value": "s"}]"#, pointer: "/fault/0/from"),
        Broken(
            what: "an invariant reading a local",
            patch: #"[{"op": "add", "path": "/invariants", "value": [{"name": "x", "holds": {"local": "s"}}]}]"#,
            pointer: "/invariants/0/holds/local"
        ),
        Broken(
            what: "an invariant of no when",
            patch: #"[{"op": "add", "path": "/invariants", "value": [{"name": "x", "when": "sometimes", "holds": true}]}]"#,
            pointer: "/invariants/0/when"
        ),
        Broken(
            what: "a variant that is no patch",
            patch: #"[{"op": "add", "path": "/variants", "value": {"bad": {"op": "remove"}}}]"#,
            pointer: "/variants/bad"
        ),
        Broken(
            what: "a variant that does not apply",
            patch: #"[{"op": "add", "path": "/variants", "value": {"bad": [{"op": "remove", "path": "/fault/99"}]}}]"#,
            pointer: "/variants/bad/0"
        ),
        Broken(
            what: "a variant that breaks the policy",
            patch: #"[{"op": "add", "path": "/variants", "value": {"bad": [{"op": "remove", "path": "/fault/5"}]}}]"#,
            pointer: "/fault/5"
        ),
    ]

    @Test("the base policy of the invalid ones is valid")
    func baseIsValid() throws {
        let policy = try Policy.load(text: Self.base)
        #expect(policy.fault?.statements.count == 7 && policy.callbacks.count == 1)
    }

    @Test("an invalid policy is refused with the JSON pointer of what is wrong", arguments: broken)
    func invalid(_ broken: Broken) throws {
        let document = try JSON.parse(Self.base).applying(patch: try JSON.parse(broken.patch))
        do {
            let policy = try Policy.load(document)
            Issue.record("\(broken.what) loaded: \(policy.name)")
        } catch {
            #expect(error.pointer == broken.pointer, "\(broken.what): \(error.message)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test("text that is no JSON, and JSON that is no object, are refused at the document")
    func notAPolicy() {
        for text in ["{", "[]", "42", "{\"name\": \"a\", \"name\": \"b\"}"] {
            do {
                _ = try Policy.load(text: text)
                Issue.record("\(text) loaded")
            } catch {
                #expect(error.pointer == "", "\(text): \(error.message)")
            }
        }
    }
}
