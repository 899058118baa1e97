import EntraAuth
import FoundationEssentials
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
    public var notes: [String] = []
}

/// Use case: rotate an app's client secret through Graph without ever losing a working credential
/// (graph-api.md §5.5). Every step is journaled; `resume` finishes or rolls back an interrupted rotation.
public struct RotationService: Sendable {
    public let tokens: TokenService
    public var propagationTimeout: Double = 120
    public var pollInterval: Double = 2
    let sleeper: any Sleeper
    /// Called after each step with its name: a test hook (the CLI kills itself there when asked to).
    let checkpoint: @Sendable (String) -> Void

    public init(tokens: TokenService, sleeper: any Sleeper = ThreadSleeper(), checkpoint: @escaping @Sendable (String) -> Void = { _ in }) {
        self.tokens = tokens
        self.sleeper = sleeper
        self.checkpoint = checkpoint
    }

    var vault: Vault { tokens.vault }
    var unlock: Credential { tokens.unlock }

    public static let writeRoles: Set<String> = ["Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"]

    // MARK: the rotation

    public func rotate(app: String, lifetime: TimeInterval, displayName: String?, keepOld: Bool) throws -> RotationReport {
        if pending(app: app) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", hint: "finish it first: vault rotate-secret \(app) --resume", exit: .tempFailure)
        }
        let session = try tokens.session(app: app)
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
        let oldKeyID = Self.identify(session.metadata, in: before)
        checkpoint("after-read")

        let now = Date()
        let journal = RotationJournal(id: UUID().uuidString.lowercased(), app: app, step: .adding, started: now,
                                      displayName: displayName ?? "vault \(now.formatted(Date.ISO8601FormatStyle().year().month().day()))",
                                      keyIDsBefore: before.map(\.keyID), oldKeyID: oldKeyID, newKeyID: nil, newHint: nil,
                                      newEnd: now.addingTimeInterval(lifetime), keepOld: keepOld)
        try writeJournal(journal, secret: nil)
        checkpoint("after-journal")

        // 2. addPassword: the secret goes straight into secret memory.
        let added: AddedPassword
        do {
            added = try apps.addPassword(appID: session.metadata.clientID, displayName: journal.displayName, end: journal.newEnd)
        } catch {
            // Nothing was added (or Graph says so): forget the journal.
            try? rollBack(journal, session: session)
            throw error
        }
        checkpoint("after-add")

        // 3. Journal the new secret before anything else can fail.
        var j = journal
        j.step = .added
        j.newKeyID = added.credential.keyID
        j.newHint = added.credential.hint ?? added.secret.prefixString(3)
        try writeJournal(j, secret: added.secret)
        checkpoint("after-journal-added")

