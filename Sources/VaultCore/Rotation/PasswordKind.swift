import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto

/// A client secret as the rotated credential: Graph makes it (addPassword answers with the secret, once), and it is
/// removed with removePassword, confirmed over Graph's lag window.
struct PasswordKind: CredentialKind {
    /// The app's credentials on Graph, with the credential the app's home holds now (the old one before the commit,
    /// the new one after it).
    let applications: @Sendable () throws -> any ApplicationCredentials
    let lag: LagPolicy
    let clock: RotationClock

    var kind: RotationJournal.Kind { .password }

    func add(_ j: RotationJournal, newSecret: SecretBytes?) throws -> AddedCredential {
        let added = try applications().addPassword(displayName: j.displayName, end: j.newEnd ?? j.started)
        return AddedCredential(keyID: added.credential.keyID, secret: added.secret,
                               hint: added.credential.hint ?? added.secret.prefixString(3))
    }

    /// The secret was only in the lost answer: a password rotation cannot go on from `adding`.
    func find(_ j: RotationJournal, until deadline: Date) throws -> Presence? { nil }

    func candidate(_ j: RotationJournal, newSecret: SecretBytes) throws -> AppCredential { .secret(newSecret) }

    func removeOld(_ j: RotationJournal, until deadline: Date) throws -> OldRemoval {
        guard let old = j.oldKeyID, !j.keepOld, old != j.newKeyID else { return .nothing }
        let removal = GraphRemoval(apps: try applications(), lagWindow: lag.window(j), clock: clock)
        return try removal.remove(old, created: j.oldCreated, deadline: deadline) ? .removed(keyID: old) : .notYet
    }

    func removeNew(_ j: RotationJournal, until deadline: Date) throws -> Bool {
        try GraphRemoval(apps: try applications(), lagWindow: lag.window(j), clock: clock).sweep(j, deadline: deadline)
    }
}
