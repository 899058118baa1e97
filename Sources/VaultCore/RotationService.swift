import EntraAuth
import FoundationEssentials
import Synchronization
import Graph
import VaultCrypto
import VaultHTTP
import VaultStore

/// What a rotation (or its recovery) did.
public struct RotationReport: Sendable {
    public var app: String
    public var newKeyID: String?
    public var newHint: String?
    public var newEnd: Date?
    public var removedKeyID: String?
    public var keptOld = false
    public var rolledBack = false
    /// The journal is still there (a removal not yet confirmed over the lag window): a later command finishes it.
    public var unfinished = false
    public var notes: [String] = []
}

/// Use case: rotate an app's client secret through Graph without ever losing a working credential
/// (graph-api.md §5.5). Every step is journaled; `resume` finishes or rolls back an interrupted rotation.
///
/// Concurrency: every entry point that may change the journal holds the app's `RotationLock`, taken without waiting
/// (a second rotator is refused, a token command carries on with the stored secret). Journal writes are
/// compare-and-swap on the journal id inside `vault.update`, so even a writer without the lock cannot overwrite a
/// rotation it did not start.
public struct RotationService: Sendable {
    public let tokens: TokenService
    public var propagationTimeout: Double = 120
    public var pollInterval: Double = 2
    /// How long after a write Graph's reads may still not show it (graph-api.md §5.5: reads are eventually
    /// consistent). A removal of a password that young counts only once a read no longer shows it *and* this window
    /// has passed since it was created.
    public var lagWindow: Double = RotationService.defaultLagWindow
    public static let defaultLagWindow: Double = 180
    /// Set when the user chose the window for this run: it then wins over the one a journal recorded.
    public var lagWindowIsExplicit = false

    func window(_ j: RotationJournal) -> Double { lagWindowIsExplicit ? lagWindow : (j.lagWindow ?? lagWindow) }
    var sleeper: any Sleeper
    /// Seconds a fleet rotation's lock holds without being renewed (the holder renews it at every step and during
    /// waits); nil: the default, `FleetRotationHome.defaultLockTTL`.
    public var fleetLockTTL: Double?
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

    /// How long a command may wait for Graph: the rotate/resume commands wait out the lag window; a command that only
    /// settles a rotation on its way to a token never waits for it.
    enum Patience { case waitForLag, none }

    // MARK: locking

