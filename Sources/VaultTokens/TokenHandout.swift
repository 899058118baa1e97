import EntraAuth
import FoundationEssentials
import Synchronization
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

/// Use case behind `vault exec` and `vault serve`: tokens for a fixed set of stored apps, handed to programs that ask
/// a managed-identity endpoint. The policy lives here (which app a request selects, which resources are allowed,
/// how long a token is reused); the HTTP protocol lives in `IdentityEndpoint`.
/// - A resource is canonicalised once, at the edge (`Resource.canonical`): the scope sent to Entra ID, both caches and
///   the audit line use that spelling, so letter-case or trailing-slash variants are one token, not one each.
/// - Allowed resources: `--allow-resource` (in the list's own spelling); without one, each app's stored scope only.
/// - A token is reused from memory while more than 5 minutes remain (as MSAL and the SDKs do); the memory cache is a
///   fixed `SecretArena` (one locked mapping), least recently used first out. Then the encrypted cache and its single
///   flight across processes are asked (`TokenService`), so N clients make one Entra request.
/// - A resource Entra ID refused is remembered for `failureMemory` seconds: asking again is answered from memory.
/// - Every token handed out is an audit line; memory hits of one app and resource within `auditWindow` seconds are one
///   line with a count (`flushAudit`).
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

    /// Who asked: `127.0.0.1:PORT` or `unix` (with the Unix-socket peer's uid and pid), or `renewal`.
    public struct Peer: Sendable, Equatable {
        public var address: String
        public var uid: UInt32?
        public var pid: Int32?
        /// The peer's command name (/proc/PID/comm, read when it connected).
        public var command: String?
        public init(address: String, uid: UInt32? = nil, pid: Int32? = nil, command: String? = nil) {
            self.address = address
            self.uid = uid
            self.pid = pid
            self.command = command
        }
    }

    public struct Served: Sendable {
        public let token: any SecretReadable
        public let expiresOn: Int64
        public let clientID: String
        public let app: String
        /// The canonical resource the token is for.
        public let resource: String
    }

    /// Which resources are served.
    public enum Allowed: Sendable, Equatable {
        /// `--allow-resource`: these, for every app (canonical spelling → the list's spelling).
        case list([String: String])
        /// The default: each app's stored scope's resource only.
        case storedScope([String: [String: String]])
        /// `--allow-any-resource`.
        case any
    }

    struct Key: Hashable { let app: String; let resource: String }
    struct Entry { let handle: SecretArena.Handle; let expiresOn: Int64; let clientID: String; var lastUsed: UInt64 }
    struct Failure { let until: Int64; let refusal: Refusal }
    struct Hits { var first: Int64; var count: Int; var peer: Peer? }
    /// Memory hits are counted per app, resource and caller: a TCP client's address without its port (no identity
    /// beyond the host), a Unix-socket client's uid, pid and command. A new caller gets a line of its own.
    struct HitKey: Hashable {
        let key: Key
        let address: String
        let uid: UInt32?
        let pid: Int32?
        let command: String?
        init(_ key: Key, _ peer: Peer?) {
            self.key = key
            let a = peer?.address ?? ""
            address = a.hasPrefix("127.") || a.hasPrefix("[") ? String(a[..<(a.lastIndex(of: ":") ?? a.endIndex)]) : a
            uid = peer?.uid
            pid = peer?.pid
            command = peer?.command
        }
    }
    struct State {
        var entries: [Key: Entry] = [:]
        var failures: [Key: Failure] = [:]
        var hits: [HitKey: Hits] = [:]
        var tick: UInt64 = 0
    }

    /// A token is not handed out with 5 minutes or less left (azure-identity and MSAL would ask again at once).
    static let reuseMargin: Int64 = 300
    /// Tokens kept in memory; a token longer than a slot is served from the encrypted cache each time.
    public static let memorySlots = 32
    public static let slotSize = 8192
    /// Seconds a resource Entra ID refused is answered from memory; failures remembered at most.
    public static let failureMemory: Int64 = 30
    static let maxFailures = 256
    /// Memory hits of one app and resource within this many seconds are one audit line.
    public static let auditWindow: Int64 = 60

    public let tokens: TokenService
    public let apps: [App]
    public let allowed: Allowed
    public let command: String
    let childPID: Atomic<Int32>
    let arena: SecretArena
    private let state = Mutex(State())
    let clock: @Sendable () -> Int64
    let use: AppUse
    let words: Words

    /// How a refusal is put to the HTTP client: whether it is temporary (503, try again) or not (400), and the
    /// message. The CLI passes its error table's words; the default says the reason alone and calls nothing temporary.
    public typealias Words = @Sendable (VaultError) -> (temporary: Bool, message: String)

    /// How a token fetch uses an app: `body` runs with the token service to use (see `init`).
    public typealias AppUse = @Sendable (_ app: String, _ tokens: TokenService, _ body: (TokenService) throws -> TokenResult) throws -> TokenResult

    /// `apps` are resolved from the vault once (their client ids and stored scopes); the first is the one a request
    /// without a selector gets. `allowedResources` nil: each app's stored scope (or any resource with `anyResource`).
    /// Counters for `vault serve --metrics-listen` (nil: none kept).
    public let metrics: ServeMetrics?

    /// `use` is how a fetch uses an app: the composition root passes the rotation rule (settle an interrupted
    /// rotation first: `RotationService.usingApp`); the default uses the stored credential as it is.
    public init(tokens: TokenService, apps names: [String], allowedResources: [String]?, anyResource: Bool = false, command: String,
                metrics: ServeMetrics? = nil, clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                use: @escaping AppUse = { _, tokens, body in try body(tokens) },
                words: @escaping Words = { (false, $0.reason) }) throws {
        self.metrics = metrics
        self.words = words
        precondition(!names.isEmpty)
        self.use = use
        var apps: [App] = []
        var stored: [String: [String: String]] = [:]
        let vault = try tokens.vault.open(tokens.unlock)
        for name in names where !apps.contains(where: { $0.name == name }) {
            guard let app = try vault.contents.app(named: name) else { throw VaultError.unknownApp(name) }
            apps.append(App(name: name, clientID: app.metadata.clientID.lowercased()))
            if allowedResources == nil && !anyResource {
                let endpoints = try AppEndpoints.stored(cloud: app.metadata.cloud, authority: app.metadata.authority, graph: app.metadata.graphRoot)
                guard let scope = app.metadata.scope ?? endpoints.defaultScope, scope.hasSuffix("/.default") else {
                    throw VaultError("handout.no_scope", "app '\(name)' has no stored scope, so vault does not know which resource its tokens may be for", context: ["app": name])
                }
                let resource = String(scope.dropLast("/.default".count))
                stored[name] = [Resource.canonical(resource): Resource.canonical(resource)]
            }
        }
        self.tokens = tokens
        self.apps = apps
        if let list = allowedResources {
            var map: [String: String] = [:]
            for r in list { map[Resource.canonical(r)] = r }
            allowed = .list(map)
        } else {
            allowed = anyResource ? .any : .storedScope(stored)
        }
        self.command = command
        self.childPID = Atomic(0)
        self.arena = SecretArena(slots: Self.memorySlots, slotSize: Self.slotSize)
        self.clock = clock
    }

    public func setChildPID(_ pid: Int32) { childPID.store(pid, ordering: .relaxed) }

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

    /// The spelling `resource` is served under for `app` (the allow-list's own, else the canonical one), or a refusal.
    public func resolve(_ resource: String, for app: App) throws(Refusal) -> String {
        let canonical = Resource.canonical(resource)
        let map: [String: String]
        switch allowed {
        case .any: return canonical
        case .list(let m): map = m
        case .storedScope(let byApp): map = byApp[app.name] ?? [:]
        }
        if let spelling = map[canonical] { return spelling }
        throw Refusal(kind: .forbidden, code: "invalid_resource",
                      message: "resource \(resource.prefix(200)) is not allowed here (allowed: \(map.values.sorted().joined(separator: ", ")))")
    }

    static func scope(for resource: String) -> String {
        resource.hasSuffix("/") ? resource + ".default" : resource + "/.default"
    }

    /// A token from memory with more than 5 minutes left, or nil; a resource refused in the last `failureMemory`
    /// seconds throws its refusal again. `resource` is what `resolve` returned. Audited (hits aggregated).
    public func cached(app: App, resource: String, now: Int64, peer: Peer?) throws(Refusal) -> Served? {
        let key = Key(app: app.name, resource: resource)
        let found = state.withLock { s -> Result<Entry?, Refusal> in
            // A token in memory first: a renewal that failed must not hide one that is still good.
            guard var e = s.entries[key], e.expiresOn - now > Self.reuseMargin else {
                if let f = s.failures[key] {
                    if f.until > now { return .failure(f.refusal) }
                    s.failures[key] = nil
                }
                return .success(nil)
            }
            s.tick &+= 1
            e.lastUsed = s.tick
            s.entries[key] = e
            return .success(e)
        }
        guard let hit = try found.get() else { return nil }
        noteHit(key, clientID: hit.clientID, now: now, peer: peer)
        metrics?.tokenServed(app: app.name, resource: resource, source: .cache)
        return Served(token: ArenaSecret(arena: arena, handle: hit.handle), expiresOn: hit.expiresOn, clientID: hit.clientID, app: app.name, resource: resource)
    }

    /// A token through the encrypted cache (fetching it from Entra ID if needed, one process at a time). Blocks.
    /// `resource` is what `resolve` returned.
    public func fetch(app: App, resource: String, peer: Peer?) throws(Refusal) -> Served {
        let key = Key(app: app.name, resource: resource)
        let now = clock()
        if let remembered = state.withLock({ $0.failures[key] }), remembered.until > now { throw remembered.refusal }
        let scope = Self.scope(for: resource)
        do {
            try TokenService.validateScope(scope)
        } catch {
            throw Refusal(kind: .badRequest, code: "invalid_resource", message: "resource \(resource.prefix(200)) does not make a valid scope")
        }
        var service = tokens
        service.recordsHandouts = false  // the handout is recorded below, with its peer
        let started = ContinuousClock.now
        let renewal = peer?.address == "renewal"
        func seconds() -> Double {
            let d = started.duration(to: .now)
            return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
        }
        do {
            let result = try use(app.name, service) { try $0.token(app: app.name, scope: scope) }
            if let metrics {
                if result.source == .identityProvider { metrics.entraRequest(app: app.name, seconds: seconds(), failed: false, errorText: nil, at: clock()) }
                if !renewal { metrics.tokenServed(app: app.name, resource: resource, source: result.source == .cache ? .cache : .fetch) }
            }
            var raw = Array(result.token.secret.utf8)
            let token = SecretBytes(consuming: &raw)
            let clientID = result.token.clientID.lowercased()
            keep(key, token: token, expiresOn: result.token.expiresOn, clientID: clientID)
            record(app: app, resource: resource, source: result.source, correlationID: result.token.correlationID, outcome: "ok", peer: peer)
            return Served(token: token, expiresOn: result.token.expiresOn, clientID: clientID, app: app.name, resource: resource)
        } catch let e as VaultError {
            // Refusals that never reached Entra ID (a pending rotation, a locked vault) are not Entra errors.
            if e.code.isIn("entra") || e.code.isIn("http") || e.context["aadsts"] != nil {
                metrics?.entraRequest(app: app.name, seconds: seconds(), failed: true,
                                      errorText: e.context["aadsts"].map { "AADSTS" + $0 } ?? e.reason, at: clock())
            }
            record(app: app, resource: resource, source: nil, correlationID: nil, outcome: e.code.rawValue, peer: peer)
            let said = words(e)
            let refusal = Refusal(kind: said.temporary ? .unavailable : .badRequest,
                                  code: e.code.isIn("entra") ? "invalid_request" : "temporarily_unavailable",
                                  message: said.message)
            remember(key, refusal, now: now)
            throw refusal
        } catch {
            throw Refusal(kind: .unavailable, code: "temporarily_unavailable", message: "\(error)")
        }
    }

    /// Keeps a fetched token in the arena: a free slot, else the expired or least recently used entry's.
    func keep(_ key: Key, token: SecretBytes, expiresOn: Int64, clientID: String) {
        let now = clock()
        state.withLock { s in
            if let old = s.entries.removeValue(forKey: key) { arena.free(old.handle) }
            var handle = token.withUnsafeBytes { arena.store($0) }
            // Expired entries go first, then the least recently used.
            func rank(_ e: Entry) -> (Int, UInt64) { (e.expiresOn > now ? 1 : 0, e.lastUsed) }
            if handle == nil, token.count <= arena.slotSize, let victim = s.entries.min(by: { rank($0.value) < rank($1.value) }) {
                arena.free(victim.value.handle)
                s.entries[victim.key] = nil
                handle = token.withUnsafeBytes { arena.store($0) }
            }
            guard let handle else { return }
            s.tick &+= 1
            s.entries[key] = Entry(handle: handle, expiresOn: expiresOn, clientID: clientID, lastUsed: s.tick)
        }
    }

    /// A refused resource is answered from memory for a while; only what Entra ID or the request decided is kept
    /// (not an outage, which the next request should retry), and at most `maxFailures` of them.
    func remember(_ key: Key, _ refusal: Refusal, now: Int64) {
        guard refusal.kind == .badRequest else { return }
        state.withLock { s in
            if s.failures.count >= Self.maxFailures {
                s.failures = s.failures.filter { $0.value.until > now }
                if s.failures.count >= Self.maxFailures, let oldest = s.failures.min(by: { $0.value.until < $1.value.until }) {
                    s.failures[oldest.key] = nil
                }
            }
            s.failures[key] = Failure(until: now + Self.failureMemory, refusal: refusal)
        }
    }

    /// Tokens held in memory now.
    public var tokensInMemory: Int { state.withLock { $0.entries.count } }

    /// Fetches again every cached token within `margin` seconds of being refused by the 5-minute rule, so a
    /// long-running server renews before clients notice. Returns how many were renewed.
    @discardableResult
    public func renewExpiring(now: Int64, margin: Int64 = 60) -> Int {
        let due = state.withLock { s in s.entries.filter { $0.value.expiresOn - now <= Self.reuseMargin + margin && $0.value.expiresOn > now } }
        var renewed = 0
        for (key, entry) in due {
            guard let app = apps.first(where: { $0.name == key.app }) else { continue }
            if let fresh = try? fetch(app: app, resource: key.resource, peer: Peer(address: "renewal")), fresh.expiresOn != entry.expiresOn { renewed += 1 }
        }
        return renewed
    }

    /// A memory hit: the first of a window is its own line; later ones are counted and written by `flushAudit`.
    func noteHit(_ key: Key, clientID: String, now: Int64, peer: Peer?) {
        let hitKey = HitKey(key, peer)
        let write = state.withLock { s -> Bool in
            if var h = s.hits[hitKey] {
                h.count += 1
                h.peer = peer
                s.hits[hitKey] = h
                return false
            }
            s.hits[hitKey] = Hits(first: now, count: 0, peer: peer)
            return true
        }
        if write, let app = apps.first(where: { $0.name == key.app }) {
            record(app: app, resource: key.resource, source: .cache, correlationID: nil, outcome: "ok", peer: peer)
        }
        flushAudit(now: now)
    }

    /// Writes the counted memory hits of windows that ended (all of them with `all`): one line each, with `count`.
    public func flushAudit(now: Int64, all: Bool = false) {
        let due = state.withLock { s -> [(Key, Hits)] in
            let ended = s.hits.filter { all || now - $0.value.first >= Self.auditWindow }
            for (k, _) in ended { s.hits[k] = nil }
            return ended.filter { $0.value.count > 0 }.map { ($0.key.key, $0.value) }
        }
        for (key, hits) in due {
            guard let app = apps.first(where: { $0.name == key.app }) else { continue }
            record(app: app, resource: key.resource, source: .cache, correlationID: nil, outcome: "ok", peer: hits.peer, count: hits.count)
        }
    }

    func record(app: App, resource: String, source: TokenResult.Source?, correlationID: String?, outcome: String, peer: Peer?, count: Int? = nil) {
        let child = childPID.load(ordering: .relaxed)
        tokens.recordHandout(app: app.name, clientID: app.clientID, resource: resource, source: source, correlationID: correlationID, outcome: outcome,
                             requester: AuditRequester(command: command, childPID: child == 0 ? nil : child, peer: peer?.address, peerUID: peer?.uid,
                                                        peerPID: peer?.pid, peerCommand: peer?.command),
                             count: count)
    }
}
