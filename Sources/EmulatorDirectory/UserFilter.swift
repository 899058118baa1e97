/// `$filter` for users: a small OData parser and evaluator with Graph's per-property operator rules (docs/protocols.md,
/// "Graph: $filter and advanced queries").
public indirect enum FilterNode: Sendable {
    case and(FilterNode, FilterNode)
    case or(FilterNode, FilterNode)
    case not(FilterNode)
    case compare(UserProperty, String, FilterLiteral)          // eq ne ge le gt lt
    case function(String, UserProperty, String)                // startswith / endswith
    case within(UserProperty, [FilterLiteral])                 // in
    case anyEquals(UserProperty, String)                       // businessPhones/any(p:p eq '…')
    case countCompare(UserProperty, String, Int)               // assignedLicenses/$count eq 0 (advanced only)

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
        case .countCompare(let p, let op, let n):
            let count: Int
            switch p.value(of: u) {
            case .strings(let a): count = a.count
            case .objects(let a): count = a.count
            default: count = 0
            }
            switch op {
            case "eq": return count == n
            case "ne": return count != n
            case "ge": return count >= n
            case "le": return count <= n
            case "gt": return count > n
            case "lt": return count < n
            default: return false
            }
        }
    }
}

public enum FilterLiteral: Equatable, Sendable {
    case string(String), bool(Bool), null, number(String), dateTime(String)
    public var text: String? {
        switch self {
        case .string(let s), .dateTime(let s): s
        case .bool(let b): b ? "true" : "false"
        case .number(let n): n
        case .null: nil
        }
    }

    var edmType: String {
        switch self {
        case .string: "Edm.String"
        case .bool: "Edm.Boolean"
        case .number: "Edm.Int32"
        case .dateTime: "Edm.DateTimeOffset"
        case .null: "null"
        }
    }

    /// OData's unquoted DateTimeOffset: `2021-01-01T00:00:00Z`, fractions and offsets allowed.
    static func isDateTime(_ t: String) -> Bool {
        let b = Array(t.utf8)
        func digits(_ r: Range<Int>) -> Bool { r.upperBound <= b.count && b[r].allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard b.count >= 20, digits(0..<4), b[4] == 0x2d, digits(5..<7), b[7] == 0x2d, digits(8..<10), b[10] == 0x54 || b[10] == 0x74,
              digits(11..<13), b[13] == 0x3a, digits(14..<16), b[16] == 0x3a, digits(17..<19) else { return false }
        var i = 19
        if i < b.count, b[i] == 0x2e { i += 1; let start = i; while i < b.count, b[i] >= 0x30 && b[i] <= 0x39 { i += 1 }; if i == start { return false } }
        if i == b.count - 1, b[i] == 0x5a || b[i] == 0x7a { return true }
        return i + 6 == b.count && (b[i] == 0x2b || b[i] == 0x2d) && digits((i + 1)..<(i + 3)) && b[i + 3] == 0x3a && digits((i + 4)..<(i + 6))
    }
}

/// Which operators each property supports by default and which only in advanced mode.
public enum FilterRules {
    /// operator names: eq ne not in startswith endswith ge le null (= "eq null"), any
    /// The docs' table for users (docs/protocols.md, "Graph: $filter and advanced queries"), column by column;
    /// operators the docs leave blank are refused.
    public static func rule(_ p: UserProperty) -> (basic: Set<String>, advanced: Set<String>) {
        switch p {
        case .id: return (["eq", "in"], ["ne", "not"])
        case .displayName: return (["eq", "in", "startswith"], ["ne", "not", "null"])
        case .givenName, .surname, .mailNickname, .department, .usageLocation:
            return (["eq", "in", "startswith", "ge", "le"], ["ne", "null"])
        case .mail: return (["eq", "in", "startswith", "ge", "le"], ["ne", "endswith"])
        case .userPrincipalName: return (["eq", "in", "startswith", "le"], ["ne", "endswith"])
        case .jobTitle: return (["eq", "in", "ge", "le"], ["ne", "null"])
        case .city: return (["eq", "in", "startswith", "ge"], ["ne", "not", "null"])
        case .country: return (["eq", "in", "startswith", "ge", "le"], ["ne", "not", "null"])
        case .createdDateTime: return (["eq", "ge", "le"], ["ne", "not", "in"])
        case .accountEnabled, .userType: return (["eq", "in"], ["ne", "not"])
        case .employeeId: return (["eq", "startswith"], ["ne", "le", "null"])
        case .mobilePhone, .officeLocation, .preferredLanguage, .companyName, .postalCode:
            return ([], ["eq", "ne", "not", "in", "startswith", "endswith", "ge", "le", "null"])
        case .businessPhones: return (["any"], ["not"])
        default: return ([], [])
        }
    }

    /// The OData type of a property, for literal checks.
    public static func edmType(_ p: UserProperty) -> String {
        switch p {
        case .createdDateTime: "Edm.DateTimeOffset"
        case .accountEnabled, .onPremisesSyncEnabled: "Edm.Boolean"
        default: "Edm.String"
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
            // A word starting with a digit is a literal: a DateTimeOffset keeps its colons (`2021-01-01T00:00:00Z`).
            let stops = c.isNumber ? " (),'" : " (),:'"
            while j < s.endIndex, !stops.contains(s[j]) { j = s.index(after: j) }
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
        if lower.hasSuffix("/$count") {
            // A collection's count (`assignedLicenses/$count eq 0`): advanced queries only.
            let p = try property(String(t.dropLast(7)))
            let op = try next().lowercased()
            guard ["eq", "ne", "ge", "le", "gt", "lt"].contains(op), let n = Int(try next()) else {
                throw GraphError.badRequest("Invalid filter clause: $count compares with a number.")
            }
            guard p.isCollection else {
                throw GraphError.badRequest("Invalid filter clause: '\(p.rawValue)' is not a collection.")
            }
            if advancedOperator == nil { advancedOperator = "$count" }
            return .countCompare(p, op, n)
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
            for lit in lits { try Self.checkType(p, lit, op: op) }
            try use("in", on: p)
            return .within(p, lits)
        }
        guard ["eq", "ne", "ge", "le", "gt", "lt"].contains(op) else {
            throw GraphError.badRequest("Invalid filter clause: unknown operator '\(op)'.")
        }
        let lit = try literal(try next())
        try Self.checkType(p, lit, op: op)
        try use(lit == .null ? (op == "eq" ? "null" : "ne") : op, on: p)
        return .compare(p, op, lit)
    }

    /// A literal of the property's type (null aside): `createdDateTime ge '2021-01-01'` and `accountEnabled eq 'true'`
    /// are the documented type errors; unquoted DateTimeOffset literals are the valid form.
    static func checkType(_ p: UserProperty, _ lit: FilterLiteral, op: String) throws {
        if lit == .null { return }
        let expected = FilterRules.edmType(p)
        guard lit.edmType != expected else { return }
        let kinds = ["eq": "Equal", "ne": "NotEqual", "ge": "GreaterThanOrEqual", "le": "LessThanOrEqual", "gt": "GreaterThan",
                     "lt": "LessThan", "in": "In"]
        throw GraphError.badRequest("Invalid filter clause: A binary operator with incompatible types was detected. Found operand types '\(expected)' and '\(lit.edmType)' for operator kind '\(kinds[op] ?? op)'.")
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
            if FilterLiteral.isDateTime(t) { return .dateTime(t) }
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
        case .compare(let p, _, _), .function(_, let p, _), .within(let p, _), .anyEquals(let p, _), .countCompare(let p, _, _): p
        case .not(let inner): inner.property
        default: nil
        }
    }
}
