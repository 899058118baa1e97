import EmulatorDirectory
import Foundation

/// `/v1.0/applications/{id | (appId='…')}/federatedIdentityCredentials[/{id | name}]`: create, list, get, delete
/// (docs/emulator.md, "Federated identity credentials"). Permissions are addPassword's: Application.ReadWrite.All, or
/// Application.ReadWrite.OwnedBy on an app the caller owns, to write; any application read role to read.
struct GraphFederatedCredentials: Sendable {
    let core: EmulatorCore

    /// `appKey`: the object id, or the appId when `byAppID`; `item`: a credential's id or name, if addressed.
    func handle(_ x: Exchange, caller: Caller, appKey: String, byAppID: Bool, item: String?) async throws -> Reply {
        let key = appKey.removingPercentEncoding ?? appKey
        let found = byAppID ? await core.state.app(key) : await core.state.app(objectID: key)
        guard var app = found, app.tenantID == caller.tenant.id else { throw GraphError.notFound(key) }
        let owner = caller.roles.contains("Application.ReadWrite.OwnedBy") && app.owners.contains(caller.servicePrincipalID)
        let canWrite = caller.roles.contains("Application.ReadWrite.All") || owner
        let canRead = canWrite || !caller.roles.isDisjoint(with: GraphDirectoryObjects.readAll)
        let collectionContext = "\(core.base)/v1.0/$metadata#applications('\(app.objectID)')/federatedIdentityCredentials"

        func index(_ item: String) throws -> Int {
            let name = item.removingPercentEncoding ?? item
            guard let i = app.federated.firstIndex(where: { $0.id == name.lowercased() || $0.name == name }) else {
                throw GraphError.notFound(name)
            }
            return i
        }

        switch (x.method, item) {
        case ("GET", nil):
            guard canRead else { throw GraphError.denied }
            return .json(200, ["@odata.context": collectionContext, "value": app.federated.map { $0.json() }], contentType: Reply.odataType)
        case ("GET", let item?):
            guard canRead else { throw GraphError.denied }
            var json = app.federated[try index(item)].json()
            json["@odata.context"] = collectionContext + "/$entity"
            return .json(200, json, contentType: Reply.odataType)
        case ("POST", nil):
            guard canWrite else { throw GraphError.denied }
            guard let body = (try? JSONSerialization.jsonObject(with: x.body)) as? [String: Any] else {
                throw GraphError.badRequest("Invalid JSON in request body.")
            }
            var fic = try FederatedCredentialRules.validate(body, existing: app.federated, cloud: core.cloud)
            // A new credential reaches the token endpoint after the same propagation delay as a new secret.
            fic.usableFrom = Date().addingTimeInterval(await core.state.propagationDelay)
            app.federated.append(fic)
            await core.state.update(app)
            var json = fic.json()
            json["@odata.context"] = collectionContext + "/$entity"
            return .json(201, json, contentType: Reply.odataType)
        case ("DELETE", let item?):
            guard canWrite else { throw GraphError.denied }
            let i = try index(item)
            app.federated.remove(at: i)
            await core.state.update(app)
            return Reply(status: 204)
        default:
            throw GraphError.methodNotAllowed
        }
    }
}
