import Foundation

/// A parsed `GET /v1.0/users` query with Graph's validation rules applied.
public struct UsersQuery: Sendable {
    public var select: [UserProperty]?
    public var filter: FilterNode?
    public var search: SearchNode?
    public var orderBy: (UserProperty, descending: Bool)?
    public var top = 100
    public var count = false
    public var offset = 0
    /// The skip token says the empty page in front of this one was already served.
    public var emptyServed = false
    /// The query's parameters without `$skiptoken` and `$top`, decoded, in order: what a skip token is bound to.
    public var parameters: [(String, String)] = []

    /// A digest of `parameters`, carried in skip tokens.
    public var binding: String {
        var h: UInt64 = 0xcbf29ce484222325
        for (n, v) in parameters { for b in (n.lowercased() + "=" + v + "&").utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 } }
        return String(h, radix: 16)
    }

    /// `parameters` encoded as Graph encodes them in nextLinks: unreserved characters and `$,:/@'()` raw, space as
    /// `+`, everything else as lower-case `%xx`.
    public var serialisedParameters: [String] {
        func enc(_ s: String) -> String {
            var out = ""
            for b in s.utf8 {
                let raw = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || "-._~$,:/@'()".utf8.contains(b)
                if raw { out.unicodeScalars.append(Unicode.Scalar(b)) } else if b == 0x20 { out += "+" } else {
                    out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16)
                }
            }
            return out
        }
        return parameters.map { "\($0.0)=\(enc($0.1))" }
    }

    /// `params` are decoded (name, value) pairs; `eventual` is the ConsistencyLevel: eventual header.
    public static func parse(_ params: [(String, String)], eventual: Bool) throws -> UsersQuery {
        var q = UsersQuery()
        var advancedOperator: String?
        var hasFilter = false
        var hasExpand = false
        var token: SkipToken.Decoded?
        var explicitTop = false
        q.parameters = params.filter { !["$skiptoken", "$top"].contains($0.0.lowercased()) }
        for (name, value) in params {
            switch name.lowercased() {
            case "$select":
                q.select = try parseSelect(value)
            case "$top":
                guard let n = Int(value), n >= 1, n <= 999 else {
                    throw GraphError.unsupported("Invalid page size specified: '\(value)'. Must be between 1 and 999 inclusive.")
                }
                q.top = n
                explicitTop = true
            case "$filter":
                let (node, adv) = try FilterParser.parse(value)
                q.filter = node
                advancedOperator = adv
                hasFilter = true
            case "$search":
                guard eventual else {
                    throw GraphError.unsupported("Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'")
                }
                q.search = try SearchNode.parse(value)
            case "$orderby":
                let parts = value.split(separator: " ").map(String.init)
                guard let first = parts.first, let p = UserProperty.named(first), parts.count <= 2 else {
                    throw GraphError.badRequest("Could not find a property named '\(value)' on type 'microsoft.graph.user'.")
                }
                let desc = parts.count == 2 && parts[1].lowercased() == "desc"
                if parts.count == 2 && !["asc", "desc"].contains(parts[1].lowercased()) {
                    throw GraphError.badRequest("Invalid $orderby direction '\(parts[1])'.")
                }
                q.orderBy = (p, desc)
            case "$count":
                guard ["true", "false"].contains(value.lowercased()) else { throw GraphError.badRequest("Invalid value for $count: '\(value)'.") }
                q.count = value.lowercased() == "true"
            case "$skiptoken":
                guard let t = SkipToken.decode(value) else { throw GraphError.badRequest("Invalid skip token.") }
                token = t
            case "$skip":
                throw GraphError.badRequest("'$skip' is not supported by the service.")
            case "$expand":
                hasExpand = true
            default:
                if name.hasPrefix("$") { throw GraphError.badRequest("Query option '\(name)' is not allowed.") }
            }
        }
        if let token {
            // A skip token belongs to the query that produced it.
            guard token.query == q.binding else {
                throw GraphError.badRequest("The $skiptoken does not belong to this query: follow @odata.nextLink as it is, without changing its parameters.")
            }
            q.offset = token.offset
            q.emptyServed = token.emptyServed
            if !explicitTop { q.top = token.top }
        }
        let advanced = eventual && q.count
        // Checked after every parameter was read, so the order of the parameters does not matter.
        if hasExpand && advanced { throw GraphError.unsupported("$expand is not supported in advanced queries.") }
        if let op = advancedOperator, !advanced {
            throw GraphError.unsupported("Operator '\(op)' is not supported because the 'ConsistencyLevel:eventual' header is missing. Refer to https://aka.ms/graph-docs/advanced-queries for more information")
        }
        if let (p, _) = q.orderBy {
            // displayName and userPrincipalName sort by default (without $filter); createdDateTime in advanced mode;
            // the docs name no other sortable user property.
            let sortable: Set<UserProperty> = advanced ? [.displayName, .userPrincipalName, .createdDateTime] : [.displayName, .userPrincipalName]
            if !sortable.contains(p) {
                throw GraphError.unsupported("Sorting not supported for current query.")
            }
            if hasFilter && !advanced { throw GraphError.unsupported("Sorting not supported for current query.") }
        }
        // $count=true without the header is silently ignored (no @odata.count).
        if !eventual { q.count = false }
        return q
    }

    public static func parseSelect(_ value: String) throws -> [UserProperty] {
        var out: [UserProperty] = []
        for raw in value.split(separator: ",") {
            let name = raw.trimmingCharacters(in: .whitespaces)
            if UserProperty.singleUserOnly.contains(name.lowercased()) {
                throw GraphError(status: 501, code: "NotImplemented",
                                 message: "This operation target is not yet supported. Property '\(name)' can only be selected on a single user.")
            }
            guard let p = UserProperty.named(name) else {
                throw GraphError.badRequest("Could not find a property named '\(name)' on type 'microsoft.graph.user'.")
            }
            if !out.contains(p) { out.append(p) }
        }
        guard !out.isEmpty else { throw GraphError.badRequest("$select must name at least one property.") }
        return out
    }

    /// Applies filter, search and order to the directory (no paging).
    public func apply(to users: [DirectoryUser]) -> [DirectoryUser] {
        var result = users
        if let filter { result = result.filter(filter.matches) }
        if let search { result = result.filter(search.matches) }
        if let (p, desc) = orderBy {
            result = result.enumerated().sorted { a, b in
                let x = p.value(of: a.element).text?.lowercased() ?? ""
                let y = p.value(of: b.element).text?.lowercased() ?? ""
                if x == y { return a.offset < b.offset }
                return desc ? x > y : x < y
            }.map(\.element)
        }
        return result
    }

    public var selectSuffix: String { select.map { "(" + $0.map(\.rawValue).joined(separator: ",") + ")" } ?? "" }
    public var properties: [UserProperty] { select ?? UserProperty.defaults }
    public var isPlain: Bool { filter == nil && search == nil && orderBy == nil }
}

