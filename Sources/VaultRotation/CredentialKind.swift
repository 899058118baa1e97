import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultHTTP

/// The first seam of the rotation machine: what depends on the kind of credential rotated (a password Graph makes, a
/// certificate made in the vault; next, a federated credential). The machine owns the order of the steps, the
/// journal and the recovery; a kind owns the Graph calls of its credential.
package protocol CredentialKind: Sendable {
    var kind: RotationJournal.Kind { get }
    /// The one Graph write that adds the journaled new credential (never retried). `newSecret` is the new credential
    /// when the kind made it before the write (a certificate's private key); nil for a password, which Graph makes.
    /// `beforeSend` runs immediately before that write leaves (the home vouches for its claim there).
    func add(_ j: RotationJournal, newSecret: SecretBytes?, beforeSend: @escaping BeforeSend) throws -> AddedCredential
    /// After a lost or unbelievable answer to `add`: the new credential as the app shows it, looked for until
    /// `deadline`. Nil when the kind cannot go on without the answer (a password: its secret came only in it).
    func find(_ j: RotationJournal, until deadline: Date) throws -> Presence?
    /// The credential a token request proves the new one with.
    func candidate(_ j: RotationJournal, newSecret: SecretBytes) throws -> AppCredential
    /// Step `committed`: removes the replaced credential, with the new one. `.notYet` when `deadline` came before
    /// the removal was certain.
    func removeOld(_ j: RotationJournal, until deadline: Date) throws -> OldRemoval
    /// Rolling back: removes what the rotation added; false when `deadline` came before that was certain.
    func removeNew(_ j: RotationJournal, until deadline: Date) throws -> Bool
}

/// What the adding write answered.
package struct AddedCredential {
    package var keyID: String
    /// The new secret when Graph made it (a password).
    package var secret: SecretBytes?
    package var hint: String?
}

/// Where a journaled new credential stands on the app.
package enum Presence: Equatable {
    case present(keyID: String)
    /// Certainly not there: reads no longer show it and Graph's lag window has passed.
    case absent
    /// Not seen, but reads may still lag the write.
    case unknown
}

/// What a removal of the replaced credential did.
package enum OldRemoval: Equatable {
    case removed(keyID: String)
    /// Asked to remove it, Graph no longer had it.
    case gone
    /// Nothing to remove (not identified, or kept on purpose).
    case nothing
    case notYet
}

/// A rotation stopped on purpose with its journal left as it is, for the user to look at (`--resume` or
/// `--abandon` then): recovery would risk more than it saves.
package struct RotationHalt: Error {
    package let error: VaultError
}

/// The application registration's credentials as Graph exposes them: the calls a rotation makes, for one app.
/// `GraphApplicationCredentials` is Graph; tests use an in-memory twin.
package protocol ApplicationCredentials: Sendable {
    func passwords() throws -> [PasswordCredential]
    func addPassword(displayName: String, end: Date, beforeSend: BeforeSend?) throws -> AddedPassword
    func removePassword(keyID: String) throws -> Applications.Removal
    func keys() throws -> (keys: [KeyCredential], objectID: String)
    /// The key collection with each key's certificate, for a PATCH that must not lose one.
    func keysForUpdate() throws -> (keys: [KeyCredential], raw: [[UInt8]], objectID: String)
    func addKey(objectID: String, certificate: [UInt8], displayName: String, proof: SecretBytes, beforeSend: BeforeSend?) throws -> KeyCredential
    func removeKey(objectID: String, keyID: String, proof: SecretBytes) throws -> Applications.Removal
    func replaceKeys(objectID: String, existing: [[UInt8]], adding: [UInt8]?, displayName: String, beforeSend: BeforeSend?) throws
    func federatedCredentials() throws -> [FederatedIdentityCredential]
    func addFederated(_ new: FederatedIdentityCredential, beforeSend: BeforeSend?) throws -> FederatedIdentityCredential
    func removeFederated(idOrName: String) throws -> Applications.Removal
}

package struct GraphApplicationCredentials: ApplicationCredentials {
    package init(apps: Applications, appID: String) {
        self.apps = apps
        self.appID = appID
    }

    package let apps: Applications
    package let appID: String

    package func passwords() throws -> [PasswordCredential] { try apps.passwords(appID: appID) }
    package func addPassword(displayName: String, end: Date, beforeSend: BeforeSend?) throws -> AddedPassword {
        try apps.addPassword(appID: appID, displayName: displayName, end: end, beforeSend: beforeSend)
    }
    package func removePassword(keyID: String) throws -> Applications.Removal { try apps.removePassword(appID: appID, keyID: keyID) }
    package func keys() throws -> (keys: [KeyCredential], objectID: String) { try apps.keysAndObjectID(appID: appID) }
    package func keysForUpdate() throws -> (keys: [KeyCredential], raw: [[UInt8]], objectID: String) {
        try apps.keyCredentialsForUpdate(appID: appID)
    }
    package func addKey(objectID: String, certificate: [UInt8], displayName: String, proof: SecretBytes, beforeSend: BeforeSend?) throws -> KeyCredential {
        try apps.addKey(objectID: objectID, certificate: certificate, displayName: displayName, proof: proof, beforeSend: beforeSend)
    }
    package func removeKey(objectID: String, keyID: String, proof: SecretBytes) throws -> Applications.Removal {
        try apps.removeKey(objectID: objectID, keyID: keyID, proof: proof)
    }
    package func replaceKeys(objectID: String, existing: [[UInt8]], adding: [UInt8]?, displayName: String, beforeSend: BeforeSend?) throws {
        try apps.replaceKeyCredentials(objectID: objectID, existing: existing, adding: adding, displayName: displayName, beforeSend: beforeSend)
    }
    package func federatedCredentials() throws -> [FederatedIdentityCredential] { try apps.federatedCredentials(appID: appID) }
    package func addFederated(_ new: FederatedIdentityCredential, beforeSend: BeforeSend?) throws -> FederatedIdentityCredential {
        try apps.addFederatedCredential(appID: appID, new, beforeSend: beforeSend)
    }
    package func removeFederated(idOrName: String) throws -> Applications.Removal {
        try apps.removeFederatedCredential(appID: appID, idOrName: idOrName)
    }
}

/// Proves a new credential: a token with it straight from Entra ID (no cache), then one Graph call with that token.
/// One attempt each; the machine retries while the credential propagates.
package protocol CredentialProver: Sendable {
    func token(with credential: AppCredential) throws -> String
    func graphCall(with token: String) throws
}

/// Time as the machine sees it: the wall clock and waits, both injected in tests.
package struct RotationClock: Sendable {
    package init(now: @escaping @Sendable () -> Date, sleeper: any Sleeper) {
        self.now = now
        self.sleeper = sleeper
    }

    package var now: @Sendable () -> Date
    package var sleeper: any Sleeper

    package static let system = RotationClock(now: { Date() }, sleeper: ThreadSleeper())
}

/// How long after a write Graph's reads may still not show it (docs/protocols.md, "Graph: credential propagation":
/// reads are eventually consistent).
package struct LagPolicy: Sendable {
    package init(seconds: Double = LagPolicy.defaultSeconds, isExplicit: Bool = false) {
        self.seconds = seconds
        self.isExplicit = isExplicit
    }

    package var seconds: Double = LagPolicy.defaultSeconds
    /// Set when the user chose the window for this run: it then wins over the one a journal recorded.
    package var isExplicit = false
    package static let defaultSeconds: Double = 180

    package func window(_ j: RotationJournal) -> Double { isExplicit ? seconds : (j.lagWindow ?? seconds) }
}
