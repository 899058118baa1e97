import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// An app resolved from an unlocked vault: where its authority and Graph are, and its credentials.
public struct AppSession: Sendable {
    public let vault: UnlockedVault
    public let metadata: AppMetadata
    public let identity: AppIdentity
    public let endpoints: AppEndpoints
    /// The stored client secret, if the app holds one (it may use a certificate for its tokens).
    public let secret: SecretBytes?

    public var graphRoot: String { endpoints.graph.description }

    /// The stored scope, else the Graph host's; a custom Graph host without a stored scope has none, so vault never
    /// guesses which resource a token is for.
    public func defaultScope() throws -> String {
        if let scope = metadata.scope ?? endpoints.defaultScope { return scope }
        throw VaultError("scope.none", "app '\(metadata.name)' uses the custom Graph host \(endpoints.graph.origin) and has no stored scope, so vault will not guess which resource a token is for", context: ["app": metadata.name])
    }
}

/// Use case: tokens for stored apps, through the encrypted MSAL-schema cache.
public struct TokenService: Sendable {
    public let vault: Vault
    public let unlock: Credential
    public let transport: any HTTPTransport
    package let now: @Sendable () -> Date
    /// When set, `session` refuses an app with a pending rotation (code `rotation.pending`), so the caller can
    /// finish or roll it back first.
    public var refusePendingRotation = false
    /// Waits and retries at the token endpoint (`--max-wait` bounds a single wait).
    public var retry = TokenRetryPolicy()
    /// Where secret uses (requests to Entra ID) and handouts are recorded, and as whom.
    public var audit: (any AuditSink)?
    public var requester = AuditRequester(command: "token")
    /// False when the caller records its own handouts (with their peer): `token(app:)` then records only Entra requests.
    public var recordsHandouts = true

    public init(vault: Vault, unlock: Credential, transport: any HTTPTransport, now: @escaping @Sendable () -> Date = { Date() }) {
        self.vault = vault
        self.unlock = unlock
        self.transport = transport
        self.now = now
    }

    public func session(app name: String) throws -> AppSession {
        let unlocked = try vault.open(unlock)
        guard let app = try unlocked.contents.app(named: name) else {
            throw VaultError.unknownApp(name)
        }
        if refusePendingRotation, try unlocked.contents.record(kind: RecordKind.passwordRotation, name: name) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(name)' is pending", context: ["app": name])
        }
        let endpoints = try AppEndpoints.stored(cloud: app.metadata.cloud, authority: app.metadata.authority, graph: app.metadata.graphRoot)
        let identity = AppIdentity(name: name, clientID: app.metadata.clientID, tenant: app.metadata.tenant,
                                   authorityHost: endpoints.authority.origin, credential: try Self.credential(of: app),
                                   realm: app.metadata.tenantID)
        return AppSession(vault: unlocked, metadata: app.metadata, identity: identity, endpoints: endpoints, secret: app.secret)
    }

    /// The credential tokens are fetched with: the certificate unless `--use secret` chose the secret (nothing is
    /// parsed here, so a cache hit costs no RSA or X.509 work).
    public static func credential(of app: StoredApp) throws -> AppCredential {
        let meta = app.metadata
        if let federated = meta.federated { return .federated(try FederatedSource.parse(federated)) }
        if let backend = meta.backend { return .backend(backend) }
        if meta.usesCertificate || app.secret == nil {
            guard let der = meta.certificate, let key = app.certificateKey else {
                throw VaultError("app.no_credential", "app '\(meta.name)' holds no usable credential (its record has neither a client secret nor a certificate with its key)", context: ["app": meta.name])
            }
            return .certificate(StoredCertificate(certificateBase64: der, chainBase64: meta.certificateChain ?? [], privateKey: key,
                                                  algorithm: meta.assertionAlgorithm == "RS256" ? .rs256 : .ps256,
                                                  sendX5C: meta.sendX5C ?? false, notAfter: meta.certificateExpires))
        }
        return .secret(app.secret!)
    }

    /// The app's own token cache; a version-1 cache of every app is first moved into the per-app caches.
    public func cacheStore(_ session: AppSession) throws -> TokenCacheStore {
        let caches = TokenCaches(vault: session.vault, directory: vault.directory)
        try TokenCacheMigration.migrate(caches, apps: { try session.vault.contents.apps.map(\.metadata) },
                                        now: Int64(now().timeIntervalSince1970))
        return try caches.store(app: session.identity.name)
    }

    public func provider(_ session: AppSession) throws -> TokenProvider {
        TokenProvider(storage: try cacheStore(session), fetcher: StoredAppFetcher(service: self), now: now)
    }

    package func clientCredentials() -> ClientCredentials { ClientCredentials(transport: transport, retry: retry, now: now) }

    public func token(app: String, scope: String? = nil) throws -> TokenResult {
        let s = try session(app: app)
        let scope = try scope ?? s.defaultScope()
        try Self.validateScope(scope)
        do {
            let result = try provider(s).token(for: s.identity, scope: scope)
            recordHandout(app: app, clientID: s.identity.clientID, resource: scope, source: result.source, correlationID: result.token.correlationID, outcome: "ok")
            return result
        } catch let e as VaultError {
            recordHandout(app: app, clientID: s.identity.clientID, resource: scope, source: nil, correlationID: nil, outcome: e.code.rawValue)
            throw e
        }
    }

    /// One `token.handout` line in the audit log (no-op without one).
    public func recordHandout(app: String, clientID: String?, resource: String, source: TokenResult.Source?, correlationID: String?,
                              outcome: String, requester: AuditRequester? = nil, count: Int? = nil) {
        guard let audit, recordsHandouts || requester != nil else { return }
        audit.record(AuditEvent(time: now(), kind: .handout, app: app, clientID: clientID, resource: resource, requester: requester ?? self.requester,
                                source: source.map { $0 == .cache ? "cache" : "fetch" }, correlationID: correlationID, outcome: outcome, count: count))
    }

    /// Scopes are `RESOURCE/.default`; catching typos here saves a round trip (Entra would answer 1002012 / 70011).
    public static func validateScope(_ scope: String) throws {
        guard !scope.isEmpty, !scope.contains(" "), scope.hasSuffix("/.default"), scope.count > "/.default".count else {
            throw VaultError("scope.invalid", "invalid scope '\(scope)'")
        }
    }
}

