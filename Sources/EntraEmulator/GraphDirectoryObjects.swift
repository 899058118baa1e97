import EmulatorDirectory
import Foundation

/// `GET /v1.0/applications`, `/v1.0/servicePrincipals` (paged, `$select`, `$top`, `$count`, `$expand`), their `/$count`,
/// and `GET /v1.0/applications/{id}/federatedIdentityCredentials`. The configured app registrations come first, then
/// the synthetic tenant's (`--applications N`), in creation order.
struct GraphDirectoryObjects: Sendable {
    let core: EmulatorCore
    static let readAll: Set<String> = ["Application.Read.All", "Application.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"]

    /// The objects the caller may list: every one with a read-all role; with only Application.ReadWrite.OwnedBy, the
    /// configured apps it owns (and no service principals).
    func objects(_ collection: DirectoryObjectsQuery.Collection, caller: Caller) async throws -> [DirectoryObject] {
        let readAll = !caller.roles.isDisjoint(with: Self.readAll)
        guard readAll || (collection == .applications && caller.roles.contains("Application.ReadWrite.OwnedBy")) else { throw GraphError.denied }
        var apps = await core.state.allApps().filter { $0.tenantID == caller.tenant.id }
        if !readAll { apps = apps.filter { $0.owners.contains(caller.servicePrincipalID) } }
        let now = Date()
        let configured = apps.map { collection == .applications ? Self.application($0, now: now) : Self.servicePrincipal($0) }
        guard readAll else { return configured }
        return configured + (collection == .applications ? caller.tenant.applications : caller.tenant.servicePrincipals)
    }

    func list(_ x: Exchange, caller: Caller, collection: DirectoryObjectsQuery.Collection) async throws -> Reply {
        guard x.method == "GET" else { throw GraphError.methodNotAllowed }
        let eventual = x.headers["consistencylevel"]?.lowercased() == "eventual"
        let q = try DirectoryObjectsQuery.parse(x.query, collection: collection, eventual: eventual)
        let all = try await objects(collection, caller: caller)
        let start = min(q.offset, all.count)
        let end = min(start + q.top, all.count)
        var out = "{\"@odata.context\":\"\(core.base)/v1.0/$metadata#\(collection.rawValue)\(q.contextSuffix)\""
        if q.count { out += ",\"@odata.count\":\(all.count)" }
        if end < all.count {
            let token = SkipToken.encode(end, top: q.top, query: q.binding)
            let link = "\(await core.state.nextLinkBase ?? core.base)/v1.0/\(collection.rawValue)?"
                + (Self.serialised(q.parameters) + ["$skiptoken=" + token]).joined(separator: "&")
            out += ",\"@odata.nextLink\":" + SyntheticApplications.json(link)
        }
        out += ",\"value\":["
        var body = Data(out.utf8)
        body.reserveCapacity(body.count + (end - start) * 1400)
        let props = q.properties
        for i in start..<end {
            if i > start { body.append(0x2c) }
            let o = all[i]
            var item = "{"
            var first = true
            for p in props {
                guard let v = o.value(p) else { continue }
                if !first { item += "," }
                first = false
                item += "\"\(p)\":" + v
            }
            if q.expandFederated {
                item += (first ? "" : ",") + "\"federatedIdentityCredentials\":" + (o.federatedJSON ?? "[]")
            }
            item += "}"
            body.append(contentsOf: Array(item.utf8))
        }
        body.append(contentsOf: Array("]}".utf8))
        return Reply(status: 200, headers: [("Content-Type", Reply.odataType)], body: body)
    }

    /// `/applications/$count`, `/servicePrincipals/$count`: only with ConsistencyLevel: eventual.
    func count(_ x: Exchange, caller: Caller, collection: DirectoryObjectsQuery.Collection) async throws -> Reply {
        guard x.method == "GET" else { throw GraphError.methodNotAllowed }
        guard x.headers["consistencylevel"]?.lowercased() == "eventual" else { throw GraphError.badRequest("$count is not currently supported.") }
        return .raw(200, String(try await objects(collection, caller: caller).count), contentType: "text/plain")
    }

    /// `GET /applications/{id}/federatedIdentityCredentials` for a synthetic application (configured ones have none).
    func federated(_ x: Exchange, caller: Caller, key: String, byAppID: Bool) async throws -> Reply? {
        guard let o = caller.tenant.applications.first(where: { (byAppID ? $0.appId : $0.id) == key.lowercased() }) else { return nil }
        guard !caller.roles.isDisjoint(with: Self.readAll) else { throw GraphError.denied }
        let body = "{\"@odata.context\":\"\(core.base)/v1.0/$metadata#applications('\(o.id)')/federatedIdentityCredentials\",\"value\":\(o.federatedJSON ?? "[]")}"
        return Reply(status: 200, headers: [("Content-Type", Reply.odataType)], body: Data(body.utf8))
    }

    static func serialised(_ parameters: [(String, String)]) -> [String] {
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

    static func jsonArray(_ items: [[String: Any]]) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: items, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("[]".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    static func application(_ app: AppRegistration, now: Date) -> DirectoryObject {
        let j = SyntheticApplications.json
        return DirectoryObject(id: app.objectID, appId: app.clientID, displayName: app.displayName, properties: [
            ("id", j(app.objectID)), ("appId", j(app.clientID)), ("createdDateTime", j(app.createdText)), ("deletedDateTime", "null"),
            ("description", "null"), ("displayName", j(app.displayName)), ("notes", "null"), ("publisherDomain", "null"),
            ("signInAudience", app.foreignServicePrincipals.isEmpty ? "\"AzureADMyOrg\"" : "\"AzureADMultipleOrgs\""), ("tags", "[]"),
            ("keyCredentials", jsonArray(app.certificates.map { $0.json() })),
            ("passwordCredentials", jsonArray(app.visiblePasswords(at: now).map { $0.json() })),
        ], federatedJSON: jsonArray(app.federated.map { $0.json() }))
    }

    static func servicePrincipal(_ app: AppRegistration) -> DirectoryObject {
        let j = SyntheticApplications.json
        return DirectoryObject(id: app.servicePrincipalID, appId: app.clientID, displayName: app.displayName, properties: [
            ("id", j(app.servicePrincipalID)), ("accountEnabled", "true"), ("appDisplayName", j(app.displayName)), ("appId", j(app.clientID)),
            ("appOwnerOrganizationId", j(app.tenantID)), ("deletedDateTime", "null"), ("displayName", j(app.displayName)),
            ("servicePrincipalNames", "[" + j(app.clientID) + "]"), ("servicePrincipalType", "\"Application\""), ("tags", "[]"),
            ("keyCredentials", "[]"), ("passwordCredentials", "[]"),
        ], federatedJSON: nil)
    }
}