/// Opaque `$skiptoken`: base64url of a versioned offset, page size and query digest. Clients must never build one.
public enum SkipToken {
    public struct Decoded: Equatable, Sendable {
        public var offset: Int
        public var top: Int
        public var query: String
        public var emptyServed: Bool
    }

    public static func encode(_ offset: Int, top: Int = 100, query: String = "", emptyServed: Bool = false) -> String {
        Data("RFNwdAIB:\(offset):\(top):\(query)\(emptyServed ? ":e" : "")".utf8).base64URL
    }

    public static func decode(_ token: String) -> Decoded? {
        guard let data = Data(base64URL: token), let s = String(data: data, encoding: .utf8), s.hasPrefix("RFNwdAIB:") else { return nil }
        let parts = s.dropFirst(9).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 3 || (parts.count == 4 && parts[3] == "e"), let offset = Int(parts[0]), offset >= 0,
              let top = Int(parts[1]), (1...999).contains(top) else { return nil }
        return Decoded(offset: offset, top: top, query: parts[2], emptyServed: parts.count == 4)
    }
}

extension Data {
    public var base64URL: String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public init?(base64URL s: String) {
        var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        b = b.replacingOccurrences(of: "=", with: "")
        while b.count % 4 != 0 { b += "=" }
        self.init(base64Encoded: b)
    }
}
