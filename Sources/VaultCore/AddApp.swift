import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultStore

/// What a user registers: an Entra ID app and where to reach its authority and Graph.
public struct AppRegistration: Sendable {
    public var name: String
    public var tenant: String
    public var clientID: String
    public var cloud: Cloud
    public var authority: String?
    public var graphRoot: String?

    public init(name: String, tenant: String, clientID: String, cloud: Cloud, authority: String? = nil, graphRoot: String? = nil) {
        self.name = name
        self.tenant = tenant
        self.clientID = clientID
        self.cloud = cloud
        self.authority = authority
        self.graphRoot = graphRoot
    }

    public func validate() throws {
        try AppValidation.name(name)
        try AppValidation.tenant(tenant)
        try AppValidation.clientID(clientID)
        if let authority { try AppValidation.baseURL(authority, option: "--authority") }
        if let graphRoot { try AppValidation.baseURL(graphRoot, option: "--graph") }
    }
}

/// Use case: store an app and its client secret.
public struct AddApp: Sendable {
    public let vault: Vault
    public init(vault: Vault) { self.vault = vault }

    /// Validates everything before the vault is touched; refuses an existing name unless `replace`.
    public func run(_ app: AppRegistration, secret: SecretBytes, unlock: Credential, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        try app.validate()
        func trimmed(_ s: String?) -> String? { s.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } }
        var meta = AppMetadata(name: app.name, tenant: app.tenant, clientID: app.clientID.lowercased(), cloud: app.cloud.rawValue,
                               authority: trimmed(app.authority), secretHint: secret.prefixString(3), added: now)
        meta.graphRoot = trimmed(app.graphRoot)
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
