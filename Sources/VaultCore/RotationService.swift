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
    let sleeper: any Sleeper
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

    // MARK: the rotation

    public func rotate(app: String, lifetime: TimeInterval, displayName: String?, keepOld: Bool) throws -> RotationReport {
        let held = try lock(app)
        defer { held.release() }
        if pending(app: app) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", hint: "finish it first: vault rotate-secret \(app) --resume", exit: .tempFailure)
        }
        let session = try tokens.session(app: app)
        if let backend = session.metadata.backend {
            throw VaultError("rotation.fleet", "app '\(app)' keeps its secret in backend '\(backend)'; rotating it across the fleet is not built yet",
                             hint: "rotate it at Entra ID and write the new secret to the backend at \(session.metadata.backendPath ?? "TENANT/NAME") (key secret) with check-and-set; hosts read it on their next cache miss",
                             exit: .unavailable)
        }
        guard let oldSecret = session.secret else {
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
        let oldKeyID = Self.identify(session.metadata, in: before, lagWindow: lagWindow, now: now)
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
        journal.oldFingerprint = try KeyDerivation.fingerprint(of: oldSecret, master: session.vault.master)
        journal.lagWindow = lagWindow
        journal.oldCreated = oldKeyID == session.metadata.secretKeyID ? session.metadata.rotated
            : before.first { $0.keyID == oldKeyID }?.startDate
        try createJournal(journal)
        checkpoint("after-journal")

        // 2. addPassword, never retried: the secret goes straight into secret memory.
        let added: AddedPassword
        do {
            added = try apps.addPassword(appID: session.metadata.clientID, displayName: journal.displayName, end: journal.newEnd)
        } catch let error as VaultError {
            if Self.nothingCreated(error) {
                try deleteJournal(journal)
                throw error
            }
            // The request may have created a password we never saw: find it by the journaled name, and remove it.
            let report = try rollBack(journal, session: session, patience: .waitForLag)
            throw VaultError(error.code, error.reason + (report.unfinished
                ? "; a password it may have created is not confirmed removed yet (vault finishes that later)"
                : "; any password it created was removed"), hint: error.hint, exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
        }
        checkpoint("after-add")
        let keyID = added.credential.keyID
        guard Applications.isKeyID(keyID), keyID != oldKeyID, !journal.keyIDsBefore.contains(keyID) else {
            _ = try rollBack(journal, session: session, patience: .waitForLag)
            throw VaultError("graph.response", "addPassword answered with keyId '\(keyID)', which is not a new password's id; the rotation was rolled back",
                             hint: "a proxy or server is answering for Graph; check --graph and the CA bundle", exit: .dataError)
        }

        // 3. Journal the new secret before anything else can fail.
        journal.step = .added
        journal.newKeyID = keyID
        journal.newHint = added.credential.hint ?? added.secret.prefixString(3)
        journal.newFingerprint = try KeyDerivation.fingerprint(of: added.secret, master: session.vault.master)
        try writeJournal(journal, secret: added.secret)
        checkpoint("after-journal-added")

        var report = try advance(journal, newSecret: added.secret, session: session, patience: .waitForLag)
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
        return try vault.update(unlock) { v in
            guard let (j, _) = try RotationJournal.load(v.contents, app: app) else { return nil }
            v.contents.remove(kind: RotationJournal.kind, name: app)
            return j
        }
    }

    public func pending(app: String) -> (RotationJournal, SecretBytes?)? {
        guard let v = try? vault.open(unlock) else { return nil }
        return try? RotationJournal.load(v.contents, app: app)
    }

    /// With the lock held: the journal, checked against the stored app, finished or rolled back.
    func settle(app: String, patience: Patience) throws -> RotationReport? {
        let unlocked = try vault.open(unlock)
        guard let (journal, secret) = try RotationJournal.load(unlocked.contents, app: app) else { return nil }
        guard let stored = try unlocked.contents.app(named: app) else {
            throw VaultError("rotation.stale", "a rotation journal of '\(app)' is left, but no such app is stored",
                             hint: "drop it with `vault rotate-secret \(app) --abandon`", exit: .dataError)
        }
        if let why = try journal.mismatch(with: stored.metadata, current: stored.secret, master: unlocked.master) {
            throw VaultError("rotation.stale", "the pending rotation of '\(app)' does not belong to the stored app: \(why); it was not finished",
                             hint: "drop it with `vault rotate-secret \(app) --abandon`" + (journal.newKeyID.map { ", then remove password \($0) from the app registration if it is still there" } ?? ""),
                             exit: .dataError)
        }
        let session = try tokens.session(app: app)
        switch journal.step {
        case .adding, .removing:
            return try rollBack(journal, session: session, patience: patience)
        case .committed:
            return try advance(journal, newSecret: nil, session: session, patience: patience)
        case .added, .proven:
            guard let secret else {
                // A journal past `adding` always holds the new secret; without it, undo what the journal names.
                return try rollBack(journal, session: session, patience: patience)
            }
            return try advance(journal, newSecret: secret, session: session, patience: patience)
        }
    }

    /// Steps 4–7 from wherever the journal stands (`newSecret` is needed before the commit only).
    func advance(_ start: RotationJournal, newSecret: SecretBytes?, session: AppSession, patience: Patience) throws -> RotationReport {
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
                let undo = try rollBack(j, session: session, patience: patience)
                throw VaultError("rotation.unproven", "the new secret did not work (\(error.reason)); " + (undo.unfinished
                    ? "it is being removed (not confirmed yet) and the old one kept" : "it was removed and the old one kept"),
                                 hint: "check the app's sign-in and Graph permissions, then try again", exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
            }
            j.step = .proven
            try writeJournal(j, secret: newSecret)
            checkpoint("after-prove")
        }
        if j.step == .proven, let newSecret {
            // 5. Commit: the new secret becomes current, the old one is kept as `previous` until step 6. Every other
            // entry of the same app registration holding the same old secret (the app in another tenant) follows.
            let siblings: [String] = try vault.update(unlock) { v in
                try checkJournal(j, in: v.contents)
                guard let app = try v.contents.app(named: j.app) else {
                    throw VaultError("app.unknown", "app '\(j.app)' disappeared from the vault during its rotation", exit: .dataError)
                }
                if let why = try j.mismatch(with: app.metadata, current: app.secret, master: v.master) {
                    throw VaultError("rotation.stale", "the rotation of '\(j.app)' was not committed: \(why)", exit: .dataError)
                }
                let now = Date()
                func updated(_ m: AppMetadata) -> AppMetadata {
                    var meta = m
                    meta.secretKeyID = j.newKeyID
                    meta.secretHint = j.newHint ?? newSecret.prefixString(3)
                    meta.secretExpires = j.newEnd
                    meta.rotated = now
                    return meta
                }
                var meta = updated(app.metadata)
                meta.previousKeyID = j.oldKeyID
                try v.contents.putApp(meta, secret: newSecret, previous: app.secret)
                var names: [String] = []
                for other in try v.contents.apps where other.metadata.name != j.app && other.metadata.clientID.lowercased() == clientID.lowercased() {
                    guard let otherSecret = other.secret,
                          try KeyDerivation.fingerprint(of: otherSecret, master: v.master) == j.oldFingerprint else { continue }
                    try v.contents.putApp(updated(other.metadata), secret: newSecret)
                    names.append(other.metadata.name)
                }
                j.step = .committed
                v.contents.put(try j.record(newSecret: nil))
                return names
            }
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
        // 7. Clear the journal and the `previous` secret.
        try vault.update(unlock) { v in
            try checkJournal(j, in: v.contents)
            if var app = try v.contents.app(named: j.app) {
                if !j.keepOld { app.metadata.previousKeyID = nil }
                if !j.keepOld { app.previous = nil }
                try v.contents.putApp(app)
            }
            v.contents.remove(kind: RotationJournal.kind, name: j.app)
        }
        checkpoint("after-clear")
        return report
    }

    /// Removes what a rotation added (the journaled new keyId, or passwords with its display name) with the current
    /// credentials, confirmed over the lag window; deletes the journal once that is certain. Without patience it
    /// makes one pass and leaves the journal (step `removing`) for a later command.
    func rollBack(_ start: RotationJournal, session: AppSession, patience: Patience) throws -> RotationReport {
        var j = start
        if j.step != .removing {
            j.step = .removing
            try writeJournal(j, secret: nil)
        }
        let removal = GraphRemoval(apps: Applications(client: try graph(session).client), appID: session.metadata.clientID,
                                   lagWindow: window(j), sleeper: sleeper)
        var report = RotationReport(app: j.app)
        report.rolledBack = true
        if try removal.sweep(j, deadline: deadline(after: j.started, patience, window: window(j))) {
            try deleteJournal(j)
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
