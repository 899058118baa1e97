/// `GET /users` options, turned into a Graph URL with the right encoding and the advanced-query header.
public struct UsersRequest: Sendable {
    public var select: [String] = []
    public var filter: String?
    public var search: String?
    public var orderBy: String?
    public var top: Int?
    public var count = false

    public init() {}

    /// Set after Graph answered `Request_UnsupportedQuery` to a default-mode query: sent again in advanced mode.
    public var forceAdvanced = false

    /// Advanced queries (`$search`, `$count`, and any filter or sort outside the docs' default-safe table, see
    /// `UserQueryRules`) need `ConsistencyLevel: eventual` and `$count=true`; vault adds both for them.
    public var isAdvanced: Bool {
        forceAdvanced || search != nil || count || UserQueryRules.needsAdvanced(filter: filter, orderBy: orderBy)
    }

    public var headers: [(String, String)] { isAdvanced ? [("ConsistencyLevel", "eventual")] : [] }

    public var path: String {
        var q: [(String, String)] = []
        if !select.isEmpty { q.append(("$select", select.joined(separator: ","))) }
        if let filter { q.append(("$filter", filter)) }
        if let search { q.append(("$search", search)) }
        if let orderBy { q.append(("$orderby", orderBy)) }
        if let top { q.append(("$top", String(top))) }
        if isAdvanced { q.append(("$count", "true")) }
        return "/v1.0/users" + (q.isEmpty ? "" : "?" + q.map { "\($0.0)=\(QueryEncoding.encode($0.1))" }.joined(separator: "&"))
    }

    /// `/users/{id|upn}`: a UPN starting with `$` uses the `('…')` form; `#` becomes `%23`.
    public static func single(_ key: String) -> String {
        if key.hasPrefix("$") { return "/v1.0/users('\(QueryEncoding.encode(key.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "''"), keep: "$@"))')" }
        return "/v1.0/users/" + QueryEncoding.encode(key, keep: "@")
    }
}

/// Percent-encoding of query values: RFC 3986 unreserved characters and `keep` stay; everything else is `%XX`.
public enum QueryEncoding {
    public static func encode(_ s: String, keep: String = ",") -> String {
        let keepBytes = Set(keep.utf8)
        var out = ""
        for b in s.utf8 {
            let unreserved = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b == 0x2d || b == 0x2e || b == 0x5f || b == 0x7e
            if unreserved || keepBytes.contains(b) { out.unicodeScalars.append(Unicode.Scalar(b)) } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded
            }
        }
        return out
    }
}

extension String {
    var leftPadded: String { count == 1 ? "0" + self : self }
}
