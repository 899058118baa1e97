/// `$filter` for users: a small OData parser and evaluator with Graph's per-property operator rules (graph-api.md §1.5).
public indirect enum FilterNode: Sendable {
    case and(FilterNode, FilterNode)
    case or(FilterNode, FilterNode)
    case not(FilterNode)
    case compare(UserProperty, String, FilterLiteral)          // eq ne ge le gt lt
    case function(String, UserProperty, String)                // startswith / endswith
    case within(UserProperty, [FilterLiteral])                 // in
    case anyEquals(UserProperty, String)                       // businessPhones/any(p:p eq '…')

    public func matches(_ u: DirectoryUser) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(u) && b.matches(u)
        case .or(let a, let b): return a.matches(u) || b.matches(u)
        case .not(let a): return !a.matches(u)
        case .compare(let p, let op, let lit):
            let v = p.value(of: u)
            if case .null = lit {
                let isNull = v == .null
                return op == "eq" ? isNull : op == "ne" ? !isNull : false
            }
            guard let left = v.text?.lowercased(), let right = lit.text?.lowercased() else { return op == "ne" }
            switch op {
            case "eq": return left == right
            case "ne": return left != right
            case "ge": return left >= right
            case "le": return left <= right
            case "gt": return left > right
            case "lt": return left < right
            default: return false
            }
        case .function(let f, let p, let arg):
            guard let v = p.value(of: u).text?.lowercased() else { return false }
            return f == "startswith" ? v.hasPrefix(arg.lowercased()) : v.hasSuffix(arg.lowercased())
        case .within(let p, let lits):
            guard let v = p.value(of: u).text?.lowercased() else { return false }
            return lits.contains { $0.text?.lowercased() == v }
        case .anyEquals(let p, let s):
            if case .strings(let a) = p.value(of: u) { return a.contains { $0.lowercased() == s.lowercased() } }
            return false
        }
    }
}

public enum FilterLiteral: Equatable, Sendable {
    case string(String), bool(Bool), null, number(String)
    public var text: String? {
        switch self {
        case .string(let s): s
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n
        case .null: nil
        }
    }
}

/// Which operators each property supports by default and which only in advanced mode.
public enum FilterRules {
    /// operator names: eq ne not in startswith endswith ge le null (= "eq null"), any
    public static func rule(_ p: UserProperty) -> (basic: Set<String>, advanced: Set<String>) {
        switch p {
        case .id: return (["eq", "in"], ["ne", "not"])
        case .displayName: return (["eq", "in", "startswith"], ["ne", "not", "null", "ge", "le"])
        case .givenName, .surname, .mailNickname, .department, .usageLocation:
            return (["eq", "in", "startswith", "ge", "le"], ["ne", "null", "not"])
        case .mail: return (["eq", "in", "startswith", "ge", "le"], ["ne", "endswith", "not", "null"])
        case .userPrincipalName: return (["eq", "in", "startswith", "le"], ["ne", "endswith", "not", "ge"])
        case .jobTitle: return (["eq", "in", "ge", "le"], ["ne", "null", "not", "startswith"])
        case .city: return (["eq", "in", "startswith", "ge"], ["ne", "not", "null", "le"])
        case .country: return (["eq", "in", "startswith", "ge", "le"], ["ne", "not", "null"])
        case .createdDateTime: return (["eq", "ge", "le"], ["ne", "not", "in"])
        case .accountEnabled, .userType: return (["eq", "in"], ["ne", "not"])
        case .employeeId: return (["eq", "startswith"], ["ne", "le", "null", "ge", "in"])
        case .mobilePhone, .officeLocation, .preferredLanguage, .companyName, .postalCode:
            return ([], ["eq", "ne", "not", "in", "startswith", "endswith", "ge", "le", "null"])
        case .businessPhones: return (["any"], ["not"])
        default: return ([], [])
        }
    }
}

public struct FilterParser {
    private var tokens: [String]
    private var pos = 0
    /// Set when a clause needs advanced mode; the first such operator is remembered for the error.
    private(set) var advancedOperator: String?

    public init(_ text: String) throws {
        tokens = try Self.tokenize(text)
    }

    public static func parse(_ text: String) throws -> (FilterNode, advancedOperator: String?) {
        var p = try FilterParser(text)
        let node = try p.parseOr()
        guard p.pos == p.tokens.count else { throw invalid(text) }
        return (node, p.advancedOperator)
    }

    public static func invalid(_ text: String) -> GraphError {
        .badRequest("Invalid filter clause: syntax error in '\(text)'.")
    }

