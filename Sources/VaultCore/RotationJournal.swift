import FoundationEssentials
import VaultCrypto
import VaultStore

/// The rotation journal entry for one app, stored encrypted in the vault (record kind "rotation"). It is written
/// before the new password is added and updated after each step, so an interrupted rotation can be finished or
/// rolled back. The new secret is kept in the record's secrets (`new`) from the moment Graph returns it.
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

    enum CodingKeys: String, CodingKey {
        case id, app, step, started, displayName = "display_name", keyIDsBefore = "key_ids_before", oldKeyID = "old_key_id"
        case newKeyID = "new_key_id", newHint = "new_hint", newEnd = "new_end", keepOld = "keep_old"
    }

    static let kind = "rotation"

    func record(newSecret: SecretBytes?) throws -> StoredRecord {
        StoredRecord(kind: Self.kind, name: app, metadata: Array(try VaultContents.encoder.encode(self)),
                     secrets: newSecret.map { ["new": $0] } ?? [:])
    }

    static func load(_ contents: VaultContents, app: String) -> (journal: RotationJournal, newSecret: SecretBytes?)? {
        guard let r = contents.record(kind: kind, name: app),
              let j = try? VaultContents.decoder.decode(RotationJournal.self, from: Data(r.metadata)) else { return nil }
        return (j, r.secrets["new"])
    }
}
