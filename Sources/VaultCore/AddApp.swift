import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultPKI
import VaultStore
import VaultFormat
import VaultRecords

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


/// Use case: store an app with its client secret, its certificate, or both.
public struct AddApp: Sendable {
    public let vault: Vault
    public init(vault: Vault) { self.vault = vault }

    /// An app with a client secret only (the common case).
    public func run(_ app: AppRegistration, secret: SecretBytes, unlock: Credential, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        try run(app, secret: secret, certificate: nil, unlock: unlock, replace: replace, now: now)
    }

    /// Validates everything before the vault is touched; refuses an existing name unless `replace`. With
    /// `keepExisting` (and `replace`), the credential of the stored app that is not given anew (its secret, or its
    /// certificate) is kept beside the new one; the stored app must have the same client id. `use` picks the
    /// credential tokens are fetched with when the app ends up with both ("certificate" or "secret").
    public func run(_ app: AppRegistration, secret: SecretBytes?, certificate: CertificateChoice?, use: String? = nil,
                    keepExisting: Bool = false, unlock: Credential, replace: Bool, now: Date = Date()) throws -> AppMetadata {
        let (endpoints, tenant) = try app.validate()
        if let use, use != "certificate", use != "secret" {
            throw VaultError("usage", "the credential to use is certificate or secret (not '\(use)')", context: ["case": "app_use"])
        }
        if let certificate, certificate.credential.certificate.notAfter <= now {
            throw VaultError("cert.expired", "the certificate expired on \(certificate.credential.certificate.notAfter.formatted(.iso8601)); Entra ID will not accept it", context: ["case": "input"])
        }
        var meta = AppMetadata(name: app.name, tenant: tenant, clientID: app.clientID.lowercased(), cloud: endpoints.cloud.rawValue,
                               authority: endpoints.storedAuthority, secretHint: secret?.prefixString(3) ?? "", added: now)
        meta.graphRoot = endpoints.storedGraph
        meta.scope = app.scope
        meta.credentialUse = use
        if let certificate { CertificateMetadata.describe(certificate, in: &meta) }
        return try vault.update(unlock) { v in
            let existing = try v.contents.app(named: app.name)
            if existing != nil && !replace {
                throw VaultError("app.exists", "an app named '\(app.name)' is already stored")
            }
            // A pending rotation is bound to the stored secret: replacing it underneath would strand the journal.
            if try RotationJournal.load(v.contents, app: app.name) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(app.name)' is pending, so the app was not replaced", context: ["app": app.name])
            }
            var stored = StoredApp(metadata: meta, secret: secret, certificateKey: certificate?.credential.privateKey)
            if keepExisting {
                guard let existing else {
                    throw VaultError("app.unknown", "there is no app '\(app.name)' whose credential could be kept", context: ["case": "keep"])
                }
                guard existing.metadata.clientID.lowercased() == meta.clientID else {
                    throw VaultError("app.conflict", "the stored '\(app.name)' has client id \(existing.metadata.clientID), not \(meta.clientID): its credential cannot be kept")
                }
                if secret == nil, let old = existing.secret {
                    stored.secret = old
                    stored.metadata.secretHint = existing.metadata.secretHint
                    stored.metadata.secretKeyID = existing.metadata.secretKeyID
                    stored.metadata.secretExpires = existing.metadata.secretExpires
                }
                if certificate == nil, let key = existing.certificateKey, existing.metadata.certificate != nil {
                    stored.certificateKey = key
                    CertificateMetadata.copyCertificate(from: existing.metadata, to: &stored.metadata)
                }
            }
            guard stored.secret != nil || stored.certificateKey != nil else {
                throw VaultError("app.no_credential", "no credential to store for '\(app.name)'", context: ["case": "input"])
            }
            if use == "secret" && stored.secret == nil || use == "certificate" && stored.certificateKey == nil {
                throw VaultError("usage", "'\(app.name)' would hold no \(use!) to use", context: ["case": "app_use"])
            }
            try v.contents.putApp(stored)
            return stored.metadata
        }
    }
}
