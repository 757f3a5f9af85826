/// JSON Pointers (RFC 6901) and JSON Patch (RFC 6902), for a policy's variants and for the
/// errors that name a statement (`/callbacks/invalidate_range_start/2`).
extension JSON {
    /// The pointer of a member `key` (or element) below `pointer`, escaped as RFC 6901 says.
    public static func pointer(_ pointer: String, _ token: String) -> String {
        pointer + "/" + token.replacing("~", with: "~0").replacing("/", with: "~1")
    }

    /// The pointer of element `index` below `pointer`.
    public static func pointer(_ pointer: String, _ index: Int) -> String {
        pointer + "/" + String(index)
    }

    /// The reference tokens of a pointer, unescaped; nil when it is not a pointer.
    static func tokens(_ pointer: String) -> [String]? {
        if pointer.isEmpty { return [] }
        guard pointer.hasPrefix("/") else { return nil }
        return pointer.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            String($0).replacing("~1", with: "/").replacing("~0", with: "~")
        }
    }

    /// The value a pointer names, or nil.
    public func value(at pointer: String) -> JSON? {
        guard let tokens = Self.tokens(pointer) else { return nil }
        var current = self
        for token in tokens {
            switch current {
            case .object:
                guard let next = current[token] else { return nil }
                current = next
            case .array(let elements):
                guard let index = Self.index(token), index < elements.count else { return nil }
                current = elements[index]
            default: return nil
            }
        }
        return current
    }

    /// An array index token: digits, no leading zero.
    private static func index(_ token: String) -> Int? {
        guard !token.isEmpty, token.allSatisfy({ $0.isASCII && $0.isNumber }), token == "0" || !token.hasPrefix("0") else { return nil }
        return Int(token)
    }

    /// Applies a JSON Patch: an array of operations (add, remove, replace, move, copy, test),
    /// all or nothing. The error names the operation by its index and says why.
    public func applying(patch: JSON) throws(PatchError) -> JSON {
        guard let operations = patch.elements else {
            throw PatchError(index: nil, message: "a patch is an array of operations, not \(patch.typeName)")
        }
        var document = self
        for (index, operation) in operations.enumerated() {
            do throws(PatchError) {
                document = try document.applying(operation: operation)
            } catch {
                throw PatchError(index: index, message: error.message)
            }
        }
        return document
    }

    private func applying(operation: JSON) throws(PatchError) -> JSON {
        guard operation.members != nil else { throw PatchError(index: nil, message: "an operation is an object, not \(operation.typeName)") }
        guard let op = operation["op"]?.string else { throw PatchError(index: nil, message: "an operation needs 'op'") }
        guard let path = operation["path"]?.string, let tokens = Self.tokens(path) else {
            throw PatchError(index: nil, message: "\(op) needs 'path', a JSON pointer")
        }
        func needValue() throws(PatchError) -> JSON {
            guard let value = operation["value"] else { throw PatchError(index: nil, message: "\(op) needs 'value'") }
            return value
        }
        func source() throws(PatchError) -> (pointer: String, value: JSON) {
            guard let from = operation["from"]?.string, Self.tokens(from) != nil else {
                throw PatchError(index: nil, message: "\(op) needs 'from', a JSON pointer")
            }
            guard let value = value(at: from) else { throw PatchError(index: nil, message: "\(op): nothing at '\(from)'") }
            return (from, value)
        }
        switch op {
        case "add": return try Self.add(try needValue(), to: self, at: tokens[...], path: path)
        case "remove": return try Self.remove(from: self, at: tokens[...], path: path).document
        case "replace":
            guard value(at: path) != nil else { throw PatchError(index: nil, message: "replace: nothing at '\(path)'") }
            return try Self.add(try needValue(), to: try Self.remove(from: self, at: tokens[...], path: path).document, at: tokens[...], path: path)
        case "move":
            let (from, value) = try source()
            if path.hasPrefix(from + "/") { throw PatchError(index: nil, message: "move: '\(path)' is inside '\(from)'") }
            let removed = try Self.remove(from: self, at: Self.tokens(from)![...], path: from).document
            return try Self.add(value, to: removed, at: tokens[...], path: path)
        case "copy": return try Self.add(try source().value, to: self, at: tokens[...], path: path)
        case "test":
            guard let actual = value(at: path), actual == (try needValue()) else { throw PatchError(index: nil, message: "test of '\(path)' failed") }
            return self
        default: throw PatchError(index: nil, message: "unknown op '\(op)': use add, remove, replace, move, copy or test")
        }
    }

    private static func add(_ value: JSON, to document: JSON, at tokens: ArraySlice<String>, path: String) throws(PatchError) -> JSON {
        guard let token = tokens.first else { return value }
        let last = tokens.count == 1
        switch document {
        case .object(var members):
            if let position = members.firstIndex(where: { $0.key == token }) {
                members[position].value = last ? value : try add(value, to: members[position].value, at: tokens.dropFirst(), path: path)
            } else {
                guard last else { throw PatchError(index: nil, message: "add: no '\(token)' on the way to '\(path)'") }
                members.append((token, value))
            }
            return .object(members)
        case .array(var elements):
            if last {
                let position = token == "-" ? elements.count : index(token)
                guard let position, position <= elements.count else {
                    throw PatchError(index: nil, message: "add: '\(path)' is past the end of its array")
                }
                elements.insert(value, at: position)
            } else {
                guard let position = index(token), position < elements.count else {
                    throw PatchError(index: nil, message: "add: nothing at '\(path)'")
                }
                elements[position] = try add(value, to: elements[position], at: tokens.dropFirst(), path: path)
            }
            return .array(elements)
        default:
            throw PatchError(index: nil, message: "add: '\(path)' goes through \(document.typeName)")
        }
    }

    private static func remove(from document: JSON, at tokens: ArraySlice<String>, path: String) throws(PatchError) -> (document: JSON, removed: JSON)
    {
        guard let token = tokens.first else { throw PatchError(index: nil, message: "remove: the whole document cannot be removed") }
        let last = tokens.count == 1
        switch document {
        case .object(var members):
            guard let position = members.firstIndex(where: { $0.key == token }) else { throw PatchError(index: nil, message: "nothing at '\(path)'") }
            if last { return (.object(members.filter { $0.key != token }), members[position].value) }
            let (inner, removed) = try remove(from: members[position].value, at: tokens.dropFirst(), path: path)
            members[position].value = inner
            return (.object(members), removed)
        case .array(var elements):
            guard let position = index(token), position < elements.count else { throw PatchError(index: nil, message: "nothing at '\(path)'") }
            if last { return (.array(elements.enumerated().filter { $0.offset != position }.map(\.element)), elements[position]) }
            let (inner, removed) = try remove(from: elements[position], at: tokens.dropFirst(), path: path)
            elements[position] = inner
            return (.array(elements), removed)
        default:
            throw PatchError(index: nil, message: "nothing at '\(path)'")
        }
    }
}

/// A patch that does not apply: which operation (its index in the patch) and why.
public struct PatchError: Error, Hashable, Sendable {
    /// The operation's index in the patch.
    public var index: Int?
    /// Why it does not apply.
    public var message: String
}
