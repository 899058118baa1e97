/// `$search="displayName:wa" AND "mail:adele"` (docs/protocols.md, "Graph: $search").
public indirect enum SearchNode: Sendable {
    case clause(UserProperty, String)
    case and(SearchNode, SearchNode)
    case or(SearchNode, SearchNode)

    public func matches(_ u: DirectoryUser) -> Bool {
        switch self {
        case .and(let a, let b): return a.matches(u) && b.matches(u)
        case .or(let a, let b): return a.matches(u) || b.matches(u)
        case .clause(let p, let term):
            guard let value = p.value(of: u).text else { return false }
            if p == .displayName {
                let words = Self.tokens(value)
                return Self.tokens(term).allSatisfy { t in words.contains { $0.hasPrefix(t) } }
            }
            return value.lowercased().hasPrefix(term.lowercased())
        }
    }

    /// Splits on spaces, symbols, digit runs and lower→upper case changes; lower-cased.
    public static func tokens(_ s: String) -> [String] {
        var out: [String] = []
        var current = ""
        var previous: Character?
        func flush() { if !current.isEmpty { out.append(current.lowercased()); current = "" } }
        for c in s {
            if !(c.isLetter || c.isNumber) { flush(); previous = nil; continue }
            if let p = previous {
                if (p.isLowercase && c.isUppercase) || (p.isNumber != c.isNumber) { flush() }
            }
            current.append(c)
            previous = c
        }
        flush()
        return out
    }

    public static func parse(_ text: String) throws -> SearchNode {
        var tokens: [String] = []
        var i = text.startIndex
        while i < text.endIndex {
            let c = text[i]
            if c == " " { i = text.index(after: i); continue }
            if c == "(" || c == ")" { tokens.append(String(c)); i = text.index(after: i); continue }
            if c == "\"" {
                var s = "\""
                var j = text.index(after: i)
                while j < text.endIndex, text[j] != "\"" {
                    if text[j] == "\\", text.index(after: j) < text.endIndex { j = text.index(after: j) }
                    s.append(text[j]); j = text.index(after: j)
                }
                guard j < text.endIndex else { throw bad(text) }
                tokens.append(s)
                i = text.index(after: j)
                continue
            }
            var j = i
            while j < text.endIndex, text[j] != " ", text[j] != "(", text[j] != ")" { j = text.index(after: j) }
            tokens.append(String(text[i..<j]))
            i = j
        }
        var pos = 0
        func primary() throws -> SearchNode {
            guard pos < tokens.count else { throw bad(text) }
            let t = tokens[pos]; pos += 1
            if t == "(" {
                let e = try orExpr()
                guard pos < tokens.count, tokens[pos] == ")" else { throw bad(text) }
                pos += 1
                return e
            }
            guard t.hasPrefix("\""), let colon = t.firstIndex(of: ":") else { throw bad(text) }
            let name = String(t[t.index(after: t.startIndex)..<colon])
            guard let p = UserProperty.named(name) else {
                throw GraphError.badRequest("Could not find a property named '\(name)' on type 'microsoft.graph.user'.")
            }
            return .clause(p, String(t[t.index(after: colon)...]))
        }
        func andExpr() throws -> SearchNode {
            var l = try primary()
            while pos < tokens.count, tokens[pos] == "AND" { pos += 1; l = .and(l, try primary()) }
            return l
        }
        func orExpr() throws -> SearchNode {
            var l = try andExpr()
            while pos < tokens.count, tokens[pos] == "OR" { pos += 1; l = .or(l, try andExpr()) }
            return l
        }
        let node = try orExpr()
        guard pos == tokens.count else { throw bad(text) }
        return node
    }

    public static func bad(_ text: String) -> GraphError {
        .badRequest("Syntax error: character '\(text.prefix(1))' is not valid at position 0 in '\(text)'.")
    }
}
