import EntraAuth
import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultStore

/// Use case behind `vault exec` and `vault serve`: tokens for a fixed set of stored apps, handed to programs that ask
/// a managed-identity endpoint. The policy lives here (which app a request selects, which resources are allowed,
/// how long a token is reused); the HTTP protocol lives in `IdentityEndpoint`.
/// - A token is reused from memory while more than 5 minutes remain (as MSAL and the SDKs do); then the encrypted
///   cache and its single flight across processes are asked (`TokenService`), so N clients make one Entra request.
/// - Every token handed out is an audit line.
public final class TokenHandout: Sendable {
    public struct App: Sendable, Equatable {
        public let name: String
        public let clientID: String
    }

    public struct Refusal: Error, Sendable, Equatable {
        public enum Kind: Sendable { case badRequest, forbidden, unavailable }
        public let kind: Kind
        public let code: String
        public let message: String
    }

    public struct Served: Sendable {
        public let token: SecretBytes
        public let expiresOn: Int64
        public let clientID: String
        public let app: String
    }

    struct Key: Hashable { let app: String; let scope: String }
    /// A token is not handed out with 5 minutes or less left (azure-identity and MSAL would ask again at once).
    static let reuseMargin: Int64 = 300

    public let tokens: TokenService
    public let apps: [App]
    /// Allowed resources (normalised without a trailing slash); nil allows any.
    public let allowedResources: Set<String>?
    public let command: String
    let childPID: Atomic<Int32>
    private let cache = Mutex<[Key: Served]>([:])

    /// `apps` are resolved from the vault once (their client ids); the first is the one a request without a selector gets.
    public init(tokens: TokenService, apps names: [String], allowedResources: [String]?, command: String) throws {
        precondition(!names.isEmpty)
        let vault = try tokens.vault.open(tokens.unlock)
        var apps: [App] = []
        for name in names where !apps.contains(where: { $0.name == name }) {
            guard let app = try vault.contents.app(named: name) else { throw VaultError.unknownApp(name) }
            apps.append(App(name: name, clientID: app.metadata.clientID.lowercased()))
        }
        self.tokens = tokens
        self.apps = apps
        self.allowedResources = allowedResources.map { Set($0.map(Self.normalise)) }
        self.command = command
        self.childPID = Atomic(0)
    }

    public func setChildPID(_ pid: Int32) { childPID.store(pid, ordering: .relaxed) }

    static func normalise(_ resource: String) -> String {
        var r = resource
        while r.hasSuffix("/") { r.removeLast() }
        return r.lowercased()
    }

    /// The app a request selects: by client id among the served apps; object ids and resource ids are refused (vault
    /// knows apps by name and client id only).
    public func select(clientID: String?, otherSelector: String?) throws(Refusal) -> App {
        if let other = otherSelector {
            throw Refusal(kind: .badRequest, code: "invalid_request",
                          message: "vault selects a served app by client_id only; \(other) is not supported")
        }
        guard let clientID else { return apps[0] }
        guard let app = apps.first(where: { $0.clientID == clientID.lowercased() }) else {
            throw Refusal(kind: .badRequest, code: "invalid_request",
                          message: "no served app has client_id \(clientID.prefix(64)); this endpoint serves \(apps.map(\.clientID).joined(separator: ", "))")
        }
        return app
    }

    /// Refuses a resource outside `--allow-resource`.
    public func checkResource(_ resource: String) throws(Refusal) {
        guard let allowed = allowedResources else { return }
        guard allowed.contains(Self.normalise(resource)) else {
            throw Refusal(kind: .forbidden, code: "invalid_resource",
                          message: "resource \(resource.prefix(200)) is not allowed here (allowed: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    static func scope(for resource: String) -> String {
        resource.hasSuffix("/") ? resource + ".default" : resource + "/.default"
    }

    /// A token from memory with more than 5 minutes left, or nil. Audited.
    public func cached(app: App, resource: String, now: Int64, peer: String?) -> Served? {
        let key = Key(app: app.name, scope: Self.scope(for: resource))
        guard let hit = cache.withLock({ $0[key] }), hit.expiresOn - now > Self.reuseMargin else { return nil }
        record(app: app, resource: resource, source: .cache, correlationID: nil, outcome: "ok", peer: peer)
        return hit
    }

    /// A token through the encrypted cache (fetching it from Entra ID if needed, one process at a time). Blocks.
    public func fetch(app: App, resource: String, peer: String?) throws(Refusal) -> Served {
        let scope = Self.scope(for: resource)
        do {
            try TokenService.validateScope(scope)
        } catch {
            throw Refusal(kind: .badRequest, code: "invalid_resource", message: "resource \(resource.prefix(200)) does not make a valid scope")
        }
        var service = tokens
        service.recordsHandouts = false  // the handout is recorded below, with its peer
        do {
            let result = try RotationService.usingApp(app.name, tokens: service, note: { _ in }) { try $0.token(app: app.name, scope: scope) }
            var raw = Array(result.token.secret.utf8)
            let served = Served(token: SecretBytes(consuming: &raw), expiresOn: result.token.expiresOn,
                                clientID: result.token.clientID.lowercased(), app: app.name)
            cache.withLock { $0[Key(app: app.name, scope: scope)] = served }
            record(app: app, resource: resource, source: result.source, correlationID: result.token.correlationID, outcome: "ok", peer: peer)
            return served
        } catch let e as VaultError {
            record(app: app, resource: resource, source: nil, correlationID: nil, outcome: e.code, peer: peer)
            throw Refusal(kind: [75, 69, 74].contains(e.exitCode) ? .unavailable : .badRequest,
                          code: e.code.hasPrefix("entra.") ? "invalid_request" : "temporarily_unavailable",
                          message: e.reason + (e.hint.map { " (\($0))" } ?? ""))
        } catch {
            throw Refusal(kind: .unavailable, code: "temporarily_unavailable", message: "\(error)")
        }
    }

    /// Fetches again every cached token within `margin` seconds of being refused by the 5-minute rule, so a
    /// long-running server renews before clients notice. Returns how many were renewed.
    @discardableResult
    public func renewExpiring(now: Int64, margin: Int64 = 60) -> Int {
        let due = cache.withLock { entries in entries.filter { $0.value.expiresOn - now <= Self.reuseMargin + margin } }
        var renewed = 0
        for (key, served) in due {
            guard let app = apps.first(where: { $0.name == key.app }) else { continue }
            let resource = String(key.scope.dropLast("/.default".count))
            if let fresh = try? fetch(app: app, resource: resource, peer: "renewal"), fresh.expiresOn != served.expiresOn { renewed += 1 }
        }
        return renewed
    }

    func record(app: App, resource: String, source: TokenResult.Source?, correlationID: String?, outcome: String, peer: String?) {
        let child = childPID.load(ordering: .relaxed)
        tokens.recordHandout(app: app.name, clientID: app.clientID, resource: resource, source: source, correlationID: correlationID, outcome: outcome,
                             requester: AuditRequester(command: command, childPID: child == 0 ? nil : child, peer: peer))
    }
}
