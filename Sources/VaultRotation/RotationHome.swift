import FoundationEssentials
import VaultErrors
import VaultPKI
import VaultCrypto
import VaultHTTP
import VaultStore
import VaultTokens
import VaultFormat
import VaultRecords

/// Where an app's secret lives, and with it the journal of its rotation: the local vault (one host) or a fleet
/// backend (every host of a fleet). `RotationMachine` runs the same named steps against either; only the home knows
/// how a journal is written, how the new secret is committed and who else may be rotating.
///
/// Every write is a compare-and-swap on what this process wrote last (the journal id in the local vault, the KV
/// version in a backend), so a process that lost the rotation to another one stops at its next write.
package protocol RotationHome: Sendable {
    /// The app as its home holds it now: metadata (key id, hint, expiry, the backend version) and the current secret.
    func current() throws -> StoredApp
    /// A fingerprint binding a journal to a secret (never the secret itself).
    func fingerprint(_ secret: SecretBytes, journal: RotationJournal) throws -> String
    /// The pending rotation and its new secret, if any. Reads only.
    func pending() throws -> (journal: RotationJournal, newSecret: SecretBytes?)?
    /// Refuses to start a rotation while `pending` exists (the error says whether it is pending or in progress).
    func refuseToStart(over pending: RotationJournal) -> VaultError
    /// Writes the first journal (with the new credential when the kind made it first), create-only: fails when
    /// another rotation of the app, of any kind, was started first.
    func begin(_ j: RotationJournal, newSecret: SecretBytes?) throws
    /// Takes charge of the pending rotation `j` before finishing or rolling it back.
    func claim(_ j: RotationJournal, newSecret: SecretBytes?) throws
    func write(_ j: RotationJournal, newSecret: SecretBytes?) throws
    /// Vouches for the claim on `j` immediately before a Graph write leaves (called from inside the transport, once the
    /// connection is up): throws unless this process certainly still holds it. Graph has no conditional writes, so this
    /// is the last point a holder paused past its lock can be stopped. The local vault's lock is held by the process
    /// itself; a fleet lock is vouched for by time (`LockLease`) and renewed when half its ttl has gone.
    func vouch(_ j: RotationJournal, newSecret: SecretBytes?) throws
    /// Makes `newSecret` the app's credential (a secret, or the private key of the journal's new certificate) and
    /// journals step `committed`; returns the other apps that followed.
    func commit(_ j: RotationJournal, newSecret: SecretBytes) throws -> [String]
    /// The rotation is complete: the journal goes, and what the home kept of the old credential (a `previous`
    /// secret; the secret an app moving to a certificate leaves behind).
    func finish(_ j: RotationJournal) throws
    /// The rotation was rolled back: the journal goes, the secret is unchanged.
    func drop(_ j: RotationJournal) throws
    /// Drops a pending journal without touching Entra ID; returns it.
    func abandon() throws -> RotationJournal?
    /// Called during long waits (the fleet renews its lock there), at least every `keepAliveInterval` seconds.
    func keepAlive()
    var keepAliveInterval: Double { get }
}

extension RotationHome {
    package func vouch(_ j: RotationJournal, newSecret: SecretBytes?) throws {}
}

/// A sleeper that keeps a home's claim alive while it waits: a long wait is cut into pieces of at most the home's
/// keep-alive interval.
package struct HomeSleeper: Sleeper {
    package init(inner: any Sleeper, home: any RotationHome) {
        self.inner = inner
        self.home = home
    }

    package let inner: any Sleeper
    package let home: any RotationHome
    package func sleep(seconds: Double) {
        var left = seconds
        repeat {
            let piece = min(left, home.keepAliveInterval)
            inner.sleep(seconds: piece)
            left -= piece
            home.keepAlive()
        } while left > 0
    }
}

