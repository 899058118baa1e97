import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultPKI

/// A certificate as the rotated credential: the key pair is made in the vault and journaled before Graph sees its
/// certificate, so a lost answer is settled by looking for the thumbprint. Keys go on with addKey and off with
/// removeKey, each with a proof signed by a current certificate of the app (docs/protocols.md,
/// "Graph: addKey and removeKey"); an app moving from its secret (`fromSecret`) has none, so its key collection is
/// written whole with PATCH, and its old credential is a password.
package struct CertificateKind: CredentialKind {
    package init(applications: @escaping @Sendable () throws -> any ApplicationCredentials,
                 storedCertificate: @escaping @Sendable () throws -> CertificateCredential?, algorithm: JOSE.Algorithm, sendX5C: Bool,
                 lag: LagPolicy, clock: RotationClock) {
        self.applications = applications
        self.storedCertificate = storedCertificate
        self.algorithm = algorithm
        self.sendX5C = sendX5C
        self.lag = lag
        self.clock = clock
    }

    package let applications: @Sendable () throws -> any ApplicationCredentials
    /// The certificate the app's home holds now (the old one before the commit, the new one after it); nil: none.
    package let storedCertificate: @Sendable () throws -> CertificateCredential?
    /// How the app signs its assertions (kept for the new certificate).
    package let algorithm: JOSE.Algorithm
    package let sendX5C: Bool
    package let lag: LagPolicy
    package let clock: RotationClock
    package var pollInterval: Double = 2

    package var kind: RotationJournal.Kind { .certificate }

    package func newCertificateDER(_ j: RotationJournal) throws -> [UInt8] {
        guard let b64 = j.newCertificate, let der = Data(base64Encoded: b64) else {
            throw VaultError("rotation.stale", "the certificate rotation journal of '\(j.app)' lacks its new certificate", context: ["app": j.app])
        }
        return Array(der)
    }

    package func current(_ j: RotationJournal) throws -> CertificateCredential {
        guard let c = try storedCertificate() else {
            throw VaultError("rotation.stale", "app '\(j.app)' no longer holds a certificate to sign Graph's proof with", context: ["app": j.app])
        }
        return c
    }

    package func add(_ j: RotationJournal, newSecret: SecretBytes?, beforeSend: @escaping BeforeSend) throws -> AddedCredential {
        let apps = try applications()
        let der = try newCertificateDER(j)
        let objectID = j.objectID ?? ""
        guard j.movesFromSecret else {
            let proof = try JOSE.keyProof(try current(j), applicationObjectID: objectID, now: clock.now())
            return AddedCredential(keyID: try apps.addKey(objectID: objectID, certificate: der, displayName: j.displayName, proof: proof,
                                                          beforeSend: beforeSend).keyID)
        }
        // The whole collection, read with each key's certificate right before the write, so none is lost.
        let read = try apps.keysForUpdate()
        if let lost = zip(read.keys, read.raw).first(where: { !Applications.hasKey($0.1) }) {
            throw NothingAdded(error: VaultError("rotation.patch_unsafe", "Graph did not return the certificate of key \(lost.0.keyID), so writing the key collection would drop it; nothing was changed", context: ["app": j.app]))
        }
        try apps.replaceKeys(objectID: read.objectID, existing: read.raw, adding: der, displayName: j.displayName, beforeSend: beforeSend)
        // Nothing else lost: every key that was there is still there, and the new one is. Read until the write shows
        // (reads may lag writes), at most for the lag window.
        var after = try apps.keysForUpdate().keys
        let readUntil = clock.now().addingTimeInterval(lag.window(j))
        while !after.contains(where: { $0.thumbprint == j.newThumbprint }), clock.now() < readUntil {
            clock.sleeper.sleep(seconds: pollInterval)
            after = try apps.keysForUpdate().keys
        }
        let missing = read.keys.filter { k in !after.contains { $0.keyID == k.keyID } }
        guard missing.isEmpty, let added = after.first(where: { $0.thumbprint == j.newThumbprint }) else {
            throw RotationHalt(error: VaultError("rotation.patch_lost", "after writing the key collection, Graph no longer lists \(missing.isEmpty ? "the new certificate" : "key(s) " + missing.map(\.keyID).joined(separator: ", ")); the journal is kept", context: ["app": j.app]))
        }
        return AddedCredential(keyID: added.keyID)
    }

    /// The thumbprint says whether the key went on, whatever the lost answer was; absent counts only once Graph's lag
    /// window has passed since the rotation started.
    package func find(_ j: RotationJournal, until deadline: Date) throws -> Presence? {
        let apps = try applications()
        let settled = j.started.addingTimeInterval(lag.window(j))
        while true {
            if let k = try apps.keys().keys.first(where: { $0.thumbprint == j.newThumbprint }) { return .present(keyID: k.keyID) }
            let now = clock.now()
            if now >= settled { return .absent }
            if now >= deadline { return .unknown }
            clock.sleeper.sleep(seconds: min(pollInterval, max(0.05, min(settled, deadline).timeIntervalSince(now))))
        }
    }

    package func candidate(_ j: RotationJournal, newSecret: SecretBytes) throws -> AppCredential {
        .certificate(StoredCertificate(certificateBase64: j.newCertificate ?? "", privateKey: newSecret, algorithm: algorithm,
                                       sendX5C: sendX5C, notAfter: try CertificateInfo(der: try newCertificateDER(j)).notAfter))
    }

    package func removeOld(_ j: RotationJournal, until deadline: Date) throws -> OldRemoval {
        if j.movesFromSecret {
            // The password goes with the new certificate's token (the old one is long made: no lag to wait out).
            guard let old = j.oldPasswordKeyID else { return .nothing }
            let removal = GraphRemoval(apps: try applications(), lagWindow: 0, clock: clock)
            return try removal.remove(old, created: nil, deadline: clock.now()) ? .removed(keyID: old) : .gone
        }
        guard let old = j.oldKeyID, old != j.newKeyID else { return .nothing }
        // After the commit the stored certificate is the new one: it signs the proof.
        let proof = try JOSE.keyProof(try current(j), applicationObjectID: j.objectID ?? "", now: clock.now())
        return try applications().removeKey(objectID: j.objectID ?? "", keyID: old, proof: proof) == .removed ? .removed(keyID: old) : .gone
    }

    /// Takes the new key off the app again: with a proof signed by the certificate still stored, or, for a move from
    /// a secret, by writing the collection back without it. Waits for the key to show while reads may lag.
    package func removeNew(_ j: RotationJournal, until deadline: Date) throws -> Bool {
        let apps = try applications()
        let settled = j.started.addingTimeInterval(lag.window(j))
        func isNew(_ k: KeyCredential) -> Bool { k.thumbprint == j.newThumbprint || (j.newKeyID != nil && k.keyID == j.newKeyID) }
        while true {
            if j.movesFromSecret {
                let read = try apps.keysForUpdate()
                if read.keys.contains(where: isNew) {
                    let kept = zip(read.keys, read.raw).filter { !isNew($0.0) }.map(\.1)
                    try apps.replaceKeys(objectID: read.objectID, existing: kept, adding: nil, displayName: "", beforeSend: nil)
                    return true
                }
            } else if let k = try apps.keys().keys.first(where: isNew) {
                let proof = try JOSE.keyProof(try current(j), applicationObjectID: j.objectID ?? "", now: clock.now())
                _ = try apps.removeKey(objectID: j.objectID ?? "", keyID: k.keyID, proof: proof)
                return true
            }
            let now = clock.now()
            if now >= settled { return true }
            if now >= deadline { return false }
            clock.sleeper.sleep(seconds: min(pollInterval, max(0.05, min(settled, deadline).timeIntervalSince(now))))
        }
    }
}

/// The adding write was refused before anything was created: the journal goes, the error is the user's answer.
package struct NothingAdded: Error {
    package let error: VaultError
}
