import FoundationEssentials
import VaultCrypto
import VaultStore

/// The rotation journal of `RotationService`: one record per app in the vault, every write a compare-and-swap on
/// the journal's id, so two processes never both advance the same rotation.
extension RotationService {
    func createJournal(_ j: RotationJournal) throws {
        try vault.update(unlock) { v in
            if try RotationJournal.load(v.contents, app: j.app) != nil {
                throw VaultError("rotation.pending", "a rotation of '\(j.app)' is pending", hint: "vault rotate-secret \(j.app) --resume", exit: .tempFailure)
            }
            v.contents.put(try j.record(newSecret: nil))
        }
    }

    func checkJournal(_ j: RotationJournal, in contents: VaultContents) throws {
        guard try RotationJournal.load(contents, app: j.app)?.journal.id == j.id else {
            throw VaultError("rotation.superseded", "the rotation journal of '\(j.app)' was changed by another process; this process stopped",
                             hint: "`vault status \(j.app)` shows where the rotation stands", exit: .tempFailure)
        }
    }

    func writeJournal(_ j: RotationJournal, secret: SecretBytes?) throws {
        try vault.update(unlock) { v in
            try checkJournal(j, in: v.contents)
            v.contents.put(try j.record(newSecret: secret))
        }
    }

    func deleteJournal(_ j: RotationJournal) throws {
        try vault.update(unlock) { v in
            try checkJournal(j, in: v.contents)
            v.contents.remove(kind: RotationJournal.kind, name: j.app)
        }
    }
}