        var report = try advance(j, newSecret: added.secret, session: session)
        if oldKeyID == nil {
            report.notes.append("the stored secret's keyId could not be identified on the app, so no old password was removed")
        }
        return report
    }

    /// Finishes or rolls back a pending rotation; nil when there is none.
    public func resume(app: String) throws -> RotationReport? {
        guard let (journal, secret) = pending(app: app) else { return nil }
        let session = try tokens.session(app: app)
        switch journal.step {
        case .adding:
            try rollBack(journal, session: session)
            var r = RotationReport(app: app)
            r.rolledBack = true
            r.notes.append("the interrupted rotation had not journaled its new secret; any password it added was removed")
            return r
        case .committed:
            // The vault already holds the new secret; what is left is removing the old password.
            return try advance(journal, newSecret: nil, session: session)
        case .added, .proven:
            guard let secret else {
                // A journal past `adding` always holds the new secret; without it, undo what the journal names.
                try rollBack(journal, session: session)
                var r = RotationReport(app: app)
                r.rolledBack = true
                return r
            }
            return try advance(journal, newSecret: secret, session: session)
        }
    }

    public func pending(app: String) -> (RotationJournal, SecretBytes?)? {
        guard let v = try? vault.open(unlock) else { return nil }
        return RotationJournal.load(v.contents, app: app)
    }

    /// Steps 4–7 from wherever the journal stands (`newSecret` is needed before the commit only).
    func advance(_ start: RotationJournal, newSecret: SecretBytes?, session: AppSession) throws -> RotationReport {
        var j = start
        let clientID = session.metadata.clientID
        if j.step == .added || j.step == .proven, newSecret == nil {
            throw VaultError("rotation.journal", "the rotation journal of '\(j.app)' lacks the new secret", exit: .dataError)
        }
        if j.step == .added, let newSecret {
            // 4. Prove the new secret: a token (through Entra's propagation delay) and one Graph call.
            do {
                try prove(newSecret, session: session)
            } catch let error as VaultError {
                try rollBack(j, session: session)
                throw VaultError("rotation.unproven", "the new secret did not work (\(error.reason)); it was removed and the old one kept",
                                 hint: "check the app's sign-in and Graph permissions, then try again", exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
            }
            j.step = .proven
            try writeJournal(j, secret: newSecret)
            checkpoint("after-prove")
        }
        if j.step == .proven, let newSecret {
            // 5. Commit: the new secret becomes current, the old one is kept as `previous` until step 6.
            try vault.update(unlock) { v in
                guard let app = v.contents.app(named: j.app) else {
                    throw VaultError("app.unknown", "app '\(j.app)' disappeared from the vault during its rotation", exit: .dataError)
                }
                var meta = app.metadata
                meta.previousKeyID = j.oldKeyID
                meta.secretKeyID = j.newKeyID
                meta.secretHint = j.newHint ?? newSecret.prefixString(3)
                meta.secretExpires = j.newEnd
                meta.rotated = Date()
                try v.contents.putApp(meta, secret: newSecret, previous: app.secret)
                j.step = .committed
                v.contents.put(try j.record(newSecret: nil))
            }
            // Tokens obtained with the old secret go.
            _ = try? CacheService(vault: vault, unlock: unlock).clear(app: j.app)
            checkpoint("after-commit")
        }
        var report = RotationReport(app: j.app, newKeyID: j.newKeyID, newHint: j.newHint, newEnd: j.newEnd)
        // 6. Remove the old password only, with the new credentials (unknown keyId counts as done).
        if let old = j.oldKeyID, !j.keepOld, old != j.newKeyID {
            let newGraph = try graph(try tokens.session(app: j.app))
            try Applications(client: newGraph.client).removePassword(appID: clientID, keyID: old)
            report.removedKeyID = old
            checkpoint("after-remove")
        }
        report.keptOld = j.keepOld
        // 7. Clear the journal and the `previous` secret.
        try vault.update(unlock) { v in
            if let app = v.contents.app(named: j.app) {
                var meta = app.metadata
                if !j.keepOld { meta.previousKeyID = nil }
                try v.contents.putApp(meta, secret: app.secret, previous: j.keepOld ? app.previous : nil)
            }
            v.contents.remove(kind: RotationJournal.kind, name: j.app)
        }
        checkpoint("after-clear")
        return report
    }

    /// Removes what a rotation added (the journaled new keyId, or passwords it may have added before journaling
    /// their secret) with the current credentials, then deletes the journal.
    func rollBack(_ j: RotationJournal, session: AppSession) throws {
        let apps = Applications(client: try graph(session).client)
        var targets: [String] = j.newKeyID.map { [$0] } ?? []
        if j.newKeyID == nil {
            // Orphans: passwords absent before, with this rotation's display name, added after it started.
            let now = try apps.passwords(appID: session.metadata.clientID)
            targets = now.filter { c in
                !j.keyIDsBefore.contains(c.keyID) && c.displayName == j.displayName
                    && (c.startDate.map { $0 >= j.started.addingTimeInterval(-300) } ?? true)
            }.map(\.keyID)
        }
        for keyID in targets { try apps.removePassword(appID: session.metadata.clientID, keyID: keyID) }
        try vault.update(unlock) { v in v.contents.remove(kind: RotationJournal.kind, name: j.app) }
    }

    /// A token with the new secret straight from Entra ID (retrying 7000215 while the secret propagates),
    /// then one Graph call with it.
    func prove(_ secret: SecretBytes, session: AppSession) throws {
        var identity = session.identity
        identity.secret = secret
        let flow = ClientCredentials(transport: tokens.transport)
        let deadline = Date().addingTimeInterval(propagationTimeout)
        var token: AccessToken?
        while token == nil {
            do {
                token = try flow.acquire(identity, scope: session.defaultScope)
            } catch let e as VaultError where e.code == "entra.invalid_secret" && Date() < deadline {
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

    func writeJournal(_ j: RotationJournal, secret: SecretBytes?) throws {
        try vault.update(unlock) { v in v.contents.put(try j.record(newSecret: secret)) }
    }

    /// The keyId of the stored secret: the one recorded at the last rotation, else the only password with the
    /// stored hint, else the hint match whose start is closest to when the secret was added.
    static func identify(_ meta: AppMetadata, in creds: [PasswordCredential]) -> String? {
        if let k = meta.secretKeyID, creds.contains(where: { $0.keyID == k }) { return k }
        let matches = creds.filter { $0.hint == meta.secretHint }
        if matches.count == 1 { return matches[0].keyID }
        return matches.min { a, b in
            abs((a.startDate ?? .distantPast).timeIntervalSince(meta.added)) < abs((b.startDate ?? .distantPast).timeIntervalSince(meta.added))
        }?.keyID
    }

    // MARK: manual rotation

    /// Stores a secret made by hand after proving it with a token request; a secret that fails changes nothing.
    public func manual(app: String, secret: SecretBytes) throws -> RotationReport {
        let session = try tokens.session(app: app)
        var identity = session.identity
        identity.secret = secret
        let flow = ClientCredentials(transport: tokens.transport)
        let deadline = Date().addingTimeInterval(propagationTimeout)
        while true {
            do {
                _ = try flow.acquire(identity, scope: session.defaultScope)
                break
            } catch let e as VaultError where e.code == "entra.invalid_secret" && Date() < deadline {
                sleeper.sleep(seconds: pollInterval)
            } catch let e as VaultError {
                throw VaultError("rotation.manual_refused", "the new secret does not work, so it was not stored: \(e.reason)",
                                 hint: "paste the secret's Value (not its ID); a secret made seconds ago may need --propagation-timeout 120",
                                 exit: VaultError.ExitStatus(rawValue: e.exitCode) ?? .software)
            }
        }
        try vault.update(unlock) { v in
            guard let stored = v.contents.app(named: app) else { throw VaultError.unknownApp(app) }
            var meta = stored.metadata
            meta.secretHint = secret.prefixString(3)
            meta.secretKeyID = nil
            meta.secretExpires = nil
            meta.rotated = Date()
            try v.contents.putApp(meta, secret: secret)
        }
        _ = try? CacheService(vault: vault, unlock: unlock).clear(app: app)
        return RotationReport(app: app, newHint: secret.prefixString(3))
    }
}

/// A token source that always hands out the same token (the one just proven).
struct FixedToken: AccessTokenSource {
    let token: String
    init(_ t: String) { token = t }
    func accessToken(rejecting: String?) throws -> String { token }
}