    func lock(_ app: String) throws -> RotationLock {
        guard let lock = try RotationLock.acquire(vault.directory, app: app, wait: false) else {
            throw VaultError("rotation.busy", "another vault process is rotating the secret of '\(app)' right now",
                             hint: "let it finish (`vault status \(app)` shows the pending rotation); nothing was changed", exit: .tempFailure)
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

    /// This service with its waits keeping `home`'s claim alive.
    func waiting(in home: any RotationHome) -> RotationService {
        var s = self
        s.sleeper = HomeSleeper(inner: sleeper, home: home)
        return s
    }

    // MARK: the rotation

    public func rotate(app: String, lifetime: TimeInterval, displayName: String?, keepOld: Bool) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        let home = try self.home(for: app)
        return try waiting(in: home).rotate(app: app, home: home, lifetime: lifetime, displayName: displayName, keepOld: keepOld)
    }

    func rotate(app: String, home: any RotationHome, lifetime: TimeInterval, displayName: String?, keepOld: Bool) throws -> RotationReport {
        if let (j, _) = try home.pending() { throw home.refuseToStart(over: j) }
        let session = try tokens.session(app: app)
        let stored = try home.current()
        guard let oldSecret = stored.secret else {
            throw VaultError("rotation.no_secret", "app '\(app)' holds no client secret to rotate (it uses a certificate)",
                             hint: "rotate its certificate with `vault rotate-cert \(app)`", exit: .usage)
        }
        let oldGraph = try graph(session)
        // 1. Read the app's passwords with the current secret; refuse before any change without the permission.
        let token = try oldGraph.tokens.accessToken(rejecting: nil)
        let roles = Set(TokenClaims.payload(of: token)?["roles"].flatMap { v -> [String]? in
            if case .array(let a) = v { return a.compactMap(\.string) } else { return nil }
        } ?? [])
        guard !roles.isDisjoint(with: Self.writeRoles) else {
            throw VaultError("rotation.permission", "app '\(app)' cannot rotate its own secret: its token has neither Application.ReadWrite.OwnedBy nor Application.ReadWrite.All",
                             hint: Applications.permissionHint, exit: .noPermission)
        }
        let apps = Applications(client: oldGraph.client)
        let before = try apps.passwords(appID: session.metadata.clientID)
        let now = Date()
        let oldKeyID = Self.identify(stored.metadata, in: before, lagWindow: lagWindow, now: now)
        checkpoint("after-read")

        let id = UUID().uuidString.lowercased()
        let day = now.formatted(Date.ISO8601FormatStyle().year().month().day())
        // A display name no other rotation uses: orphans of this one are found by it exactly.
        let name = displayName.map { "\($0) (vault \(id.prefix(8)))" } ?? "vault \(day) \(id.prefix(8))"
        var journal = RotationJournal(id: id, app: app, step: .adding, started: now, displayName: name,
                                      keyIDsBefore: before.map(\.keyID), oldKeyID: oldKeyID, newKeyID: nil, newHint: nil,
                                      newEnd: now.addingTimeInterval(lifetime), keepOld: keepOld)
        journal.clientID = session.metadata.clientID
        journal.tenant = session.metadata.tenant
        journal.oldFingerprint = try home.fingerprint(oldSecret, journal: journal)
        journal.lagWindow = lagWindow
        journal.oldCreated = oldKeyID == stored.metadata.secretKeyID ? stored.metadata.rotated
            : before.first { $0.keyID == oldKeyID }?.startDate
        journal.backendVersion = stored.metadata.backendVersion
        try home.begin(journal)
        checkpoint("after-journal")

        // 2. addPassword, never retried: the secret goes straight into secret memory.
        let added: AddedPassword
        do {
            added = try apps.addPassword(appID: session.metadata.clientID, displayName: journal.displayName, end: journal.newEnd)
        } catch let error as VaultError {
            if Self.nothingCreated(error) {
                try home.drop(journal)
                throw error
            }
            // The request may have created a password we never saw: find it by the journaled name, and remove it.
            let report = try rollBack(journal, home: home, session: session, patience: .waitForLag)
            throw VaultError(error.code, error.reason + (report.unfinished
                ? "; a password it may have created is not confirmed removed yet (vault finishes that later)"
                : "; any password it created was removed"), hint: error.hint, exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
        }
        checkpoint("after-add")
        let keyID = added.credential.keyID
        guard Applications.isKeyID(keyID), keyID != oldKeyID, !journal.keyIDsBefore.contains(keyID) else {
            _ = try rollBack(journal, home: home, session: session, patience: .waitForLag)
            throw VaultError("graph.response", "addPassword answered with keyId '\(keyID)', which is not a new password's id; the rotation was rolled back",
                             hint: "a proxy or server is answering for Graph; check --graph and the CA bundle", exit: .dataError)
        }

        // 3. Journal the new secret before anything else can fail.
        journal.step = .added
        journal.newKeyID = keyID
        journal.newHint = added.credential.hint ?? added.secret.prefixString(3)
        journal.newFingerprint = try home.fingerprint(added.secret, journal: journal)
        try home.write(journal, newSecret: added.secret)
        checkpoint("after-journal-added")

        var report = try advance(journal, home: home, newSecret: added.secret, session: session, patience: .waitForLag)
        if oldKeyID == nil {
            report.notes.append("the stored secret's keyId could not be identified on the app, so no old password was removed")
        }
        return report
    }

    /// Graph answers that prove the request was refused before anything was created.
    static func nothingCreated(_ e: VaultError) -> Bool {
        ["graph.forbidden", "graph.unauthorized", "graph.bad_request", "graph.not_found", "graph.foreign_link",
         "graph.credential_lifetime_policy", "graph.object_too_large", "graph.unsupported_query", "graph.not_implemented"].contains(e.code)
            || (e.code == "graph.unavailable" && e.reason.contains(" 429 "))
    }

    /// Finishes or rolls back a pending rotation (waiting out Graph's lag where needed); nil when there is none.
    public func resume(app: String) throws -> RotationReport? {
        let held = try lock(app)
        defer { held.release() }
        return try settle(app: app, patience: .waitForLag)
    }

    /// Drops a pending rotation's journal without touching Entra ID (for a journal that cannot be finished). Returns
    /// the journal, so the caller can name a password it may have left on the app.
    public func abandon(app: String) throws -> RotationJournal? {
        let held = try lock(app)
        defer { held.release() }
        guard (try vault.open(unlock).contents.app(named: app)) != nil else {
            // A journal left without its app is still dropped from this vault.
            return try LocalRotationHome(vault: vault, unlock: unlock, app: app).abandon()
        }
        return try home(for: app).abandon()
    }

    /// The pending rotation of `app` in its home (a fleet app's is read from the backend), or nil.
    public func pending(app: String) -> (RotationJournal, SecretBytes?)? {
        guard let home = try? home(for: app) else { return LocalRotationHome(vault: vault, unlock: unlock, app: app).pendingOrNil }
        guard let found = try? home.pending() else { return nil }
        return (found.journal, found.newSecret)
    }

    /// With the lock held: the journal, checked against the stored app, finished or rolled back.
    func settle(app: String, patience: Patience) throws -> RotationReport? {
        guard (try vault.open(unlock).contents.app(named: app)) != nil else {
            if LocalRotationHome(vault: vault, unlock: unlock, app: app).pendingOrNil == nil { return nil }
            throw VaultError("rotation.stale", "a rotation journal of '\(app)' is left, but no such app is stored",
                             hint: "drop it with `vault rotate-secret \(app) --abandon`", exit: .dataError)
        }
        let home = try self.home(for: app)
        return try waiting(in: home).settle(app: app, home: home, patience: patience)
    }

    func settle(app: String, home: any RotationHome, patience: Patience) throws -> RotationReport? {
        guard let (journal, secret) = try home.pending() else { return nil }
        let stored = try home.current()
        if let why = try journal.mismatch(with: stored.metadata, current: stored.secret, fingerprint: { try home.fingerprint($0, journal: journal) }) {
            throw VaultError("rotation.stale", "the pending rotation of '\(app)' does not belong to the stored app: \(why); it was not finished",
                             hint: "drop it with `vault rotate-secret \(app) --abandon`" + (journal.newKeyID.map { ", then remove password \($0) from the app registration if it is still there" } ?? ""),
                             exit: .dataError)
        }
        try home.claim(journal, newSecret: secret)
        let session = try tokens.session(app: app)
        switch journal.step {
        case .adding, .removing:
            return try rollBack(journal, home: home, session: session, patience: patience)
        case .committed:
            return try advance(journal, home: home, newSecret: nil, session: session, patience: patience)
        case .added, .proven:
            guard let secret else {
                // A journal past `adding` always holds the new secret; without it, undo what the journal names.
                return try rollBack(journal, home: home, session: session, patience: patience)
            }
            return try advance(journal, home: home, newSecret: secret, session: session, patience: patience)
        }
    }

    /// Steps 4–7 from wherever the journal stands (`newSecret` is needed before the commit only).
    func advance(_ start: RotationJournal, home: any RotationHome, newSecret: SecretBytes?, session: AppSession, patience: Patience) throws -> RotationReport {
        var j = start
        let clientID = session.metadata.clientID
        if j.step == .added || j.step == .proven, newSecret == nil {
            throw VaultError("rotation.journal", "the rotation journal of '\(j.app)' lacks the new secret", exit: .dataError)
        }
        var report = RotationReport(app: j.app, newKeyID: j.newKeyID, newHint: j.newHint, newEnd: j.newEnd)
        if j.step == .added, let newSecret {
            // 4. Prove the new secret: a token (through Entra's propagation delay) and one Graph call.
            do {
                try prove(newSecret, session: session)
            } catch let error as VaultError {
                let undo = try rollBack(j, home: home, session: session, patience: patience)
                throw VaultError("rotation.unproven", "the new secret did not work (\(error.reason)); " + (undo.unfinished
                    ? "it is being removed (not confirmed yet) and the old one kept" : "it was removed and the old one kept"),
                                 hint: "check the app's sign-in and Graph permissions, then try again", exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
            }
            j.step = .proven
            try home.write(j, newSecret: newSecret)
            checkpoint("after-prove")
        }
        if j.step == .proven, let newSecret {
            // 5. Commit: the new secret becomes the app's secret in its home (the old one is kept until step 6 where
            // the home can keep it); the journal says `committed`.
            let siblings = try home.commit(j, newSecret: newSecret)
            j.step = .committed
            for name in siblings { report.notes.append("also stored the new secret for '\(name)', the same app registration") }
            // Tokens obtained with the old secret go.
            _ = try? CacheService(vault: vault, unlock: unlock).clear(app: j.app)
            checkpoint("after-commit")
        }
        // 6. Remove the old password only, with the new credentials.
        if let old = j.oldKeyID, !j.keepOld, old != j.newKeyID {
            let removal = GraphRemoval(apps: Applications(client: try graph(try tokens.session(app: j.app)).client), appID: clientID,
                                       lagWindow: window(j), sleeper: sleeper)
            guard try removal.remove(old, created: j.oldCreated, deadline: deadline(after: j.oldCreated, patience, window: window(j))) else {
                report.unfinished = true
                report.notes.append("the old password \(old) is not confirmed removed yet (Graph's reads lag its writes); vault finishes that on a later use of the app")
                return report
            }
            report.removedKeyID = old
            checkpoint("after-remove")
        }
        report.keptOld = j.keepOld
        // 7. Clear the journal (and a `previous` secret the home kept).
        try home.finish(j)
        checkpoint("after-clear")
        return report
    }

    /// Removes what a rotation added (the journaled new keyId, or passwords with its display name) with the current
    /// credentials, confirmed over the lag window; deletes the journal once that is certain. Without patience it
    /// makes one pass and leaves the journal (step `removing`) for a later command.
    func rollBack(_ start: RotationJournal, home: any RotationHome, session: AppSession, patience: Patience) throws -> RotationReport {
        var j = start
        if j.step != .removing {
            j.step = .removing
            try home.write(j, newSecret: nil)
        }
        let removal = GraphRemoval(apps: Applications(client: try graph(session).client), appID: session.metadata.clientID,
                                   lagWindow: window(j), sleeper: sleeper)
        var report = RotationReport(app: j.app)
        report.rolledBack = true
        if try removal.sweep(j, deadline: deadline(after: j.started, patience, window: window(j))) {
            try home.drop(j)
            report.notes.append("the interrupted rotation's new password (if it had created one) was removed")
        } else {
            report.unfinished = true
        }
        return report
    }

    func deadline(after created: Date?, _ patience: Patience, window: Double) -> Date {
        switch patience {
        case .none: return Date()
        case .waitForLag:
            let settled = (created ?? .distantPast).addingTimeInterval(window)
            return max(settled, Date()).addingTimeInterval(30)
        }
    }

    /// A token with the new secret straight from Entra ID (retrying `invalid_client` rejections while it propagates),
    /// then one Graph call with it.
    func prove(_ secret: SecretBytes, session: AppSession) throws {
        var identity = session.identity
        identity.credential = .secret(secret)
        try proveCredential(identity, session: session)
    }

    /// A token for `identity` (a new secret or certificate) straight from Entra ID, retrying rejections while the
    /// credential propagates, then one Graph call with it.
    func proveCredential(_ identity: AppIdentity, session: AppSession) throws {
        let flow = tokens.clientCredentials()
        let deadline = Date().addingTimeInterval(propagationTimeout)
        var token: AccessToken?
        while token == nil {
            do {
                token = try flow.acquire(identity, scope: try session.defaultScope())
            } catch let e as VaultError where EntraErrors.mayBePropagating(e) && Date() < deadline {
                sleeper.sleep(seconds: pollInterval)
            }
        }
        let client = GraphClient(root: session.graphRoot, transport: tokens.transport, tokens: FixedToken(token!.secret),
                                 userAgent: GraphService.userAgent)
        while true {
            do {
                _ = try client.send("GET", "/v1.0/applications(appId='\(session.metadata.clientID)')?$select=id")
                return
            } catch let e as VaultError where e.code == "graph.unauthorized" && Date() < deadline {
                sleeper.sleep(seconds: pollInterval)
            }
        }
    }

    /// Graph with the app's currently stored secret (tokens through the cache).
    func graph(_ session: AppSession) throws -> GraphService {
        try GraphService(tokenService: tokens, app: session.metadata.name)
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
