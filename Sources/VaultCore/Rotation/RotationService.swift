import EntraAuth
import FoundationEssentials
import Synchronization
import Graph
import VaultErrors
import VaultPKI
import VaultCrypto
import VaultRotation
import VaultTokens
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// Use case: rotate an app's credential (its client secret, its certificate, or a move from one to the other) through
/// Graph without ever losing a working credential (docs/protocols.md, "Graph: credential propagation" and
/// "Graph: addKey and removeKey"). This is the front of the one `RotationMachine`: it takes the app's lock, checks what
/// only a new rotation needs (the permission, the current credential), fills in the first journal, and picks the
/// machine's two seams: the credential kind and the home.
///
/// Concurrency: every entry point that may change the journal holds the app's `RotationLock`, taken without waiting
/// (a second rotator is refused, a token command carries on with the stored secret). Journal writes are
/// compare-and-swap on the journal id inside `vault.update`, so even a writer without the lock cannot overwrite a
/// rotation it did not start.
public struct RotationService: Sendable {
    public let tokens: TokenService
    public var propagationTimeout: Double = 120
    public var pollInterval: Double = 2
    /// How long after a write Graph's reads may still not show it (docs/protocols.md, "Graph: credential propagation":
    /// reads are eventually consistent). A removal of a password that young counts only once a read no longer shows it
    /// *and* this window has passed since it was created.
    public var lagWindow: Double = RotationService.defaultLagWindow
    public static let defaultLagWindow: Double = LagPolicy.defaultSeconds
    /// Set when the user chose the window for this run: it then wins over the one a journal recorded.
    public var lagWindowIsExplicit = false

    var lag: LagPolicy { LagPolicy(seconds: lagWindow, isExplicit: lagWindowIsExplicit) }
    var sleeper: any Sleeper
    /// Seconds a fleet rotation's lock holds without being renewed (the holder renews it at every step and during
    /// waits); nil: the default, `FleetRotationHome.defaultLockTTL`.
    public var fleetLockTTL: Double?
    /// Told before a long wait for Graph (the command prints it).
    public var waiting: (@Sendable (String) -> Void)?
    /// Called after each step with its name: a test hook (the CLI kills itself there when asked to).
    let checkpoint: @Sendable (String) -> Void

    /// The app whose rotation lock this service holds, for the audit line of each step.
    let rotating = RotatingApp()

    public init(tokens: TokenService, sleeper: any Sleeper = ThreadSleeper(), checkpoint: @escaping @Sendable (String) -> Void = { _ in }) {
        self.tokens = tokens
        self.sleeper = sleeper
        let rotating = self.rotating
        // Each named step is one `rotation.step` audit line, then the test hook.
        self.checkpoint = { [tokens] step in
            if let audit = tokens.audit, let app = rotating.name.withLock({ $0 }) {
                audit.record(AuditEvent(time: tokens.now(), kind: .rotationStep, app: app, clientID: nil, resource: nil,
                                        requester: tokens.requester, outcome: "ok", step: step))
            }
            checkpoint(step)
        }
    }

    var vault: Vault { tokens.vault }
    var unlock: Credential { tokens.unlock }

    public static let writeRoles: Set<String> = ["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"]

    // MARK: locking

    func lock(_ app: String) throws -> RotationLock {
        guard let lock = try RotationLock.acquire(vault.directory, app: app, wait: false) else {
            throw VaultError("rotation.busy", "another vault process is rotating the secret of '\(app)' right now", context: ["app": app])
        }
        rotating.name.withLock { $0 = app }
        return lock
    }

    // MARK: the home of the secret

    /// Where `app`'s secret and rotation journal live: its fleet backend, or this vault.
    func home(for app: String) throws -> any RotationHome {
        let unlocked = try vault.open(unlock)
        guard let stored = try unlocked.contents.app(named: app) else { throw VaultError.unknownApp(app) }
        guard stored.metadata.backend != nil else { return LocalRotationHome(vault: vault, unlock: unlock, app: app, master: unlocked.master) }
        return try FleetRotationHome(vault: vault, unlock: unlock, unlocked: unlocked, app: stored.metadata,
                                     ttl: fleetLockTTL ?? FleetRotationHome.defaultLockTTL, checkpoint: checkpoint)
    }

