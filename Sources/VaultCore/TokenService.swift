import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultHTTP
import VaultStore

/// An app resolved from an unlocked vault: where its authority and Graph are, and its credentials.
public struct AppSession: Sendable {
    public let vault: UnlockedVault
    public let metadata: AppMetadata
    public let identity: AppIdentity
    public let cloud: Cloud

    public var graphRoot: String { metadata.graphRoot ?? cloud.graphRoot }
    public var defaultScope: String { cloud.graphScope }
}

/// Use case: tokens for stored apps, through the encrypted MSAL-schema cache.
public struct TokenService: Sendable {
    public let vault: Vault
    public let unlock: Credential
    public let transport: any HTTPTransport
    let now: @Sendable () -> Date
    /// When set, `session` refuses an app with a pending rotation (code `rotation.pending`), so the caller can
    /// finish or roll it back first.
    public var refusePendingRotation = false

    public init(vault: Vault, unlock: Credential, transport: any HTTPTransport, now: @escaping @Sendable () -> Date = { Date() }) {
        self.vault = vault
        self.unlock = unlock
        self.transport = transport
        self.now = now
    }

    public func session(app name: String) throws -> AppSession {
        let unlocked = try vault.open(unlock)
        guard let app = unlocked.contents.app(named: name) else {
            throw VaultError.unknownApp(name)
        }
        if refusePendingRotation, unlocked.contents.record(kind: RotationJournal.kind, name: name) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(name)' is pending", hint: "vault rotate-secret \(name) --resume", exit: .tempFailure)
        }
        let cloud = Cloud(rawValue: app.metadata.cloud) ?? .global
        let identity = AppIdentity(name: name, clientID: app.metadata.clientID, tenant: app.metadata.tenant,
                                   authorityHost: app.metadata.authority ?? cloud.loginHost, secret: app.secret)
        return AppSession(vault: unlocked, metadata: app.metadata, identity: identity, cloud: cloud)
    }

    public func cacheStore(_ session: AppSession) -> TokenCacheStore {
        TokenCacheStore(vault: session.vault, directory: vault.directory)
    }

    public func provider(_ session: AppSession) -> TokenProvider {
        TokenProvider(storage: cacheStore(session), fetcher: ClientCredentials(transport: transport, now: now), now: now)
    }

    public func token(app: String, scope: String? = nil) throws -> TokenResult {
        let s = try session(app: app)
        let scope = scope ?? s.defaultScope
        try Self.validateScope(scope)
        return try provider(s).token(for: s.identity, scope: scope)
    }

    /// Scopes are `RESOURCE/.default`; catching typos here saves a round trip (Entra would answer 1002012 / 70011).
    public static func validateScope(_ scope: String) throws {
        guard !scope.isEmpty, !scope.contains(" "), scope.hasSuffix("/.default"), scope.count > "/.default".count else {
            throw VaultError("scope.invalid", "invalid scope '\(scope)'",
                             hint: "app-only tokens take one scope of the form RESOURCE/.default, e.g. https://graph.microsoft.com/.default",
                             exit: .usage)
        }
    }
}
