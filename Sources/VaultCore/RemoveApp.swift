import VaultCrypto
import VaultStore

/// Use case: remove a stored app, its secrets and any pending rotation journal of it (with the journal's secret).
public struct RemoveApp: Sendable {
    public let vault: Vault
    public init(vault: Vault) { self.vault = vault }

    /// Returns the journal that went with the app, if any, so the caller can name a password it may have left.
    /// Refused while another process drives a rotation of the app.
    public func run(_ name: String, unlock: Credential) throws -> RotationJournal? { try runAll(name, unlock: unlock).secret }

    /// Removes the app and any rotation journal of it (secret or certificate), returning both journals.
    public func runAll(_ name: String, unlock: Credential) throws -> (secret: RotationJournal?, certificate: CertificateRotationJournal?) {
        guard let held = try RotationLock.acquire(vault.directory, app: name, wait: false) else {
            throw VaultError("rotation.busy", "another vault process is rotating the secret of '\(name)' right now; nothing was removed",
                             hint: "let it finish, then remove the app", exit: .tempFailure)
        }
        defer { held.release() }
        return try vault.update(unlock) { v in
            let journal = try RotationJournal.load(v.contents, app: name)?.journal
            let certJournal = (try? CertificateRotationJournal.load(v.contents, app: name)) ?? nil
            guard v.contents.remove(kind: "app", name: name) else { throw VaultError.unknownApp(name) }
            v.contents.remove(kind: RotationJournal.kind, name: name)
            v.contents.remove(kind: CertificateRotationJournal.kind, name: name)
            return (journal, certJournal?.journal)
        }
    }
}