    /// A federated app holds no secret or key to rotate (its pending move, if any, is still resumed through `home`).
    func refuseFederated(_ app: String) throws {
        if let source = try vault.open(unlock).contents.app(named: app)?.metadata.federated {
            throw VaultError("rotation.federated", "app '\(app)' proves itself with an external token (\(source)): it holds no secret or key for vault to rotate", context: ["app": app])
        }
    }

    // MARK: the machine

    /// The machine for `app`'s rotation of `kind` in `home`, wired to Graph and Entra ID with the app's stored
    /// credential (read again at each use: the old one before the commit, the new one after it).
    func machine(app: String, kind: RotationJournal.Kind, home: any RotationHome, session: AppSession) -> RotationMachine {
        let tokens = self.tokens
        let clientID = session.metadata.clientID
        let applications: @Sendable () throws -> any ApplicationCredentials = {
            GraphApplicationCredentials(apps: Applications(client: try GraphService(tokenService: tokens, app: app).client), appID: clientID)
        }
        // Every wait, the kinds' too (a removal confirmed over Graph's lag window), keeps the home's claim alive: a
        // fleet rotation renews its lock while it waits.
        let clock = RotationClock(now: { Date() }, sleeper: sleeper)
        let kindClock = RotationClock(now: clock.now, sleeper: HomeSleeper(inner: sleeper, home: home))
        let credential: any CredentialKind
        switch kind {
        case .password:
            credential = PasswordKind(applications: applications, lag: lag, clock: kindClock)
        case .certificate:
            var algorithm = JOSE.Algorithm.ps256
            var sendX5C = false
            if case .certificate(let stored) = session.identity.credential {
                algorithm = stored.algorithm
                sendX5C = stored.sendX5C
            }
            var k = CertificateKind(applications: applications, storedCertificate: {
                guard case .certificate(let stored) = try tokens.session(app: app).identity.credential else { return nil }
                return try stored.credential()
            }, algorithm: algorithm, sendX5C: sendX5C, lag: lag, clock: kindClock)
            k.pollInterval = pollInterval
            credential = k
        case .federated:
            var k = FederatedKind(applications: applications, lag: lag, clock: kindClock)
            k.pollInterval = pollInterval
            credential = k
        }
        let checkpoint = self.checkpoint
        var m = RotationMachine(kind: credential, home: home, prover: EntraCredentialProver(tokens: tokens, session: session), clock: clock,
                                lag: lag, checkpoint: { checkpoint($0) },
                                committed: { app in _ = try? CacheService(vault: tokens.vault, unlock: tokens.unlock).clear(app: app) })
        m.propagationTimeout = propagationTimeout
        m.pollInterval = pollInterval
        m.waiting = waiting
        return m
    }

    // MARK: a new rotation

    /// Rotates the app's client secret: addPassword, proven, committed, the old password removed.
    public func rotate(app: String, lifetime: TimeInterval, displayName: String?, keepOld: Bool) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        try refuseFederated(app)
        let home = try self.home(for: app)
        if let (j, _) = try home.pending() { throw home.refuseToStart(over: j) }
        let session = try tokens.session(app: app)
        let stored = try home.current()
        guard let oldSecret = stored.secret else {
            throw VaultError("rotation.no_secret", "app '\(app)' holds no client secret to rotate (it uses a certificate)", context: ["app": app])
        }
        let graph = try self.graph(session)
        // Read the app's passwords with the current secret; refuse before any change without the permission.
        try requireWriteRole(graph, app: app, doing: "rotate its own secret")
        let before = try Applications(client: graph.client).passwords(appID: session.metadata.clientID)
        let now = Date()
        let oldKeyID = Self.identify(stored.metadata, in: before, lagWindow: lagWindow, now: now)
        checkpoint("after-read")

