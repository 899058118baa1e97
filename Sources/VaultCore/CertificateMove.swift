import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultHTTP
import VaultPKI
import VaultStore

extension CertificateRotation {
    /// Moves an app from its client secret to a certificate made in the vault. addKey needs a current certificate,
    /// which such an app lacks, so the certificate goes on with PATCH keyCredentials (the whole collection: read with
    /// each key, append, write, then check nothing else was lost); then it is proven, stored, and the old password
    /// removed. Needs Application.ReadWrite.OwnedBy (the app owning itself) or .All, like rotate-secret.
    public func moveFromSecret(app: String, validDays: Int?, keyBits: Int?, subject: String?) throws -> CertificateRotationReport {
        let held = try rotation.lock(app)
        defer { held.release() }
        if rotation.pending(app: app) != nil || pending(app: app) != nil {
            throw VaultError("rotation.pending", "a rotation of '\(app)' is pending", hint: "finish it first (`vault rotate-secret \(app) --resume` or `vault rotate-cert \(app) --resume`)", exit: .tempFailure)
        }
        let session = try tokens.session(app: app)
        if let backend = session.metadata.backend {
            throw VaultError("rotation.fleet", "app '\(app)' keeps its secret in backend '\(backend)'; fleet backends hold client secrets only, so it cannot move to a certificate made in this vault",
                             hint: "rotate its secret for the whole fleet with `vault rotate-secret \(app)`", exit: .usage)
        }
        guard let secret = session.secret, case .secret = session.identity.credential else {
            throw VaultError("rotation.no_secret", "app '\(app)' does not use a client secret, so there is nothing to move from",
                             hint: "rotate its certificate with `vault rotate-cert \(app)`", exit: .usage)
        }
        let apps = Applications(client: try rotation.graph(session).client)
        let read = try apps.keyCredentialsForUpdate(appID: session.metadata.clientID)
        if let lost = zip(read.keys, read.raw).first(where: { !Applications.hasKey($0.1) }) {
            throw VaultError("rotation.patch_unsafe", "Graph did not return the certificate of key \(lost.0.keyID), so writing the key collection would drop it; nothing was changed",
                             hint: "add the certificate in the portal instead (`vault add-app \(app) --generate-certificate --public-out \(app).cer --replace --keep-credential …`)", exit: .unavailable)
        }
        let passwords = try apps.passwords(appID: session.metadata.clientID)
        let oldPassword = RotationService.identify(session.metadata, in: passwords, lagWindow: rotation.lagWindow, now: Date())
        _ = secret
        checkpoint("after-read")
        let next = try CertificateGeneration.generate(subject: subject ?? "CN=\(app)", validDays: validDays ?? 365, keyBits: keyBits ?? 3072)
        let id = UUID().uuidString.lowercased()
        let now = Date()
        var journal = CertificateRotationJournal(
            id: id, app: app, step: .adding, started: now, clientID: session.metadata.clientID, tenant: session.metadata.tenant,
            objectID: read.objectID, displayName: "vault \(now.formatted(Date.ISO8601FormatStyle().year().month().day())) \(id.prefix(8))",
            oldKeyID: nil, oldThumbprint: "", newThumbprint: next.certificate.sha1Hex,
            newCertificate: Data(next.certificate.der).base64EncodedString(), newKeyID: nil, fromSecret: true, oldPasswordKeyID: oldPassword)
        try vault.update(unlock) { v in
            if try CertificateRotationJournal.load(v.contents, app: app) != nil {
                throw VaultError("rotation.pending", "a certificate rotation of '\(app)' is pending", exit: .tempFailure)
            }
            v.contents.put(try journal.record(newKey: next.privateKey))
        }
        checkpoint("after-journal")
        do {
            try apps.replaceKeyCredentials(objectID: read.objectID, existing: read.raw, adding: next.certificate.der, displayName: journal.displayName)
        } catch let error as VaultError {
            if RotationService.nothingCreated(error) {
                try write(journal, key: nil, delete: true)
                throw error
            }
            let report = try settle(app: app)
            throw VaultError(error.code, error.reason + (report?.rolledBack == true ? "; nothing was changed" : "; the move was finished from its journal"),
                             hint: error.hint, exit: VaultError.ExitStatus(rawValue: error.exitCode) ?? .software)
        }
        checkpoint("after-add")
        // Nothing else lost: every key that was there is still there, and the new one is.
        // Read until the write shows (reads may lag writes), at most for the lag window.
        var after = try apps.keyCredentialsForUpdate(appID: session.metadata.clientID).keys
        let readUntil = Date().addingTimeInterval(rotation.lagWindow)
        while !after.contains(where: { $0.thumbprint == next.certificate.sha1Hex }), Date() < readUntil {
            rotation.sleeper.sleep(seconds: rotation.pollInterval)
            after = try apps.keyCredentialsForUpdate(appID: session.metadata.clientID).keys
        }
        let missing = read.keys.filter { k in !after.contains { $0.keyID == k.keyID } }
        guard missing.isEmpty, let added = after.first(where: { $0.thumbprint == next.certificate.sha1Hex }) else {
            throw VaultError("rotation.patch_lost", "after writing the key collection, Graph no longer lists \(missing.isEmpty ? "the new certificate" : "key(s) " + missing.map(\.keyID).joined(separator: ", ")); the journal is kept",
                             hint: "check the app's certificates in the portal, then `vault rotate-cert \(app) --resume` or `--abandon`", exit: .dataError)
        }
        journal.step = .added
        journal.newKeyID = added.keyID
        try write(journal, key: next.privateKey)
        checkpoint("after-journal-added")
        return try advance(journal, next: next, current: nil, session: session)
    }
}
