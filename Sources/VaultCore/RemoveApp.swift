import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultStore
import VaultFormat
import VaultRecords

/// Use case: remove a stored app, its secrets and any pending rotation journal of it (with the journal's secret).
public struct RemoveApp: Sendable {
    public let vault: Vault
    public init(vault: Vault) { self.vault = vault }

    /// Returns the journal (of either kind) that went with the app, if any, so the caller can name a password it may have left.
    /// Refused while another process drives a rotation of the app.
    public func run(_ name: String, unlock: Credential) throws -> RotationJournal? {
        guard let held = try RotationLock.acquire(vault.directory, app: name, wait: false) else {
            throw VaultError("rotation.busy", "another vault process is rotating the secret of '\(name)' right now; nothing was removed", context: ["case": "remove"])
        }
        defer { held.release() }
        return try vault.update(unlock) { v in
            let journal = try RotationJournal.load(v.contents, app: name)?.journal
            guard v.contents.remove(kind: "app", name: name) else { throw VaultError.unknownApp(name) }
            for kind in RotationJournal.recordKinds { v.contents.remove(kind: kind, name: name) }
            return journal
        }
    }
}
