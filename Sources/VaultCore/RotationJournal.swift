import FoundationEssentials
import VaultCrypto
import VaultStore

/// The rotation journal entry for one app, stored encrypted in the vault (record kind "rotation"). It is written
/// before the new password is added and updated after each step, so an interrupted rotation can be finished or
/// rolled back. The new secret is kept in the record's secrets (`new`) from the moment Graph returns it.
///
/// A journal is bound to what it rotates: the app's client id and tenant, and keyed fingerprints of the secret it
/// replaces and of the one it adds. A journal that no longer matches its app is refused, never committed. Every
/// write is a compare-and-swap on `id`, made under the app's rotation lock.
public struct RotationJournal: Codable, Sendable, Equatable {
    public enum Step: String, Codable, Sendable {
        /// addPassword may have run; the new secret is unknown. Recovery: remove orphans, roll back.
        case adding
        /// The new password exists and its secret is journaled. Recovery: prove it, then go on.
        case added
        /// The new secret works. Recovery: commit it.
        case proven
        /// The vault holds the new secret as current. Recovery: remove the old password.
        case committed
        /// Rolling back: the password this rotation added (`newKeyID`, or any with its display name) must go; the
        /// stored secret is unchanged. Recovery: remove it, confirmed over the lag window.
        case removing
    }

    public var id: String
    public var app: String
    public var step: Step
    public var started: Date
    public var displayName: String
    public var keyIDsBefore: [String]
    public var oldKeyID: String?
    public var newKeyID: String?
    public var newHint: String?
    public var newEnd: Date
    public var keepOld: Bool
    /// Binding (absent in journals written before it existed: those are trusted as they are).
    public var clientID: String?
    public var tenant: String?
    public var oldFingerprint: String?
    public var newFingerprint: String?
    /// Seconds after a write during which Graph's reads may not show it yet (graph-api.md §5.5).
    public var lagWindow: Double?
    /// When the old password was created, if known (a previous rotation): its removal is confirmed over the window.
    public var oldCreated: Date?
    /// A fleet app: the KV version of the app's record the rotation started from (the commit is check-and-set on it).
    public var backendVersion: Int?

    enum CodingKeys: String, CodingKey {
        case id, app, step, started, displayName = "display_name", keyIDsBefore = "key_ids_before", oldKeyID = "old_key_id"
        case newKeyID = "new_key_id", newHint = "new_hint", newEnd = "new_end", keepOld = "keep_old"
        case clientID = "client_id", tenant, oldFingerprint = "old_fingerprint", newFingerprint = "new_fingerprint"
        case lagWindow = "lag_window", oldCreated = "old_created", backendVersion = "backend_version"
    }

    static let kind = "rotation"

    public var shortID: String { String(id.prefix(8)) }

    func record(newSecret: SecretBytes?) throws -> StoredRecord {
        StoredRecord(kind: Self.kind, name: app, metadata: Array(try VaultContents.encoder.encode(self)),
                     secrets: newSecret.map { ["new": $0] } ?? [:])
    }

    static func load(_ contents: VaultContents, app: String) throws -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        guard let r = try contents.record(kind: kind, name: app) else { return nil }
        guard let j = try? VaultContents.decoder.decode(RotationJournal.self, from: Data(r.metadata)) else {
            // An unreadable journal still blocks: it is reported, never silently dropped.
            return (RotationJournal(id: "unreadable", app: app, step: .adding, started: .distantPast, displayName: "",
                                    keyIDsBefore: [], newEnd: .distantPast, keepOld: true), nil)
        }
        return (j, r.secrets["new"])
    }

    /// Why this journal does not belong to the stored app (nil when it does). `current` is the stored secret,
    /// `fingerprint` the home's keyed fingerprint.
    func mismatch(with meta: AppMetadata, current: SecretBytes?, fingerprint: (SecretBytes) throws -> String) throws -> String? {
        if id == "unreadable" { return "its journal record cannot be read" }
        if let c = clientID, c.lowercased() != meta.clientID.lowercased() { return "it was started for client id \(c), and the app now has \(meta.clientID)" }
        if let t = tenant, t.lowercased() != meta.tenant.lowercased() { return "it was started for tenant \(t), and the app is now in \(meta.tenant)" }
        guard let current else { return "the app no longer holds a client secret" }
        let fp = try fingerprint(current)
        let expected = step == .committed ? newFingerprint : oldFingerprint
        // A fleet commit is two writes (the app's record, then the journal): a `proven` journal whose app already
        // holds the new secret stopped between them, and its commit is finished, not refused.
        if step == .proven, let n = newFingerprint, n == fp { return nil }
        if let expected, expected != fp {
            return step == .committed ? "the stored secret is not the one it committed" : "the stored secret is not the one it set out to replace"
        }
        return nil
    }
}
