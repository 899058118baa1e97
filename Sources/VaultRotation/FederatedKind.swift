import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultHTTP

/// A federated identity credential as the new credential (`vault federate`): the app moves to an external issuer's
/// tokens. The adding write creates the FIC under the journal's unique name, so a lost answer is settled by reading it
/// back by that name; the proof is a token through it (Entra answers AADSTS70021 while a new FIC propagates, and the
/// machine waits that out); the commit makes the app's stored credential federated; the end removes the credentials
/// the user asked to remove (`removePasswords`, `removeKeys`), each only after the proof. A rollback deletes the FIC.
package struct FederatedKind: CredentialKind {
    package init(applications: @escaping @Sendable () throws -> any ApplicationCredentials, lag: LagPolicy, clock: RotationClock) {
        self.applications = applications
        self.lag = lag
        self.clock = clock
    }

    package let applications: @Sendable () throws -> any ApplicationCredentials
    package let lag: LagPolicy
    package let clock: RotationClock
    package var pollInterval: Double = 2

    package var kind: RotationJournal.Kind { .federated }

    /// The FIC the journal describes.
    package static func credential(_ j: RotationJournal) -> FederatedIdentityCredential {
        FederatedIdentityCredential(name: j.displayName, issuer: j.issuer ?? "", subject: j.subject ?? "", audiences: [j.audience ?? ""],
                                    description: "vault federate \(j.shortID)")
    }

    package func add(_ j: RotationJournal, newSecret: SecretBytes?, beforeSend: @escaping BeforeSend) throws -> AddedCredential {
        AddedCredential(keyID: try applications().addFederated(Self.credential(j), beforeSend: beforeSend).id)
    }

    /// Whether a FIC the app has is the one this journal made: its unique name, and the issuer and subject it was made
    /// with (a name given with --name could be someone else's, whose credential must never be taken for, or removed
    /// as, vault's).
    static func isMine(_ f: FederatedIdentityCredential, _ j: RotationJournal) -> Bool {
        f.name.lowercased() == j.displayName.lowercased() && f.issuer == j.issuer && f.subject == j.subject
            && f.description == credential(j).description
    }

    /// By its unique name (with its issuer and subject); absent counts only once Graph's lag window has passed since
    /// the move started.
    package func find(_ j: RotationJournal, until deadline: Date) throws -> Presence? {
        let apps = try applications()
        let settled = j.started.addingTimeInterval(lag.window(j))
        while true {
            if let f = try apps.federatedCredentials().first(where: { Self.isMine($0, j) }) { return .present(keyID: f.id) }
            let now = clock.now()
            if now >= settled { return .absent }
            if now >= deadline { return .unknown }
            clock.sleeper.sleep(seconds: min(pollInterval, max(0.05, min(settled, deadline).timeIntervalSince(now))))
        }
    }

    package func candidate(_ j: RotationJournal, newSecret: SecretBytes) throws -> AppCredential {
        .federated(try FederatedSource.parse(j.federatedSource ?? ""))
    }

    /// After the commit: every password and key the user asked to remove, each removal certain before the next.
    package func removeOld(_ j: RotationJournal, until deadline: Date) throws -> OldRemoval {
        guard !j.removePasswords.isEmpty || !j.removeKeys.isEmpty else { return .nothing }
        let apps = try applications()
        // Long-made credentials: no lag to wait out for them.
        let removal = GraphRemoval(apps: apps, lagWindow: 0, clock: clock)
        for keyID in j.removePasswords where try !removal.remove(keyID, created: nil, deadline: deadline) { return .notYet }
        if !j.removeKeys.isEmpty {
            let read = try apps.keysForUpdate()
            let doomed = Set(j.removeKeys)
            if read.keys.contains(where: { doomed.contains($0.keyID) }) {
                // Keys made after the move started are kept: the collection is written back without the journaled ones.
                if let lost = zip(read.keys, read.raw).first(where: { !doomed.contains($0.0.keyID) && !Applications.hasKey($0.1) }) {
                    throw RotationHalt(error: VaultError("rotation.patch_unsafe", "Graph did not return every certificate of the app, so writing its key collection would drop key \(lost.0.keyID); the keys were not removed", context: ["app": j.app]))
                }
                let kept = zip(read.keys, read.raw).filter { !doomed.contains($0.0.keyID) }.map(\.1)
                try apps.replaceKeys(objectID: read.objectID, existing: kept, adding: nil, displayName: "", beforeSend: nil)
            }
        }
        return .removed(keyID: (j.removePasswords + j.removeKeys).joined(separator: ", "))
    }

    /// Rolling back: the FIC goes (by its unique name, issuer and subject, or the id Graph gave it); certain once a read no longer shows it after the lag window.
    package func removeNew(_ j: RotationJournal, until deadline: Date) throws -> Bool {
        let apps = try applications()
        let settled = j.started.addingTimeInterval(lag.window(j))
        while true {
            let mine = try apps.federatedCredentials().filter { Self.isMine($0, j) || (j.newKeyID != nil && $0.id == j.newKeyID) }
            for f in mine { _ = try apps.removeFederated(idOrName: f.id) }
            let now = clock.now()
            if mine.isEmpty && now >= settled { return true }
            if now >= deadline { return false }
            clock.sleeper.sleep(seconds: min(pollInterval, max(0.05, min(settled, deadline).timeIntervalSince(now))))
        }
    }
}
