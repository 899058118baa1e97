/// When a users query needs Graph's *advanced* mode (`ConsistencyLevel: eventual` and `$count=true`): the filter
/// table of the directory-objects docs (docs/protocols.md, "Graph: $filter and advanced queries"), property × operator,
/// default-safe clauses only. Anything outside it — another operator, an unknown property, `$count` on a collection, a
/// lambda other than `businessPhones/any`, sorting other than by `displayName`/`userPrincipalName` alone — is sent in
/// advanced mode, which Graph accepts for every query this command builds (it forbids only `$expand`).
public enum UserQueryRules {
    /// Operators Graph answers without advanced mode, per property. `null` stands for `eq null`.
    public static let defaultOperators: [String: Set<String>] = {
        var t: [String: Set<String>] = [
            "id": ["eq", "in"],
            "displayName": ["eq", "in", "startswith"],
            "mail": ["eq", "in", "startswith", "ge", "le"],
            "userPrincipalName": ["eq", "in", "startswith", "le"],
            "jobTitle": ["eq", "in", "ge", "le"],
            "city": ["eq", "in", "startswith", "ge"],
            "country": ["eq", "in", "startswith", "ge", "le"],
            "createdDateTime": ["eq", "ge", "le"],
            "accountEnabled": ["eq", "in"], "userType": ["eq", "in"],
            "employeeId": ["eq", "startswith"],
            "businessPhones": ["any"],
        ]
        for p in ["givenName", "surname", "mailNickname", "department", "usageLocation"] { t[p] = ["eq", "in", "startswith", "ge", "le"] }
        return t
    }()

    /// Sortable without advanced mode, and only without `$filter`.
    public static let defaultOrderBy: Set<String> = ["displayName", "userPrincipalName"]

    /// True unless every clause of `filter` is in `defaultOperators` (and the sort in `defaultOrderBy`, with no filter).
    public static func needsAdvanced(filter: String?, orderBy: String?) -> Bool {
        if let orderBy {
            if filter != nil { return true }
            let parts = orderBy.split(separator: " ", omittingEmptySubsequences: true)
            guard parts.count <= 2, let p = parts.first, defaultOrderBy.contains(String(p)),
                  parts.count == 1 || ["asc", "desc"].contains(parts[1].lowercased()) else { return true }
        }
        guard let filter else { return false }
        guard let clauses = clauses(filter) else { return true }
        return !clauses.allSatisfy { defaultOperators[$0.property]?.contains($0.op) == true }
    }

    struct Clause: Equatable { var property: String; var op: String }

    /// The (property, operator) pairs of a filter; nil when it cannot be read (then advanced mode is the safe choice).
    static func clauses(_ filter: String) -> [Clause]? {
        guard let tokens = tokenize(filter) else { return nil }
        var out: [Clause] = []
        var i = 0
        var negated = false
        func at(_ k: Int) -> String? { k < tokens.count ? tokens[k] : nil }
        while i < tokens.count {
            let t = tokens[i]
            let lower = t.lowercased()
            switch lower {
            case "(", ")", ",", "and", "or":
                i += 1
                continue
            case "not":
                negated = true
                i += 1
                continue
            case "startswith", "endswith":
                guard at(i + 1) == "(", let p = at(i + 2), at(i + 3) == "," else { return nil }
                out.append(Clause(property: p, op: negated ? "not" : lower))
                negated = false
                // Skip to the closing parenthesis of the call.
                guard let close = tokens[(i + 3)...].firstIndex(of: ")") else { return nil }
                i = close + 1
                continue
            default: break
            }
            if t.hasPrefix("'") { return nil } // a literal where a property belongs
            if t.contains("/") {
                // businessPhones/any(p:p eq '…') is the one default lambda; anything else (other lambdas, /$count).
                let parts = t.split(separator: "/", maxSplits: 1).map(String.init)
                if parts.count == 2, parts[1].lowercased() == "any", at(i + 1) == "(" {
                    out.append(Clause(property: parts[0], op: negated ? "not" : "any"))
                    negated = false
                    guard let close = tokens[(i + 1)...].firstIndex(of: ")") else { return nil }
                    i = close + 1
                    continue
                }
                out.append(Clause(property: t, op: "advanced"))
                negated = false
                // Skip the comparison that follows (`assignedLicenses/$count eq 0`).
                i += at(i + 1).map { ["eq", "ne", "ge", "le", "gt", "lt"].contains($0.lowercased()) } == true ? 3 : 1
                continue
            }
            guard let op = at(i + 1)?.lowercased() else { return nil }
            switch op {
            case "in":
                guard at(i + 2) == "(", let close = tokens[(i + 2)...].firstIndex(of: ")") else { return nil }
                out.append(Clause(property: t, op: negated ? "not" : "in"))
                i = close + 1
            case "eq", "ne", "ge", "le", "gt", "lt":
                guard let literal = at(i + 2) else { return nil }
                let name = literal.lowercased() == "null" ? (op == "eq" ? "null" : "ne") : op
                out.append(Clause(property: t, op: negated ? "not" : name))
                i += 3
            default:
                return nil
            }
            negated = false
        }
        return out
    }

    /// OData tokens: `(`, `)`, `,`, `:`, quoted literals (`''` escapes a quote), and words.
    static func tokenize(_ s: String) -> [String]? {
        var out: [String] = []
        var i = s.startIndex
        while i < s.endIndex {
            let c = s[i]
            if c == " " { i = s.index(after: i); continue }
            if "(),:".contains(c) { out.append(String(c)); i = s.index(after: i); continue }
            if c == "'" {
                var j = s.index(after: i)
                while true {
                    guard j < s.endIndex else { return nil }
                    if s[j] == "'" {
                        let n = s.index(after: j)
                        if n < s.endIndex, s[n] == "'" { j = s.index(after: n); continue }
                        j = n
                        break
                    }
                    j = s.index(after: j)
                }
                out.append(String(s[i..<j]))
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
}
