import EntraAuth
import FleetBackend
import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultStore
import VaultFormat
import VaultRecords

/// Use case: apps whose secret lives in a fleet backend. The local record keeps the app's metadata (and the backend's
/// name and the app's path in it), never its secret; `vault token` reads the secret from the backend on a cache
/// miss only.
public struct BackendAddApp: Sendable {
    public let vault: Vault
    public let unlock: Credential

    public init(vault: Vault, unlock: Credential) {
        self.vault = vault
        self.unlock = unlock
    }

    func metadata(_ app: AppRegistration, hint: String, backend: String, now: Date) throws -> AppMetadata {
        let (endpoints, tenant) = try app.validate()
        var meta = AppMetadata(name: app.name, tenant: tenant, clientID: app.clientID.lowercased(), cloud: endpoints.cloud.rawValue,
                               authority: endpoints.storedAuthority, secretHint: hint, added: now)
        meta.graphRoot = endpoints.storedGraph
        meta.scope = app.scope
        meta.backend = backend
        meta.backendPath = BackendApps.path(tenant: tenant, app: app.name)
        return meta
    }

    /// `add-app --backend`: the app and its secret written to the backend create-only, then the local record.
    public func create(_ app: AppRegistration, secret: SecretBytes, backend name: String, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        var meta = try metadata(app, hint: secret.prefixString(3), backend: name, now: now)
        let backends = BackendService(vault: vault, unlock: unlock)
        let (record, login) = try backends.get(name)
        try checkLocal(meta.name, replace: replace)
        let kv = BackendService.client(record, login: login, transport: try BackendService.transport(for: record))
        meta.backendVersion = try BackendApps.create(kv, path: meta.backendPath!, metadata: meta, secret: secret)
        try storeLocal(meta, replace: replace)
        return meta
    }

    /// `add-app --from-backend`: enrols this host for an app already in the backend. Its endpoints are checked like
    /// typed ones (a custom host still needs --allow-custom-endpoint: the backend does not decide where a secret goes).
    public func enrol(name: String, tenant: String, backend backendName: String, allowCustomEndpoint: Bool, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        try AppValidation.name(name)
        try AppValidation.tenant(tenant)
        let backends = BackendService(vault: vault, unlock: unlock)
        let (record, login) = try backends.get(backendName)
        try checkLocal(name, replace: replace)
        let kv = BackendService.client(record, login: login, transport: try BackendService.transport(for: record))
        let path = BackendApps.path(tenant: tenant, app: name)
        let (facts, version) = try BackendApps.read(kv, path: path)
        guard let clientID = facts["client_id"], let storedTenant = facts["tenant"], storedTenant.lowercased() == tenant.lowercased() else {
            throw VaultError("backend.app_damaged", "the app at \(path) in backend '\(backendName)' lacks its client id or names another tenant")
        }
        let app = AppRegistration(name: name, tenant: storedTenant, clientID: clientID, cloud: facts["cloud"].flatMap(Cloud.init(rawValue:)),
                                  authority: facts["authority"], graphRoot: facts["graph_root"], scope: facts["scope"],
                                  allowCustomEndpoint: allowCustomEndpoint)
        var meta = try metadata(app, hint: facts["secret_hint"] ?? "", backend: backendName, now: now)
        meta.backendVersion = version
        try storeLocal(meta, replace: replace)
        return meta
    }

    func checkLocal(_ name: String, replace: Bool) throws {
        let v = try vault.open(unlock)
        if !replace, try v.contents.app(named: name) != nil {
            throw VaultError("app.exists", "an app named '\(name)' is already stored")
        }
    }

    func storeLocal(_ meta: AppMetadata, replace: Bool) throws {
        try vault.update(unlock) { v in
            if !replace, try v.contents.app(named: meta.name) != nil {
                throw VaultError("app.exists", "an app named '\(meta.name)' is already stored")
            }
            if try RotationJournal.load(v.contents, app: meta.name) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(meta.name)' is pending, so the app was not replaced", context: ["app": meta.name])
            }
            try v.contents.putApp(StoredApp(metadata: meta, secret: nil))
        }
    }
}
