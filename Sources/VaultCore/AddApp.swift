import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultStore

/// What a user registers: an Entra ID app and where to reach its authority and Graph.
public struct AppRegistration: Sendable {
    public var name: String
    /// `--tenant`; may be nil when the authority carries the tenant (MSAL's `https://HOST/TENANT`).
    public var tenant: String?
    public var clientID: String
    /// nil: the cloud the known hosts name, else global.
    public var cloud: Cloud?
    public var authority: String?
    public var graphRoot: String?
    /// The scope tokens are asked for by default; nil: the Graph host's `/.default` (custom Graph hosts have none).
    public var scope: String?
    /// `--allow-custom-endpoint`: an authority or Graph host outside the known clouds may receive the secret or tokens.
    public var allowCustomEndpoint = false

    public init(name: String, tenant: String?, clientID: String, cloud: Cloud? = nil, authority: String? = nil, graphRoot: String? = nil,
                scope: String? = nil, allowCustomEndpoint: Bool = false) {
        self.name = name
        self.tenant = tenant
        self.clientID = clientID
        self.cloud = cloud
        self.authority = authority
        self.graphRoot = graphRoot
        self.scope = scope
        self.allowCustomEndpoint = allowCustomEndpoint
    }

    /// Checks everything typed and resolves the endpoints; throws a usage error before any secret is asked for.
    @discardableResult
    public func validate() throws -> (endpoints: AppEndpoints, tenant: String) {
        try AppValidation.name(name)
        try AppValidation.clientID(clientID)
        let resolved = try AppEndpoints.resolve(cloud: cloud, authority: authority, graph: graphRoot, tenant: tenant,
                                                allowCustom: allowCustomEndpoint)
        try AppValidation.tenant(resolved.tenant)
        if let scope { try TokenService.validateScope(scope) }
        return resolved
    }
}

/// Use case: store an app and its client secret.
public struct AddApp: Sendable {
    public let vault: Vault
    public init(vault: Vault) { self.vault = vault }

    /// Validates everything before the vault is touched; refuses an existing name unless `replace`.
    public func run(_ app: AppRegistration, secret: SecretBytes, unlock: Credential, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        let (endpoints, tenant) = try app.validate()
        var meta = AppMetadata(name: app.name, tenant: tenant, clientID: app.clientID.lowercased(), cloud: endpoints.cloud.rawValue,
                               authority: endpoints.storedAuthority, secretHint: secret.prefixString(3), added: now)
        meta.graphRoot = endpoints.storedGraph
        meta.scope = app.scope
        return try vault.update(unlock) { v in
            if v.contents.app(named: app.name) != nil && !replace {
                throw VaultError("app.exists", "an app named '\(app.name)' is already stored",
                                 hint: "pass --replace to overwrite it, or choose another name", exit: .usage)
            }
            // A pending rotation is bound to the stored secret: replacing it underneath would strand the journal.
            if RotationJournal.load(v.contents, app: app.name) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(app.name)' is pending, so the app was not replaced",
                                 hint: "finish it with `vault rotate-secret \(app.name) --resume`, or drop it with `vault rotate-secret \(app.name) --abandon`",
                                 exit: .tempFailure)
            }
            try v.contents.putApp(meta, secret: secret)
            return meta
        }
    }
}
