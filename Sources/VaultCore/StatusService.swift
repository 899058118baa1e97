import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultStore
import VaultFormat
import VaultRecords

/// One app's secret health.
public struct SecretStatus: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case healthy = 0, expiringSoon = 1, expired = 2, rotationPending = 3
        public static func < (a: Level, b: Level) -> Bool { a.rawValue < b.rawValue }
        public var label: String {
            switch self {
            case .healthy: "ok"
            case .expiringSoon: "expiring"
            case .expired: "expired"
            case .rotationPending: "rotation pending"
            }
        }
    }
    public var app: String
    /// "secret" or "certificate": an app holding both has a row for each.
    public var credential: String = "secret"
    /// Whether tokens are fetched with this credential.
    public var inUse: Bool = true
    public var hint: String
    public var keyID: String?
    public var expires: Date?
    public var expirySource: String
    public var daysLeft: Int?
    public var rotated: Date?
    public var pending: String?
    public var level: Level
    public var notes: [String]
    /// A fleet rotation whose holder's lock expired: any host can finish or roll it back.
    public var stalledFleetRotation = false
    /// The stored certificate is not on the app registration.
    public var certificateNotUploaded = false
}

/// Use case: secret hints, keyIds and expiry per app, from Graph when the app can read itself, else from the vault.
public struct StatusService: Sendable {
    public let tokens: TokenService
    public init(tokens: TokenService) { self.tokens = tokens }

    /// With `offline`, nothing is asked of Graph: expiry is what the vault stored (at add-app or the last rotation).
    public func status(apps names: [String]?, warnDays: Int, now: Date = Date(), offline: Bool = false) throws -> [SecretStatus] {
        let unlocked = try tokens.vault.open(tokens.unlock)
        // One app: only its record is opened. All: every record, once.
        let chosen: [StoredApp] = try names.map { wanted in
            try wanted.map { n in
                guard let app = try unlocked.contents.app(named: n) else { throw VaultError.unknownApp(n) }
                return app
            }
        } ?? unlocked.contents.apps.sorted { $0.metadata.name < $1.metadata.name }
        // Which apps have a journal, looked up once (not one scan of every record per app).
        let journals = Set(unlocked.contents.names(kind: RotationJournal.recordKind(.password)))
        let certificateJournals = Set(unlocked.contents.names(kind: RotationJournal.recordKind(.certificate)))
        let federationJournals = Set(unlocked.contents.names(kind: RotationJournal.recordKind(.federated)))
        return try chosen.flatMap { stored -> [SecretStatus] in
            var meta = stored.metadata
            var rows: [SecretStatus] = []
            if meta.certificate != nil {
                rows.append(certificateStatus(meta, unlocked: unlocked, warnDays: warnDays, now: now, offline: offline,
                                              journaled: certificateJournals.contains(meta.name)))
            }
            if meta.federated != nil || federationJournals.contains(meta.name) {
                rows.append(try federatedStatus(meta, unlocked: unlocked, offline: offline))
            }
            guard stored.secret != nil || meta.backend != nil else { return rows }
            var s = SecretStatus(app: meta.name, hint: meta.secretHint, keyID: meta.secretKeyID, expires: meta.secretExpires,
                                 expirySource: meta.secretExpires == nil ? "unknown" : "vault", daysLeft: nil, rotated: meta.rotated,
                                 pending: nil, level: .healthy, notes: [])
            if let backend = meta.backend {
                s.credential = "secret in backend \(backend)"
                s.notes.append("the secret is kept in backend '\(backend)' at \(meta.backendPath ?? "?") (version \(meta.backendVersion.map(String.init) ?? "?") when last read here)")
            }
            if meta.backend != nil, !offline, let current = fleetState(stored, unlocked: unlocked, into: &s, now: now) {
                meta = current
            }
            if journals.contains(meta.name), let (j, _) = try RotationJournal.load(unlocked.contents, app: meta.name) {
                s.pending = "\(j.step.rawValue) since \(j.started.formatted(.iso8601))"
            } else if !offline {
                do {
                    let graph = try GraphService(tokenService: tokens, app: meta.name, retry: {
                        var r = GraphRetryPolicy(); r.maxRetries = 1; return r
                    }())
                    let creds = try Applications(client: graph.client).passwords(appID: meta.clientID)
                    if let key = RotationService.identify(meta, in: creds, lagWindow: RotationService.defaultLagWindow, now: now), let cred = creds.first(where: { $0.keyID == key }) {
                        s.keyID = key
                        s.expires = cred.endDate
                        s.expirySource = "graph"
                    } else {
                        s.notes.append("Graph lists no password matching the stored secret (hint \(meta.secretHint))")
                    }
                } catch let e as VaultError {
                    s.notes.append("expiry from the vault: Graph could not be asked (\(e.reason))")
                }
            }
            if let e = s.expires {
                s.daysLeft = Int((e.timeIntervalSince(now) / 86400).rounded(.down))
                if e <= now { s.level = .expired } else if e.timeIntervalSince(now) < Double(warnDays) * 86400 { s.level = .expiringSoon }
            }
            if s.pending != nil { s.level = .rotationPending }
            s.inUse = !meta.usesCertificate && meta.federated == nil
            return rows + [s]
        }
    }

