import EmulatorDirectory
import Foundation

/// `GET /v1.0/users`, `/users/$count`, `/users/{id|upn}` (docs/protocols.md, "Graph: listing users").
struct GraphUsers: Sendable {
    let core: EmulatorCore
    static let readRoles: Set<String> = ["User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]

    func handle(_ x: Exchange, caller: Caller, rest: String, linkBase: String? = nil, emptyPages: Bool = false) throws -> Reply {
        guard x.method == "GET" else { throw GraphError.methodNotAllowed }
        guard !caller.roles.isDisjoint(with: Self.readRoles) else { throw GraphError.denied }
        let eventual = x.headers["consistencylevel"]?.lowercased() == "eventual"
        if rest.isEmpty { return try collection(x, tenant: caller.tenant, eventual: eventual, linkBase: linkBase ?? core.base, emptyPages: emptyPages) }
        if rest == "/$count" {
            guard eventual else { throw GraphError.badRequest("$count is not currently supported.") }
            var q = try UsersQuery.parse(x.query.filter { $0.0.lowercased() != "$count" }, eventual: eventual)
            q.count = true
            let n = q.isPlain ? caller.tenant.users.count : q.apply(to: caller.tenant.users).count
            return .raw(200, String(n), contentType: "text/plain")
        }
        return try single(x, tenant: caller.tenant, rest: rest)
    }

    func collection(_ x: Exchange, tenant: Tenant, eventual: Bool, linkBase: String, emptyPages: Bool = false) throws -> Reply {
        let q = try UsersQuery.parse(x.query, eventual: eventual)
        let all = q.isPlain ? tenant.users : q.apply(to: tenant.users)
        // "A page may contain zero or more results": with empty pages on, each page is preceded by an empty one.
        let emptyFirst = emptyPages && !q.emptyServed
        let start = min(q.offset, all.count)
        let end = emptyFirst ? start : min(start + q.top, all.count)
        var out = "{\"@odata.context\":\"\(core.base)/v1.0/$metadata#users\(q.selectSuffix)\""
        if q.count && q.offset == 0 && !q.emptyServed { out += ",\"@odata.count\":\(all.count)" }
        if end < all.count || emptyFirst && start < all.count {
            // Written the way Graph writes it: the query re-serialised ('+' for spaces, lower-case escapes), $top folded
            // into the skip token together with a digest of the query it belongs to.
            let token = SkipToken.encode(end, top: q.top, query: q.binding, emptyServed: emptyFirst)
            let link = "\(linkBase)/v1.0/users?" + (q.serialisedParameters + ["$skiptoken=" + token]).joined(separator: "&")
            out += ",\"@odata.nextLink\":"
            UserJSON.appendString(link, to: &out)
        }
        out += ",\"value\":["
        var body = Data(out.utf8)
        if q.select == nil && q.isPlain {
            body.reserveCapacity(body.count + (end - start) * 400)
            for i in start..<end {
                if i > start { body.append(0x2c) }
                body.append(contentsOf: tenant.defaultJSON[i])
            }
        } else {
            var items = ""
            items.reserveCapacity((end - start) * 420)
            let props = q.properties
            for i in start..<end {
                if i > start { items += "," }
                UserJSON.append(all[i], properties: props, to: &items)
            }
            body.append(contentsOf: Array(items.utf8))
        }
        body.append(contentsOf: Array("]}".utf8))
        var reply = Reply(status: 200, headers: [("Content-Type", Reply.odataType)], body: body)
        reply.cacheKey = "\(tenant.id) \(linkBase) \(x.headers["consistencylevel"] ?? "") \(emptyPages) \(x.rawQuery)"
        return reply
    }

    func single(_ x: Exchange, tenant: Tenant, rest: String) throws -> Reply {
        var key = String(rest.dropFirst())
        if rest.hasPrefix("('"), rest.hasSuffix("')") { key = String(rest.dropFirst(2).dropLast(2)) }
        key = key.removingPercentEncoding ?? key
        guard !key.contains("/") else { throw GraphError.badRequest("Resource not found for the segment '\(key)'.") }
        let lower = key.lowercased()
        guard let index = tenant.usersByID[lower] ?? tenant.usersByUPN[lower] else { throw GraphError.notFound(key) }
        var props = UserProperty.defaults
        var suffix = ""
        if let select = x.queryValue("$select") {
            // Single-user-only properties are allowed here; the emulator has no values for them (null).
            props = try UsersQuery.parseSelect(select.split(separator: ",").filter {
                !UserProperty.singleUserOnly.contains($0.lowercased())
            }.joined(separator: ","))
            suffix = "(" + props.map(\.rawValue).joined(separator: ",") + ")"
        }
        var out = "{\"@odata.context\":\"\(core.base)/v1.0/$metadata#users\(suffix)/$entity\","
        var body = ""
        UserJSON.append(tenant.users[index], properties: props, to: &body)
        out += body.dropFirst()
        return Reply(status: 200, headers: [("Content-Type", Reply.odataType)], body: Data(out.utf8))
    }
}