        let id = UUID().uuidString.lowercased()
        // A display name no other rotation uses: orphans of this one are found by it exactly.
        let name = displayName.map { "\($0) (vault \(id.prefix(8)))" } ?? Self.displayName(id: id, at: now)
        var journal = RotationJournal(kind: .password, id: id, app: app, step: .adding, started: now, displayName: name)
        journal.keyIDsBefore = before.map(\.keyID)
        journal.oldKeyID = oldKeyID
        journal.newEnd = now.addingTimeInterval(lifetime)
        journal.keepOld = keepOld
        journal.clientID = session.metadata.clientID
        journal.tenant = session.metadata.tenant
        journal.oldFingerprint = try home.fingerprint(oldSecret, journal: journal)
        journal.lagWindow = lagWindow
        journal.oldCreated = oldKeyID == stored.metadata.secretKeyID ? stored.metadata.rotated : before.first { $0.keyID == oldKeyID }?.startDate
        journal.backendVersion = stored.metadata.backendVersion
        var report = try machine(app: app, kind: .password, home: home, session: session).run(journal, prepared: nil)
        if oldKeyID == nil {
            report.notes.append("the stored secret's keyId could not be identified on the app, so no old password was removed")
        }
        return report
    }

    /// Refuses before any change when the app's token (its current credential's) cannot write its own credentials.
    func requireWriteRole(_ graph: GraphService, app: String, doing what: String) throws {
        let token = try graph.tokens.accessToken(rejecting: nil)
        let roles = Set(TokenClaims.payload(of: token)?["roles"].flatMap { v -> [String]? in
            if case .array(let a) = v { return a.compactMap(\.string) } else { return nil }
        } ?? [])
        guard !roles.isDisjoint(with: Self.writeRoles) else {
            throw VaultError("rotation.permission", "app '\(app)' cannot \(what): its token has neither Application.ReadWrite.OwnedBy nor Application.ReadWrite.All",
                             context: ["app": app, "permission": GraphPermission.ownCredentials.rawValue])
        }
    }

    static func displayName(id: String, at now: Date) -> String {
        "vault \(now.formatted(Date.ISO8601FormatStyle().year().month().day())) \(id.prefix(8))"
    }

    /// Rotates the app's certificate: a new key pair (same subject and size as the current one unless given), valid
    /// `validDays`, made in the vault; addKey with a proof signed by the current certificate; proven, committed, and
    /// the old key removed with a proof signed by the new one.
    public func rotateCertificate(app: String, validDays: Int?, keyBits: Int?) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        try refuseFederated(app)
        let home = localHome(app)
        if let (j, _) = try home.pending() { throw home.refuseToStart(over: j) }
        let session = try tokens.session(app: app)
        guard case .certificate(let stored) = session.identity.credential else {
            throw VaultError("rotation.no_certificate", "app '\(app)' does not use a certificate, so there is none to rotate",
                             context: ["app": app, "has_certificate": session.metadata.certificate == nil ? "no" : "yes"])
        }
        let current = try stored.credential()
        guard current.certificate.notAfter > Date() else {
            throw VaultError("cert.expired", "the certificate of '\(app)' has expired; addKey needs a proof signed by a current certificate", context: ["case": "rotation", "app": app])
        }
        let (keys, objectID) = try Applications(client: try graph(session).client).keysAndObjectID(appID: session.metadata.clientID)
        guard let old = keys.first(where: { $0.thumbprint == current.certificate.sha1Hex }) else {
            throw VaultError("rotation.unregistered", "the app registration holds no certificate with the stored thumbprint \(current.certificate.sha1Hex), so Graph would refuse its proof", context: ["app": app])
        }
        checkpoint("after-read")
        let days = validDays ?? max(1, min(3650, Int((current.certificate.notAfter.timeIntervalSince(current.certificate.notBefore) / 86_400).rounded())))
        let bits = keyBits ?? (CertificateGeneration.allowedKeyBits.contains(current.certificate.keyBits) ? current.certificate.keyBits : 3072)
        let next = try CertificateGeneration.generate(subject: Self.subject(current.certificate.subject, app: app), validDays: days, keyBits: bits)
        var journal = certificateJournal(app: app, session: session, objectID: objectID, next: next, before: keys)
        journal.oldKeyID = old.keyID
        journal.oldThumbprint = current.certificate.sha1Hex
        return try machine(app: app, kind: .certificate, home: home, session: session).run(journal, prepared: next.privateKey)
    }

    /// Moves an app from its client secret to a certificate made in the vault. addKey needs a current certificate,
    /// which such an app lacks, so the certificate goes on with PATCH keyCredentials (the whole collection: read with
    /// each key, append, write, then check nothing else was lost); then it is proven, stored, and the old password
    /// removed. Needs Application.ReadWrite.OwnedBy (the app owning itself) or .All, like rotate-secret.
    public func moveToCertificate(app: String, validDays: Int?, keyBits: Int?, subject: String?) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        try refuseFederated(app)
        let session = try tokens.session(app: app)
        if let backend = session.metadata.backend {
            throw VaultError("rotation.fleet", "app '\(app)' keeps its secret in backend '\(backend)'; fleet backends hold client secrets only, so it cannot move to a certificate made in this vault", context: ["case": "certificate", "app": app])
        }
        let home = localHome(app)
        if let (j, _) = try home.pending() {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", context: ["app": app, "command": j.kind.command])
        }
        guard session.secret != nil, case .secret = session.identity.credential else {
            throw VaultError("rotation.no_secret", "app '\(app)' does not use a client secret, so there is nothing to move from", context: ["app": app])
        }
        let apps = Applications(client: try graph(session).client)
        let read = try apps.keyCredentialsForUpdate(appID: session.metadata.clientID)
        if let lost = zip(read.keys, read.raw).first(where: { !Applications.hasKey($0.1) }) {
            throw VaultError("rotation.patch_unsafe", "Graph did not return the certificate of key \(lost.0.keyID), so writing the key collection would drop it; nothing was changed", context: ["app": app])
        }
        let passwords = try apps.passwords(appID: session.metadata.clientID)
        let oldPassword = Self.identify(session.metadata, in: passwords, lagWindow: lagWindow, now: Date())
        checkpoint("after-read")
        let next = try CertificateGeneration.generate(subject: subject ?? "CN=\(app)", validDays: validDays ?? 365, keyBits: keyBits ?? 3072)
        var journal = certificateJournal(app: app, session: session, objectID: read.objectID, next: next, before: read.keys)
        journal.oldThumbprint = ""
        journal.fromSecret = true
        journal.oldPasswordKeyID = oldPassword
        var report = try machine(app: app, kind: .certificate, home: home, session: session).run(journal, prepared: next.privateKey)
        if oldPassword == nil {
            report.notes.append("the stored secret's password could not be identified on the app, so it was kept (in the vault and on the app)")
        }
        return report
    }

    func certificateJournal(app: String, session: AppSession, objectID: String, next: CertificateCredential, before: [KeyCredential]) -> RotationJournal {
        let id = UUID().uuidString.lowercased()
        let now = Date()
        var j = RotationJournal(kind: .certificate, id: id, app: app, step: .adding, started: now, displayName: Self.displayName(id: id, at: now))
        j.clientID = session.metadata.clientID
        j.tenant = session.metadata.tenant
        j.objectID = objectID
        j.keyIDsBefore = before.map(\.keyID)
        j.newThumbprint = next.certificate.sha1Hex
        j.newCertificate = Data(next.certificate.der).base64EncodedString()
        j.newEnd = next.certificate.notAfter
        j.lagWindow = lagWindow
        return j
    }

    /// The current certificate's subject, in the form `--subject` takes when vault can rewrite it; else CN=APP.
    static func subject(_ description: String, app: String) -> String {
        let parts = description.split(separator: ",").map { $0.trimmingPrefix(" ") }
        let usable = parts.allSatisfy { p in ["CN=", "O=", "OU=", "C=", "ST=", "L="].contains { p.hasPrefix($0) } }
        return usable && !parts.isEmpty ? parts.joined(separator: ", ") : "CN=\(app)"
    }

    // MARK: pending rotations

    /// Finishes or rolls back a pending rotation of any kind (waiting out Graph's lag where needed); nil when there is
    /// none.
    public func resume(app: String) throws -> RotationReport? {
        let held = try lock(app)
        defer { held.release() }
        return try settle(app: app, patience: .waitForLag)
    }

    /// Drops a pending rotation's journal without touching Entra ID (for a journal that cannot be finished). Returns
    /// the journal, so the caller can name a credential it may have left on the app.
    public func abandon(app: String) throws -> RotationJournal? {
        let held = try lock(app)
        defer { held.release() }
        guard (try vault.open(unlock).contents.app(named: app)) != nil else {
            // A journal left without its app is still dropped from this vault.
            return try localHome(app).abandon()
        }
        return try home(for: app).abandon()
    }

    /// The pending rotation of `app` in its home (a fleet app's is read from the backend), or nil.
    public func pending(app: String) -> (RotationJournal, SecretBytes?)? {
        guard let home = try? home(for: app) else { return localHome(app).pendingOrNil }
        guard let found = try? home.pending() else { return nil }
        return (found.journal, found.newSecret)
    }

    /// With the lock held: the journal, checked against the stored app, finished or rolled back.
    func settle(app: String, patience: RotationMachine.Patience) throws -> RotationReport? {
        guard (try vault.open(unlock).contents.app(named: app)) != nil else {
            guard let (j, _) = localHome(app).pendingOrNil else { return nil }
            throw VaultError("rotation.stale", "a rotation journal of '\(app)' is left, but no such app is stored", context: ["app": app, "command": j.kind.command])
        }
        let home = try self.home(for: app)
        guard let (journal, _) = try home.pending() else { return nil }
        let session = try tokens.session(app: app)
        return try machine(app: app, kind: journal.kind, home: home, session: session).settle(patience: patience)
    }

    func localHome(_ app: String) -> LocalRotationHome { LocalRotationHome(vault: vault, unlock: unlock, app: app) }

    /// Graph with the app's currently stored credential (tokens through the cache).
    func graph(_ session: AppSession) throws -> GraphService {
        try GraphService(tokenService: tokens, app: session.metadata.name)
    }
}