    /// A federated app's row (or an app moving to one): its token source, a pending move, and the app's federated
    /// credentials as Graph lists them.
    func federatedStatus(_ meta: AppMetadata, unlocked: UnlockedVault, offline: Bool) throws -> SecretStatus {
        var s = SecretStatus(app: meta.name, credential: meta.federated.map { "federated \($0)" } ?? "federated (moving to)",
                             inUse: meta.federated != nil, hint: "", keyID: nil, expires: nil, expirySource: "none", daysLeft: nil,
                             rotated: meta.rotated, pending: nil, level: .healthy, notes: [])
        if let source = meta.federated {
            // Nothing of the app's expires in the vault: the external token is the issuer's to keep fresh.
            s.notes.append("no secret or key to expire: the app proves itself with an external token read from \(source) at each token fetch")
        }
        if let (j, _) = try RotationJournal.load(unlocked.contents, app: meta.name), j.kind == .federated {
            s.pending = "\(j.step.rawValue) since \(j.started.formatted(.iso8601))"
            s.level = .rotationPending
            s.notes.append("moving to federated credential '\(j.displayName)' (issuer \(j.issuer ?? "?"), subject \(j.subject ?? "?"))")
        }
        guard !offline else { return s }
        do {
            let graph = try GraphService(tokenService: tokens, app: meta.name, retry: {
                var r = GraphRetryPolicy(); r.maxRetries = 1; return r
            }())
            let fics = try Applications(client: graph.client).federatedCredentials(appID: meta.clientID)
            if fics.isEmpty { s.notes.append("Graph lists no federated credential on the app") }
            for f in fics {
                s.notes.append("federated credential '\(f.name)' (id \(f.id)): issuer \(f.issuer), subject \(f.subject), audience \(f.audiences.joined(separator: ", "))")
            }
            s.keyID = fics.first(where: { $0.name.hasPrefix("vault-") })?.id ?? fics.first?.id
        } catch let e as VaultError {
            s.notes.append("Graph could not list the app's federated credentials (\(e.reason))")
        }
        return s
    }

    /// A fleet app's row as the backend has it: the current secret's facts, and the fleet rotation (in progress on
    /// which host and until when its lock holds, or left by a host that stopped, or how the last one ended).
    func fleetState(_ stored: StoredApp, unlocked: UnlockedVault, into s: inout SecretStatus, now: Date) -> AppMetadata? {
        do {
            let home = try FleetRotationHome(vault: tokens.vault, unlock: tokens.unlock, unlocked: unlocked, app: stored.metadata,
                                             ttl: FleetRotationHome.defaultLockTTL)
            let current = try home.current().metadata
            s.hint = current.secretHint
            s.keyID = current.secretKeyID ?? s.keyID
            s.expires = current.secretExpires ?? s.expires
            s.rotated = current.rotated ?? s.rotated
            s.notes.append("backend version \(current.backendVersion.map(String.init) ?? "?")")
            guard let record = try home.state() else { return current }
            let journal = home.decode(record)
            switch record.state {
            case .rotating where record.isLive(at: now):
                s.pending = "fleet rotation on \(record.owner), step \(journal.step.rawValue) since \(record.started.formatted(.iso8601)), lock until \(record.expires.formatted(.iso8601))"
            case .rotating:
                s.pending = "fleet rotation stopped at step \(journal.step.rawValue) on \(record.owner) (lock expired \(record.expires.formatted(.iso8601)))"
                s.stalledFleetRotation = true
            case .idle:
                s.notes.append("last fleet rotation \(record.outcome ?? "ended") on \(record.owner) at \((record.ended ?? record.started).formatted(.iso8601))")
            }
            return current
        } catch let e as VaultError {
            s.notes.append("fleet state unknown: \(e.reason)")
        } catch {
            s.notes.append("fleet state unknown: \(error)")
        }
        return nil
    }

    /// A certificate's row: expiry from the certificate itself; Graph (when the app can read itself) tells whether
    /// the app registration holds it.
    func certificateStatus(_ meta: AppMetadata, unlocked: UnlockedVault, warnDays: Int, now: Date, offline: Bool, journaled: Bool = true) -> SecretStatus {
        let thumbprint = meta.certificateSHA1 ?? ""
        var s = SecretStatus(app: meta.name, hint: String(thumbprint.prefix(8)), keyID: meta.certificateKeyID, expires: meta.certificateExpires,
                             expirySource: "certificate", daysLeft: nil, rotated: meta.rotated, pending: nil, level: .healthy, notes: [])
        s.credential = "certificate"
        s.inUse = meta.usesCertificate
        if journaled, let (j, _) = (try? RotationJournal.load(unlocked.contents, app: meta.name)) ?? nil, j.kind == .certificate {
            s.pending = "certificate rotation \(j.step.rawValue) since \(j.started.formatted(.iso8601))"
        } else if !offline {
            do {
                let graph = try GraphService(tokenService: tokens, app: meta.name, retry: {
                    var r = GraphRetryPolicy(); r.maxRetries = 1; return r
                }())
                let keys = try Applications(client: graph.client).keys(appID: meta.clientID)
                if let key = keys.first(where: { $0.thumbprint == thumbprint.uppercased() }) {
                    s.keyID = key.keyID
                } else {
                    s.notes.append("the app registration holds no certificate with thumbprint \(thumbprint)")
                    s.certificateNotUploaded = true
                }
            } catch let e as VaultError {
                s.notes.append("Graph could not be asked whether the certificate is registered (\(e.reason))")
            } catch {
                s.notes.append("Graph could not be asked whether the certificate is registered")
            }
        }
        if let e = s.expires {
            s.daysLeft = Int((e.timeIntervalSince(now) / 86400).rounded(.down))
            if e <= now { s.level = .expired } else if e.timeIntervalSince(now) < Double(warnDays) * 86400 { s.level = .expiringSoon }
        }
        if s.pending != nil { s.level = .rotationPending }
        return s
    }
}