    public static func tokenize(_ s: String) throws -> [String] {
        var out: [String] = []
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == " " { i = s.index(after: i); continue }
            if "(),:".contains(c) { out.append(String(c)); i = s.index(after: i); continue }
            if c == "'" {
                var lit = "'"
                var j = s.index(after: i)
                while true {
                    guard j < s.endIndex else { throw invalid(s) }
                    if s[j] == "'" {
                        let next = s.index(after: j)
                        if next < s.endIndex, s[next] == "'" { lit.append("'"); j = s.index(after: next); continue }
                        j = next
                        break
                    }
                    lit.append(s[j]); j = s.index(after: j)
                }
                out.append(lit)
                i = j
                continue
            }
            var j = i
            while j < s.endIndex, !" (),:'".contains(s[j]) { j = s.index(after: j) }
            out.append(String(s[i..<j]))
            i = j
        }
        return out
    }

    private mutating func next() throws -> String {
        guard pos < tokens.count else { throw GraphError.badRequest("Invalid filter clause: unexpected end of expression.") }
        defer { pos += 1 }
        return tokens[pos]
    }
    private func peek() -> String? { pos < tokens.count ? tokens[pos] : nil }
    private mutating func expect(_ t: String) throws {
        guard try next() == t else { throw GraphError.badRequest("Invalid filter clause: expected '\(t)'.") }
    }

    public mutating func parseOr() throws -> FilterNode {
        var left = try parseAnd()
        while peek()?.lowercased() == "or" { pos += 1; left = .or(left, try parseAnd()) }
        return left
    }

    public mutating func parseAnd() throws -> FilterNode {
        var left = try parseUnary()
        while peek()?.lowercased() == "and" { pos += 1; left = .and(left, try parseUnary()) }
        return left
    }

    public mutating func parseUnary() throws -> FilterNode {
        if peek()?.lowercased() == "not" {
            pos += 1
            let inner = try parseUnary()
            try use("not", on: inner.property)
            return .not(inner)
        }
        return try parsePrimary()
    }

    public mutating func parsePrimary() throws -> FilterNode {
        let t = try next()
        if t == "(" {
            let e = try parseOr()
            try expect(")")
            return e
        }
        let lower = t.lowercased()
        if lower == "startswith" || lower == "endswith" {
            try expect("(")
            let p = try property(try next())
            try expect(",")
            guard case .string(let arg) = try literal(try next()) else { throw GraphError.badRequest("Invalid filter clause: \(lower) needs a string.") }
            try expect(")")
            try use(lower, on: p)
            return .function(lower, p, arg)
        }
        if lower.hasSuffix("/any") {
            let p = try property(String(t.dropLast(4)))
            try expect("(")
            let v = try next(); try expect(":")
            guard try next() == v, try next().lowercased() == "eq", case .string(let s) = try literal(try next()) else {
                throw GraphError.badRequest("Invalid filter clause: unsupported lambda.")
            }
            try expect(")")
            try use("any", on: p)
            return .anyEquals(p, s)
        }
        let p = try property(t)
        let op = try next().lowercased()
        if op == "in" {
            try expect("(")
            var lits: [FilterLiteral] = [try literal(try next())]
            while peek() == "," { pos += 1; lits.append(try literal(try next())) }
            try expect(")")
            try use("in", on: p)
            return .within(p, lits)
        }
        guard ["eq", "ne", "ge", "le", "gt", "lt"].contains(op) else {
            throw GraphError.badRequest("Invalid filter clause: unknown operator '\(op)'.")
        }
        let lit = try literal(try next())
        try use(lit == .null ? (op == "eq" ? "null" : "ne") : op, on: p)
        return .compare(p, op, lit)
    }

    private func property(_ name: String) throws -> UserProperty {
        guard let p = UserProperty.named(name) else {
            throw GraphError.badRequest("Could not find a property named '\(name)' on type 'microsoft.graph.user'.")
        }
        return p
    }

    private func literal(_ t: String) throws -> FilterLiteral {
        if t.hasPrefix("'") { return .string(String(t.dropFirst())) }
        switch t.lowercased() {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "null": return .null
        default:
            if Double(t) != nil { return .number(t) }
            throw GraphError.badRequest("Invalid filter clause: '\(t)' is not a literal.")
        }
    }

    /// Applies Graph's operator table: default operators pass, advanced ones are recorded, others are refused.
    private mutating func use(_ op: String, on p: UserProperty?) throws {
        guard let p else { return }
        let rule = FilterRules.rule(p)
        if rule.basic.contains(op) { return }
        if rule.advanced.contains(op) {
            if advancedOperator == nil { advancedOperator = op }
            return
        }
        if op == "ge" || op == "le" || op == "gt" || op == "lt" {
            throw GraphError.unsupported("The request uses a filter property that is not indexed")
        }
        throw GraphError.unsupported("Unsupported or invalid query filter clause specified for property '\(p.rawValue)' of resource 'User'.")
    }
}

extension FilterNode {
    public var property: UserProperty? {
        switch self {
        case .compare(let p, _, _), .function(_, let p, _), .within(let p, _), .anyEquals(let p, _): p
        case .not(let inner): inner.property
        default: nil
        }
    }
}