/// Proves a new credential against Entra ID and Graph for the app of `session`.
struct EntraCredentialProver: CredentialProver {
    let tokens: TokenService
    let session: AppSession

    func token(with credential: AppCredential) throws -> String {
        var identity = session.identity
        identity.credential = credential
        if case .federated(let source) = credential {
            // The external token as a fetch reads it: now, from its source, for this one request.
            let backends = BackendService(vault: tokens.vault, unlock: tokens.unlock)
            identity.credential = .assertion(try ExternalTokenSources.stored(source, backends: backends).read(now: Date()))
        }
        return try tokens.clientCredentials().acquire(identity, scope: try session.defaultScope()).secret
    }

    func graphCall(with token: String) throws {
        let client = GraphClient(root: session.graphRoot, transport: tokens.transport, tokens: FixedToken(token), userAgent: GraphService.userAgent)
        _ = try client.send("GET", "/v1.0/applications(appId='\(session.metadata.clientID)')?$select=id")
    }
}

/// A token source that always hands out the same token (the one just proven).
struct FixedToken: AccessTokenSource {
    let token: String
    init(_ t: String) { token = t }
    func accessToken(rejecting: String?) throws -> String { token }
}

/// The app a `RotationService` holds the rotation lock of (set when the lock is taken).
final class RotatingApp: Sendable {
    let name = Mutex<String?>(nil)
}