/// The local vault as the home of an app's credential: the journal is a vault record ("rotation" or
/// "cert-rotation", by the credential's kind), written inside `vault.update` under the app's `RotationLock`.
package struct LocalRotationHome: RotationHome {
    package init(vault: Vault, unlock: Credential, app: String, master: SecretBytes? = nil) {
        self.vault = vault
        self.unlock = unlock
        self.app = app
        self.master = master
    }

    package let vault: Vault
    package let unlock: Credential
    package let app: String
    /// The master key the rotation's fingerprints are keyed with (from the open that chose this home; nil: open the
    /// vault when one is needed).
    package var master: SecretBytes? = nil

    package func current() throws -> StoredApp {
        guard let stored = try vault.open(unlock).contents.app(named: app) else { throw VaultError.unknownApp(app) }
        return stored
    }

    package func fingerprint(_ secret: SecretBytes, journal: RotationJournal) throws -> String {
        try KeyDerivation.fingerprint(of: secret, master: try master ?? vault.open(unlock).master)
    }

    package func pending() throws -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        guard let v = try? vault.open(unlock) else { return nil }
        return try? RotationJournal.load(v.contents, app: app)
    }

    package var pendingOrNil: (RotationJournal, SecretBytes?)? {
        guard let found = try? pending() else { return nil }
        return (found.journal, found.newSecret)
    }

    package func refuseToStart(over pending: RotationJournal) -> VaultError {
        let what = pending.kind == .password ? "a rotation" : pending.kind == .certificate ? "a certificate rotation" : "a move to a federated credential"
        let command = pending.kind.command
        return VaultError("rotation.pending", "\(what) of '\(app)' is pending", context: ["app": app, "command": command])
    }

    package func begin(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        try vault.update(unlock) { v in
            if let (pending, _) = try RotationJournal.load(v.contents, app: j.app) { throw refuseToStart(over: pending) }
            v.contents.put(try j.record(newSecret: newSecret))
        }
    }

    /// The app's `RotationLock` is already held: nothing more to take.
    package func claim(_ j: RotationJournal, newSecret: SecretBytes?) throws {}

    package func check(_ j: RotationJournal, in contents: VaultContents) throws {
        guard let (found, _) = try RotationJournal.load(contents, app: j.app), found.id == j.id, found.kind == j.kind else {
            throw VaultError("rotation.superseded", "the rotation journal of '\(j.app)' was changed by another process; this process stopped", context: ["app": j.app])
        }
    }

    package func write(_ j: RotationJournal, newSecret: SecretBytes?) throws {
        try vault.update(unlock) { v in
            try check(j, in: v.contents)
            v.contents.put(try j.record(newSecret: newSecret))
        }
    }

    package func commit(_ j: RotationJournal, newSecret: SecretBytes) throws -> [String] {
        try vault.update(unlock) { v in
            try check(j, in: v.contents)
            guard let app = try v.contents.app(named: j.app) else {
                throw VaultError("app.unknown", "app '\(j.app)' disappeared from the vault during its rotation", context: ["case": "vanished"])
            }
            if let why = try j.mismatch(with: app, fingerprint: { try KeyDerivation.fingerprint(of: $0, master: v.master) }) {
                throw VaultError("rotation.stale", "the rotation of '\(j.app)' was not committed: \(why)", context: ["app": j.app])
            }
            let names = j.kind == .password ? try commitSecret(j, newSecret: newSecret, app: app, in: &v)
                                            : try commitCertificate(j, newKey: newSecret, app: app, in: &v)
            var done = j
            done.step = .committed
            v.contents.put(try done.record(newSecret: nil))
            return names
        }
    }

    /// The new secret becomes current, the old one is kept as `previous` until the old password is removed. Every
    /// other entry of the same app registration holding the same old secret (the app in another tenant) follows.
    package func commitSecret(_ j: RotationJournal, newSecret: SecretBytes, app stored: StoredApp, in v: inout UnlockedVault) throws -> [String] {
        let now = Date()
        var app = stored
        try j.commit(newSecret, into: &app, at: now)
        try v.contents.putApp(app)
        var names: [String] = []
        for other in try v.contents.apps where other.metadata.name != j.app && other.metadata.clientID.lowercased() == stored.metadata.clientID.lowercased() {
            guard let otherSecret = other.secret,
                  try KeyDerivation.fingerprint(of: otherSecret, master: v.master) == j.oldFingerprint else { continue }
            try v.contents.putApp(j.committed(other.metadata, newSecret: newSecret, at: now), secret: newSecret)
            names.append(other.metadata.name)
        }
        return names
    }

    package func commitCertificate(_ j: RotationJournal, newKey: SecretBytes, app stored: StoredApp, in v: inout UnlockedVault) throws -> [String] {
        var app = stored
        try j.commit(newKey, into: &app, at: Date())
        try v.contents.putApp(app)
        return []
    }

    package func finish(_ j: RotationJournal) throws {
        try vault.update(unlock) { v in
            try check(j, in: v.contents)
            if var app = try v.contents.app(named: j.app), j.finish(&app) { try v.contents.putApp(app) }
            v.contents.remove(kind: RotationJournal.recordKind(j.kind), name: j.app)
        }
    }

    package func drop(_ j: RotationJournal) throws {
        try vault.update(unlock) { v in
            try check(j, in: v.contents)
            v.contents.remove(kind: RotationJournal.recordKind(j.kind), name: j.app)
        }
    }

    package func abandon() throws -> RotationJournal? {
        try vault.update(unlock) { v in
            guard let (j, _) = try RotationJournal.load(v.contents, app: app) else { return nil }
            for kind in RotationJournal.recordKinds { v.contents.remove(kind: kind, name: app) }
            return j
        }
    }

    package func keepAlive() {}
    package var keepAliveInterval: Double { .infinity }
}

