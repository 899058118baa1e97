import Foundation

/// A parsed `GET /v1.0/applications` or `/v1.0/servicePrincipals` query (docs/protocols.md, "Graph: listing users"
/// rules, applied to these collections): `$select` of known properties, `$top` 1…999 (rejected, not clamped, outside),
/// `$count` honoured only with `ConsistencyLevel: eventual`, `$expand=federatedIdentityCredentials` on applications
/// (not in advanced mode), `$skip` refused, the skip token bound to the query it was issued for.
public struct DirectoryObjectsQuery: Sendable {
    public enum Collection: String, Sendable {
        case applications, servicePrincipals
        var typeName: String { self == .applications ? "application" : "servicePrincipal" }
        public var properties: [String] {
            switch self {
            case .applications:
                ["id", "appId", "createdDateTime", "deletedDateTime", "description", "displayName", "notes", "publisherDomain",
                 "signInAudience", "tags", "keyCredentials", "passwordCredentials"]
            case .servicePrincipals:
                ["id", "accountEnabled", "appDisplayName", "appId", "appOwnerOrganizationId", "deletedDateTime", "displayName",
                 "servicePrincipalNames", "servicePrincipalType", "tags", "keyCredentials", "passwordCredentials"]
            }
        }
    }

    public var collection: Collection
    public var select: [String]?
    public var expandFederated = false
    public var top = 100
    public var count = false
    public var offset = 0
    public var filter: String?
    public var parameters: [(String, String)] = []

    public var binding: String {
        var h: UInt64 = 0xcbf29ce484222325
        for (n, v) in parameters { for b in (collection.rawValue + n.lowercased() + "=" + v + "&").utf8 { h = (h ^ UInt64(b)) &* 0x100000001b3 } }
        return String(h, radix: 16)
    }

    /// The properties each item carries, in Graph's order for a default read, or in `$select`'s order.
    public var properties: [String] { select ?? collection.properties }

    public var contextSuffix: String { select.map { "(" + $0.joined(separator: ",") + ")" } ?? "" }

    public static func parse(_ params: [(String, String)], collection: Collection, eventual: Bool) throws -> DirectoryObjectsQuery {
        var q = DirectoryObjectsQuery(collection: collection)
        q.parameters = params.filter { !["$skiptoken", "$top"].contains($0.0.lowercased()) }
        var token: SkipToken.Decoded?
        var explicitTop = false
        for (name, value) in params {
            switch name.lowercased() {
            case "$select":
                var chosen: [String] = []
                for raw in value.split(separator: ",", omittingEmptySubsequences: false) {
                    let p = raw.trimmingCharacters(in: .whitespaces)
                    guard let known = collection.properties.first(where: { $0.lowercased() == p.lowercased() }) else {
                        throw GraphError.badRequest("Could not find a property named '\(p)' on type 'microsoft.graph.\(collection.typeName)'.")
                    }
                    if !chosen.contains(known) { chosen.append(known) }
                }
                q.select = chosen
            case "$top":
                guard let n = Int(value), (1...999).contains(n) else {
                    throw GraphError.unsupported("Invalid page size specified: '\(value)'. Must be between 1 and 999 inclusive.")
                }
                q.top = n
                explicitTop = true
            case "$count":
                guard ["true", "false"].contains(value.lowercased()) else { throw GraphError.badRequest("Invalid $count value '\(value)'.") }
                // Without the header, $count=true is silently ignored (docs/protocols.md,
                // "Graph: $filter and advanced queries").
                q.count = value.lowercased() == "true" && eventual
            case "$expand":
                guard collection == .applications, value.lowercased() == "federatedidentitycredentials" else {
                    throw GraphError.badRequest("Could not find a navigation property named '\(value)' on type 'microsoft.graph.\(collection.typeName)'.")
                }
                q.expandFederated = true
            case "$filter":
                q.filter = value
            case "$skip":
                throw GraphError.badRequest("'$skip' is not supported by the service.")
            case "$skiptoken":
                guard let t = SkipToken.decode(value) else { throw GraphError.badRequest("The specified page token value has expired and can no longer be included in your request.") }
                token = t
            default:
                if name.hasPrefix("$") { throw GraphError.badRequest("Query option '\(name)' is not allowed.") }
            }
        }
        if q.expandFederated && q.count {
            throw GraphError.badRequest("$expand is not supported with advanced query capabilities (ConsistencyLevel: eventual with $count).")
        }
        if let token {
            guard token.query == q.binding else { throw GraphError.badRequest("The skip token does not belong to this query.") }
            q.offset = token.offset
            if !explicitTop { q.top = token.top }
            q.count = false
        }
        return q
    }
}
