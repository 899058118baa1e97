import FoundationEssentials
import VaultCrypto
import VaultStore

/// The journal of a certificate rotation (record kind "cert-rotation", one per app), written before addKey and after
/// each step. The new key pair is made inside the vault and journaled (secret "new_key") before Graph sees its
/// certificate, so an interrupted rotation is finished or rolled back from the vault alone.
///
/// Bound to what it rotates: the app's client id and tenant, the thumbprint of the certificate it replaces and of
/// the one it adds; a journal that no longer matches the stored app is refused. Writes are compare-and-swap on `id`
/// under the app's rotation lock, the same lock `rotate-secret` takes: one rotation of any kind per app at a time.
public struct CertificateRotationJournal: Codable, Sendable, Equatable {
    public enum Step: String, Codable, Sendable {
        /// addKey may have run. Recovery: find the new thumbprint on the app (then go on) or drop the journal.
        case adding
        /// The new key is on the app (`newKeyID`). Recovery: prove it, commit, remove the old key.
        case added
        /// The new certificate works. Recovery: commit it.
        case proven
        /// The vault holds the new certificate. Recovery: remove the old key.
        case committed
    }

    public var id: String
    public var app: String
    public var step: Step
    public var started: Date
    public var clientID: String
    public var tenant: String
    public var objectID: String
    public var displayName: String
    public var oldKeyID: String?
    public var oldThumbprint: String
    public var newThumbprint: String
    /// The new certificate, base64 DER (public).
    public var newCertificate: String
    public var newKeyID: String?
    /// A move from a client secret to a certificate (`rotate-secret --to-certificate`): keys are written with PATCH,
    /// and the old credential removed at the end is the password `oldPasswordKeyID`.
    public var fromSecret: Bool?
    public var oldPasswordKeyID: String?

    var movesFromSecret: Bool { fromSecret == true }

    enum CodingKeys: String, CodingKey {
        case fromSecret = "from_secret", oldPasswordKeyID = "old_password_key_id"
        case id, app, step, started, clientID = "client_id", tenant, objectID = "object_id", displayName = "display_name"
        case oldKeyID = "old_key_id", oldThumbprint = "old_thumbprint", newThumbprint = "new_thumbprint"
        case newCertificate = "new_certificate", newKeyID = "new_key_id"
    }

    public static let kind = "cert-rotation"
    static let keySecret = "new_key"

    func record(newKey: SecretBytes?) throws -> StoredRecord {
        StoredRecord(kind: Self.kind, name: app, metadata: Array(try VaultContents.encoder.encode(self)),
                     secrets: newKey.map { [Self.keySecret: $0] } ?? [:])
    }

    static func load(_ contents: VaultContents, app: String) throws -> (journal: CertificateRotationJournal, newKey: SecretBytes?)? {
        guard let r = try contents.record(kind: kind, name: app) else { return nil }
        guard let j = try? VaultContents.decoder.decode(CertificateRotationJournal.self, from: Data(r.metadata)) else {
            throw VaultError("rotation.stale", "the certificate rotation journal of '\(app)' cannot be read",
                             hint: "drop it with `vault rotate-cert \(app) --abandon`", exit: .dataError)
        }
        return (j, r.secrets[keySecret])
    }

    /// Why this journal does not belong to the stored app (nil when it does).
    func mismatch(with meta: AppMetadata) -> String? {
        if clientID.lowercased() != meta.clientID.lowercased() { return "it was started for client id \(clientID), and the app now has \(meta.clientID)" }
        if tenant.lowercased() != meta.tenant.lowercased() { return "it was started for tenant \(tenant), and the app is now in \(meta.tenant)" }
        let expected: String? = step == .committed ? newThumbprint : (movesFromSecret ? nil : oldThumbprint)
        if movesFromSecret && step != .committed && meta.certificate != nil {
            return "the app holds a certificate now; the move from its secret was not finished"
        }
        if meta.certificateSHA1 != expected {
            return step == .committed ? "the stored certificate is not the one it committed" : "the stored certificate is not the one it set out to replace"
        }
        return nil
    }
}
