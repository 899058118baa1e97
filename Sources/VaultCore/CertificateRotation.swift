import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultHTTP
import VaultPKI
import VaultStore

/// What a certificate rotation (or its recovery) did.
public struct CertificateRotationReport: Sendable {
    public var app: String
    public var newThumbprint: String?
    public var newKeyID: String?
    public var newExpires: Date?
    public var removedKeyID: String?
    public var rolledBack = false
    public var notes: [String] = []
}

/// Use case: rotate an app's certificate through Graph's addKey/removeKey (graph-api.md §5.6) without ever leaving
/// the app without a working certificate: the stored certificate is replaced only after the new one has given a
/// token and a Graph call, and the old key is removed only after that, with a proof signed by the new one.
public struct CertificateRotation: Sendable {
    public let rotation: RotationService
    public init(rotation: RotationService) { self.rotation = rotation }

    var tokens: TokenService { rotation.tokens }
    var vault: Vault { tokens.vault }
    var unlock: Credential { tokens.unlock }
    func checkpoint(_ step: String) { rotation.checkpoint(step) }

    public func pending(app: String) -> CertificateRotationJournal? {
        (try? vault.open(unlock)).flatMap { try? CertificateRotationJournal.load($0.contents, app: app)?.journal }
    }

    /// Rotates: a new key pair (same subject and size as the current one unless given), valid `validDays`.
    public func rotate(app: String, validDays: Int?, keyBits: Int?) throws -> CertificateRotationReport {
        let held = try rotation.lock(app)
        defer { held.release() }
        if rotation.pending(app: app) != nil {
            throw VaultError("rotation.pending", "a secret rotation of '\(app)' is pending", hint: "finish it first: vault rotate-secret \(app) --resume", exit: .tempFailure)
        }
        if pending(app: app) != nil {
            throw VaultError("rotation.pending", "a certificate rotation of '\(app)' is pending", hint: "vault rotate-cert \(app) --resume", exit: .tempFailure)
        }
        let session = try tokens.session(app: app)
        guard case .certificate(let stored) = session.identity.credential else {
            throw VaultError("rotation.no_certificate", "app '\(app)' does not use a certificate, so there is none to rotate",
                             hint: session.metadata.certificate == nil ? "add one with `vault add-app \(app) --generate-certificate … --replace --keep-credential`, upload it, then rotate"
                                                                        : "it is set to use its secret: `vault add-app \(app) … --use certificate --replace --keep-credential`",
                             exit: .usage)
        }
        let current = try stored.credential()
        guard current.certificate.notAfter > Date() else {
            throw VaultError("cert.expired", "the certificate of '\(app)' has expired; addKey needs a proof signed by a current certificate",
                             hint: "make a new one with `vault add-app \(app) --generate-certificate --public-out \(app).cer --replace …` and upload it in the portal",
                             exit: .noPermission)
        }
        let apps = Applications(client: try rotation.graph(session).client)
        let (keys, objectID) = try apps.keysAndObjectID(appID: session.metadata.clientID)
        guard let old = keys.first(where: { $0.thumbprint == current.certificate.sha1Hex }) else {
            throw VaultError("rotation.unregistered", "the app registration holds no certificate with the stored thumbprint \(current.certificate.sha1Hex), so Graph would refuse its proof",
                             hint: "upload it first (`vault show \(app) --certificate-pem`), or store the certificate the app holds", exit: .config)
        }
        checkpoint("after-read")
        let days = validDays ?? max(1, min(3650, Int((current.certificate.notAfter.timeIntervalSince(current.certificate.notBefore) / 86_400).rounded())))
        let bits = keyBits ?? (CertificateGeneration.allowedKeyBits.contains(current.certificate.keyBits) ? current.certificate.keyBits : 3072)
        let next = try CertificateGeneration.generate(subject: Self.subject(current.certificate.subject, app: app), validDays: days, keyBits: bits)
        let id = UUID().uuidString.lowercased()
        let now = Date()
        var journal = CertificateRotationJournal(
            id: id, app: app, step: .adding, started: now, clientID: session.metadata.clientID, tenant: session.metadata.tenant,
            objectID: objectID, displayName: "vault \(now.formatted(Date.ISO8601FormatStyle().year().month().day())) \(id.prefix(8))",
            oldKeyID: old.keyID, oldThumbprint: current.certificate.sha1Hex, newThumbprint: next.certificate.sha1Hex,
            newCertificate: Data(next.certificate.der).base64EncodedString(), newKeyID: nil)
        try vault.update(unlock) { v in
            if try CertificateRotationJournal.load(v.contents, app: app) != nil {
                throw VaultError("rotation.pending", "a certificate rotation of '\(app)' is pending", exit: .tempFailure)
            }
            v.contents.put(try journal.record(newKey: next.privateKey))
        }
        checkpoint("after-journal")
        let added: KeyCredential
        do {
            added = try apps.addKey(objectID: objectID, certificate: next.certificate.der, displayName: journal.displayName,
                                    proof: try JOSE.keyProof(current, applicationObjectID: objectID))
        } catch let error as VaultError {
            if RotationService.nothingCreated(error) {
                try write(journal, key: nil, delete: true)
                throw error
            }
            // The key may exist without our having seen the answer: the journal's recovery settles it.
            let report = try settle(app: app)
            throw VaultError(error.code, error.reason + (report?.rolledBack == true ? "; the rotation was rolled back" : "; the rotation was finished from its journal"),
                             hint: error.hint, exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
        }
        // An answer naming the old key, or any key the app held before, is not believed: acting on it would make a
        // rollback remove the only working certificate. The app's own list says which key is new (by thumbprint).
        guard Applications.isKeyID(added.keyID), added.keyID != old.keyID, !keys.contains(where: { $0.keyID == added.keyID }) else {
            let wrong = "addKey answered with keyId '\(added.keyID.prefix(64))', which is not the new certificate's"
            guard var report = try settle(app: app), !report.rolledBack else {
                throw VaultError("graph.response", wrong + "; the rotation was rolled back",
                                 hint: "the server is not behaving like Graph; check --graph and any proxy", exit: .dataError)
            }
            report.notes.append(wrong + "; the new key was found by its thumbprint instead")
            return report
        }
        checkpoint("after-add")
        journal.step = .added
        journal.newKeyID = added.keyID
        try write(journal, key: next.privateKey)
        checkpoint("after-journal-added")
        return try advance(journal, next: next, current: current, session: session)
    }

    /// Finishes or rolls back a pending certificate rotation; nil when there is none.
    public func resume(app: String) throws -> CertificateRotationReport? {
        let held = try rotation.lock(app)
        defer { held.release() }
        return try settle(app: app)
    }

    /// Drops the journal without touching Entra ID.
    public func abandon(app: String) throws -> CertificateRotationJournal? {
        let held = try rotation.lock(app)
        defer { held.release() }
        return try vault.update(unlock) { v in
            guard let (j, _) = try? CertificateRotationJournal.load(v.contents, app: app) else {
                if v.contents.remove(kind: CertificateRotationJournal.kind, name: app) {
                    return CertificateRotationJournal(id: "unreadable", app: app, step: .adding, started: .distantPast, clientID: "", tenant: "",
                                                      objectID: "", displayName: "", oldKeyID: nil, oldThumbprint: "", newThumbprint: "",
                                                      newCertificate: "", newKeyID: nil)
                }
                return nil
            }
            v.contents.remove(kind: CertificateRotationJournal.kind, name: app)
            return j
        }
    }

    /// With the lock held.
    func settle(app: String) throws -> CertificateRotationReport? {
        let unlocked = try vault.open(unlock)
        guard let (loaded, newKey) = try CertificateRotationJournal.load(unlocked.contents, app: app) else { return nil }
        var journal = loaded
        guard let stored = try unlocked.contents.app(named: app) else {
            throw VaultError("rotation.stale", "a certificate rotation journal of '\(app)' is left, but no such app is stored",
                             hint: "drop it with `vault rotate-cert \(app) --abandon`", exit: .dataError)
        }
        if let why = journal.mismatch(with: stored.metadata) {
            throw VaultError("rotation.stale", "the pending certificate rotation of '\(app)' does not belong to the stored app: \(why); it was not finished",
                             hint: "drop it with `vault rotate-cert \(app) --abandon`" + (journal.newKeyID.map { ", then remove key \($0) from the app registration if it is still there" } ?? ""),
                             exit: .dataError)
        }
        let session = try tokens.session(app: app)
        var current: CertificateCredential?
        if case .certificate(let stored) = session.identity.credential {
            current = try stored.credential()
        } else if !journal.movesFromSecret || journal.step == .committed {
            throw VaultError("rotation.stale", "app '\(app)' no longer uses a certificate; the pending certificate rotation was not finished",
                             hint: "drop it with `vault rotate-cert \(app) --abandon`", exit: .dataError)
        }
        let next: CertificateCredential?
        if journal.step == .committed {
            next = current  // committed: the stored certificate is the new one (the journal no longer holds its key)
        } else if let newKey, let der = Data(base64Encoded: journal.newCertificate) {
            next = try CertificateCredential(certificate: try CertificateInfo(der: Array(der)), privateKey: newKey)
        } else {
            next = nil
        }
        if journal.step == .adding {
            // Did addKey happen? The thumbprint says, whatever the lost answer was.
            // Graph's reads may lag its writes (graph-api.md §5.5): absent counts only once the lag window has passed
            // since the rotation started.
            let apps = Applications(client: try rotation.graph(session).client)
            let settled = journal.started.addingTimeInterval(rotation.lagWindow)
            var found = try apps.keys(appID: journal.clientID).first(where: { $0.thumbprint == journal.newThumbprint })
            while found == nil, Date() < settled {
                rotation.sleeper.sleep(seconds: min(rotation.pollInterval, max(0.05, settled.timeIntervalSinceNow)))
                found = try apps.keys(appID: journal.clientID).first(where: { $0.thumbprint == journal.newThumbprint })
            }
            guard let found else {
                try write(journal, key: nil, delete: true)
                var r = CertificateRotationReport(app: app)
                r.rolledBack = true
                r.notes.append("addKey had not taken effect; the stored certificate is unchanged")
                return r
            }
            journal.step = .added
            journal.newKeyID = found.keyID
            try write(journal, key: newKey)
        }
        guard let next else {
            throw VaultError("rotation.stale", "the pending certificate rotation of '\(app)' lacks its new key", hint: "drop it with `vault rotate-cert \(app) --abandon`", exit: .dataError)
        }
        return try advance(journal, next: next, current: current, session: session)
    }

    /// From `added` on: prove, commit, remove the old key, clear the journal.
    func advance(_ start: CertificateRotationJournal, next: CertificateCredential, current: CertificateCredential?,
                 session: AppSession) throws -> CertificateRotationReport {
        var j = start
        var report = CertificateRotationReport(app: j.app, newThumbprint: j.newThumbprint, newKeyID: j.newKeyID,
                                               newExpires: next.certificate.notAfter)
        if j.step == .added {
            do {
                try prove(next, session: session)
            } catch let e as VaultError {
                // Never worked: take the new key off the app again (signed by the certificate still stored; after a move
                // from a secret, by writing the collection back without it).
                let apps = Applications(client: try rotation.graph(session).client)
                if let current, let newKeyID = j.newKeyID {
                    _ = try apps.removeKey(objectID: j.objectID, keyID: newKeyID, proof: try JOSE.keyProof(current, applicationObjectID: j.objectID))
                } else if j.movesFromSecret {
                    let read = try apps.keyCredentialsForUpdate(appID: j.clientID)
                    let kept = zip(read.keys, read.raw).filter { $0.0.thumbprint != j.newThumbprint }.map(\.1)
                    if kept.count != read.raw.count {
                        try apps.replaceKeyCredentials(objectID: j.objectID, existing: kept, adding: nil, displayName: "")
                    }
                }
                try write(j, key: nil, delete: true)
                throw VaultError("rotation.unproven", "the new certificate did not work (\(e.reason)); it was removed from the app again and the stored certificate is unchanged",
                                 hint: "a new key may take longer to propagate: try again with a longer --propagation-timeout", exit: .tempFailure)
            }
            checkpoint("after-prove")
            j.step = .proven
            try write(j, key: next.privateKey)
        }
        if j.step == .proven {
            try vault.update(unlock) { v in
                try check(j, in: v.contents)
                guard var app = try v.contents.app(named: j.app), j.mismatch(with: app.metadata) == nil else {
                    throw VaultError("rotation.stale", "the certificate rotation of '\(j.app)' was not committed: the stored app changed", exit: .dataError)
                }
                AddApp.describe(CertificateChoice(credential: next, algorithm: app.metadata.assertionAlgorithm == "RS256" ? .rs256 : .ps256,
                                                  sendX5C: app.metadata.sendX5C ?? false), in: &app.metadata)
                app.metadata.certificateKeyID = j.newKeyID
                app.metadata.rotated = Date()
                app.certificateKey = next.privateKey
                try v.contents.putApp(app)
                j.step = .committed
                v.contents.put(try j.record(newKey: nil))
            }
            _ = try? CacheService(vault: vault, unlock: unlock).clear(app: j.app)
            checkpoint("after-commit")
        }
        if j.movesFromSecret {
            // The password goes with the new certificate's token; then the secret leaves the vault record.
            if let old = j.oldPasswordKeyID {
                let fresh = try tokens.session(app: j.app)
                let removal = try GraphRemoval(apps: Applications(client: try rotation.graph(fresh).client), appID: j.clientID,
                                               lagWindow: 0, sleeper: rotation.sleeper).remove(old, created: nil, deadline: Date())
                if removal { report.removedKeyID = old }
                checkpoint("after-remove")
            }
            try vault.update(unlock) { v in
                try check(j, in: v.contents)
                guard var app = try v.contents.app(named: j.app), app.certificateKey != nil else { return }
                if j.oldPasswordKeyID != nil {
                    app.secret = nil
                    app.previous = nil
                    app.metadata.secretHint = ""
                    app.metadata.secretKeyID = nil
                    app.metadata.secretExpires = nil
                }
                app.metadata.credentialUse = nil
                try v.contents.putApp(app)
            }
            if j.oldPasswordKeyID == nil {
                report.notes.append("the stored secret's password could not be identified on the app, so it was kept (in the vault and on the app)")
            }
        } else if let old = j.oldKeyID, old != j.newKeyID {
            let fresh = try tokens.session(app: j.app)
            let removal = try Applications(client: try rotation.graph(fresh).client)
                .removeKey(objectID: j.objectID, keyID: old, proof: try JOSE.keyProof(next, applicationObjectID: j.objectID))
            if removal == .removed { report.removedKeyID = old }
            checkpoint("after-remove")
        }
        try write(j, key: nil, delete: true)
        checkpoint("after-clear")
        return report
    }

    /// A token with the new certificate straight from Entra ID (retrying while it propagates), then a Graph call.
    func prove(_ next: CertificateCredential, session: AppSession) throws {
        var identity = session.identity
        var algorithm = JOSE.Algorithm.ps256
        var sendX5C = false
        if case .certificate(let stored) = identity.credential {
            algorithm = stored.algorithm
            sendX5C = stored.sendX5C
        }
        identity.credential = .certificate(StoredCertificate(certificateBase64: Data(next.certificate.der).base64EncodedString(),
                                                             privateKey: next.privateKey, algorithm: algorithm, sendX5C: sendX5C,
                                                             notAfter: next.certificate.notAfter))
        try rotation.proveCredential(identity, session: session)
    }

    func check(_ j: CertificateRotationJournal, in contents: VaultContents) throws {
        guard (try? CertificateRotationJournal.load(contents, app: j.app))??.journal.id == j.id else {
            throw VaultError("rotation.superseded", "the certificate rotation journal of '\(j.app)' was changed by another process; this process stopped",
                             hint: "`vault status \(j.app)` shows where the rotation stands", exit: .tempFailure)
        }
    }

    /// Compare-and-swap on the journal id: updates (or deletes) only the journal this process wrote.
    func write(_ j: CertificateRotationJournal, key: SecretBytes?, delete: Bool = false) throws {
        try vault.update(unlock) { v in
            try check(j, in: v.contents)
            if delete {
                v.contents.remove(kind: CertificateRotationJournal.kind, name: j.app)
            } else {
                v.contents.put(try j.record(newKey: key))
            }
        }
    }

    /// The current certificate's subject, in the form `--subject` takes when vault can rewrite it; else CN=APP.
    static func subject(_ description: String, app: String) -> String {
        let parts = description.split(separator: ",").map { $0.trimmingPrefix(" ") }
        let usable = parts.allSatisfy { p in ["CN=", "O=", "OU=", "C=", "ST=", "L="].contains { p.hasPrefix($0) } }
        return usable && !parts.isEmpty ? parts.joined(separator: ", ") : "CN=\(app)"
    }
}
