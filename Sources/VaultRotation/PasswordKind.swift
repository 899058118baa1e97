import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultHTTP

/// A client secret as the rotated credential: Graph makes it (addPassword answers with the secret, once), and it is
/// removed with removePassword, confirmed over Graph's lag window.
package struct PasswordKind: CredentialKind {
    package init(applications: @escaping @Sendable () throws -> any ApplicationCredentials, lag: LagPolicy, clock: RotationClock) {
        self.applications = applications
        self.lag = lag
        self.clock = clock
    }

    /// The app's credentials on Graph, with the credential the app's home holds now (the old one before the commit,
    /// the new one after it).
    package let applications: @Sendable () throws -> any ApplicationCredentials
    package let lag: LagPolicy
    package let clock: RotationClock

    package var kind: RotationJournal.Kind { .password }

    package func add(_ j: RotationJournal, newSecret: SecretBytes?, beforeSend: @escaping BeforeSend) throws -> AddedCredential {
        let added = try applications().addPassword(displayName: j.displayName, end: j.newEnd ?? j.started, beforeSend: beforeSend)
        return AddedCredential(keyID: added.credential.keyID, secret: added.secret,
                               hint: added.credential.hint ?? added.secret.prefixString(3))
    }

    /// The secret was only in the lost answer: a password rotation cannot go on from `adding`.
    package func find(_ j: RotationJournal, until deadline: Date) throws -> Presence? { nil }

    package func candidate(_ j: RotationJournal, newSecret: SecretBytes) throws -> AppCredential { .secret(newSecret) }

    package func removeOld(_ j: RotationJournal, until deadline: Date) throws -> OldRemoval {
        guard let old = j.oldKeyID, !j.keepOld, old != j.newKeyID else { return .nothing }
        let removal = GraphRemoval(apps: try applications(), lagWindow: lag.window(j), clock: clock)
        return try removal.remove(old, created: j.oldCreated, deadline: deadline) ? .removed(keyID: old) : .notYet
    }

    package func removeNew(_ j: RotationJournal, until deadline: Date) throws -> Bool {
        try GraphRemoval(apps: try applications(), lagWindow: lag.window(j), clock: clock).sweep(j, deadline: deadline)
    }
}