/// What a commit and the end of a rotation change in the stored app, whatever its home (the same code for this vault
/// and its memory twin).
extension RotationJournal {
    /// The new credential becomes the app's: a secret (the old one kept as `previous` until the old password is
    /// removed), or the journal's new certificate with `newSecret` as its private key (an app moving from its secret
    /// keeps the secret until its password is removed).
    package func commit(_ newSecret: SecretBytes, into app: inout StoredApp, at now: Date) throws {
        switch kind {
        case .password:
            let old = app.secret
            app.metadata = committed(app.metadata, newSecret: newSecret, at: now)
            app.metadata.previousKeyID = oldKeyID
            app.secret = newSecret
            app.previous = old
        case .federated:
            // The stored secret or certificate stays until the credentials named for removal are off the app (`finish`).
            app.metadata.federated = federatedSource
            app.metadata.federatedCredential = displayName
            app.metadata.federatedIssuer = issuer
            app.metadata.federatedSubject = subject
            app.metadata.rotated = now
        case .certificate:
            guard let b64 = newCertificate, let der = Data(base64Encoded: b64) else {
                throw VaultError("rotation.stale", "the certificate rotation journal of '\(self.app)' lacks its new certificate", context: ["app": self.app])
            }
            let next = try CertificateCredential(certificate: try CertificateInfo(der: Array(der)), privateKey: newSecret)
            CertificateMetadata.describe(CertificateChoice(credential: next, algorithm: app.metadata.assertionAlgorithm == "RS256" ? .rs256 : .ps256,
                                              sendX5C: app.metadata.sendX5C ?? false), in: &app.metadata)
            app.metadata.certificateKeyID = newKeyID
            app.metadata.rotated = now
            app.certificateKey = next.privateKey
        }
    }

    /// The rotation is complete: what the app kept of its old credential goes. Returns whether `app` changed.
    package func finish(_ app: inout StoredApp) -> Bool {
        switch kind {
        case .password where !keepOld:
            app.metadata.previousKeyID = nil
            app.previous = nil
            return true
        case .federated:
            var changed = false
            if !removePasswords.isEmpty, app.secret != nil || app.metadata.secretKeyID != nil {
                app.secret = nil
                app.previous = nil
                app.metadata.secretHint = ""
                app.metadata.secretKeyID = nil
                app.metadata.previousKeyID = nil
                app.metadata.secretExpires = nil
                changed = true
            }
            if !removeKeys.isEmpty, app.certificateKey != nil || app.metadata.certificate != nil {
                app.certificateKey = nil
                CertificateMetadata.forget(in: &app.metadata)
                changed = true
            }
            if app.metadata.credentialUse != nil {
                app.metadata.credentialUse = nil
                changed = true
            }
            return changed
        case .certificate where movesFromSecret && app.certificateKey != nil:
            // The app has moved: its secret leaves once its password is off the app (else it is kept, in the vault and
            // on the app, and the report says so).
            if oldPasswordKeyID != nil {
                app.secret = nil
                app.previous = nil
                app.metadata.secretHint = ""
                app.metadata.secretKeyID = nil
                app.metadata.secretExpires = nil
            }
            app.metadata.credentialUse = nil
            return true
        default:
            return false
        }
    }

    /// `meta` as it is once this rotation's new secret is the current one.
    package func committed(_ m: AppMetadata, newSecret: SecretBytes, at now: Date) -> AppMetadata {
        var meta = m
        meta.secretKeyID = newKeyID
        meta.secretHint = newHint ?? newSecret.prefixString(3)
        meta.secretExpires = newEnd
        meta.rotated = now
        return meta
    }
}