/// Fetches tokens for a stored app and keeps the vault in step with what Entra ID says:
/// - a credential Entra ID rejects is re-read from the vault once: a rotation in another process may have just replaced
///   it (and removed the old password or key), and the fresh one is tried before giving up;
/// - the tenant id of the app's first token is recorded, so the cache realm is the tenant id from then on.
struct StoredAppFetcher: TokenFetcher {
    let service: TokenService

    func acquire(_ app: AppIdentity, scope: String) throws -> AccessToken {
        // A federated app's audit line names the token's issuer and subject (its claims, never the token).
        var presented: ExternalAssertion?
        do {
            var identity = app
            identity.credential = try resolve(app.credential, app: app.name)
            if case .assertion(let external) = identity.credential { presented = external }
            let token = try acquireOnce(identity, scope: scope)
            record(app, scope: scope, correlationID: token.correlationID, outcome: "ok", presented: presented)
            return token
        } catch let e as VaultError {
            record(app, scope: scope, correlationID: nil, outcome: e.code.rawValue, presented: presented)
            throw e
        }
    }

    func record(_ app: AppIdentity, scope: String, correlationID: String?, outcome: String, presented: ExternalAssertion?) {
        var event = AuditEvent(time: service.now(), kind: .entraRequest, app: app.name, clientID: app.clientID, resource: scope,
                               requester: service.requester, correlationID: correlationID, outcome: outcome)
        event.issuer = presented?.issuer
        event.subject = presented?.subject
        service.audit?.record(event)
    }

    /// `identity` carries its credential resolved (a backend's secret or a federated token read for this fetch).
    func acquireOnce(_ identity: AppIdentity, scope: String) throws -> AccessToken {
        let flow = service.clientCredentials()
        var identity = identity
        let app = identity
        let token: AccessToken
        do {
            token = try flow.acquire(identity, scope: scope)
        } catch let e as VaultError where e.code == "entra.invalid_secret" || e.code == "entra.expired_secret" || e.code == "entra.unknown_certificate" {
            // Another process (or, for a backend app, another host) may have just rotated the credential: read it
            // again once, and try the fresh one before giving up.
            guard let fresh = try? service.vault.open(service.unlock).contents.app(named: app.name),
                  fresh.metadata.clientID == app.clientID, let stored = try? TokenService.credential(of: fresh),
                  let credential = try? resolve(stored, app: app.name),
                  !credential.sameMaterial(as: identity.credential) else { throw e }
            identity.credential = credential
            token = try flow.acquire(identity, scope: scope)
        }
        if app.realm == nil { recordRealm(token.realm, app: app) }
        return token
    }

    /// A backend app's secret, read from its backend now (a cache miss); a federated app's token, read from its
    /// source now; other credentials as they are.
    func resolve(_ credential: AppCredential, app: String) throws -> AppCredential {
        if case .federated(let source) = credential {
            let backends = BackendService(vault: service.vault, unlock: service.unlock)
            return .assertion(try ExternalTokenSources.stored(source, backends: backends).read(now: service.now()))
        }
        guard case .backend(let name) = credential else { return credential }
        let v = try service.vault.open(service.unlock)
        guard let stored = try v.contents.app(named: app), let path = stored.metadata.backendPath else {
            throw VaultError("backend.app", "app '\(app)' names backend '\(name)' but no path in it")
        }
        let backends = BackendService(vault: service.vault, unlock: service.unlock)
        let (record, login) = try backends.get(name)
        let kv = BackendService.client(record, login: login, transport: try BackendService.transport(for: record))
        let secret = try BackendApps.readSecret(kv, path: path, app: app)
        return .secret(secret)
    }

    /// Best effort: a vault that cannot be written now records the realm on a later fetch.
    func recordRealm(_ realm: String, app: AppIdentity) {
        _ = try? service.vault.update(service.unlock) { v in
            guard let stored = try v.contents.app(named: app.name), stored.metadata.tenantID == nil,
                  stored.metadata.clientID == app.clientID, stored.metadata.tenant == app.tenant else {
                throw VaultError("realm.skip", "nothing to record")
            }
            var updated = stored
            updated.metadata.tenantID = realm.lowercased()
            try v.contents.putApp(updated)
        }
    }
}

extension VaultError {
    /// The one error for a name that is not in the vault.
    public static func unknownApp(_ name: String) -> VaultError {
        VaultError("app.unknown", "no app named '\(name)' in the vault")
    }
}
