import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultStore
import VaultFormat
import VaultRecords

/// Use case: changes of the vault's key slots that revoke, not just rewrap. Removing a slot or changing the
/// passphrase replaces the master key whenever every remaining slot's credential is at hand (docs/FORMAT.md §3.2),
/// so whoever kept the old credential and an old copy of `vault.db` cannot open anything written afterwards.
///
/// While it runs it holds every stored app's rotation lock (a rotation in flight computes journal fingerprints from
/// the master key it opened), and re-derives the journals' fingerprints under the new key.
public struct SlotChanges: Sendable {
    public let vault: Vault
    public let unlock: Credential
    /// Every other credential the caller could gather (key files, passphrase files, systemd credentials, prompts).
    public let available: [Credential]
    /// Every change of the key slots is written here (`vault.key_slots`, its step and outcome), failed ones included.
    public var audit: (any AuditSink)?
    public var requester: AuditRequester

    public init(vault: Vault, unlock: Credential, available: [Credential], audit: (any AuditSink)? = nil,
                requester: AuditRequester = AuditRequester(command: "key")) {
        self.vault = vault
        self.unlock = unlock
        self.available = available
        self.audit = audit
        self.requester = requester
    }

    /// Runs one slot change and records it, with its outcome, in the audit log.
    func audited<R>(_ step: String, _ body: () throws -> R) throws -> R {
        do {
            let result = try body()
            audit?.record(AuditEvent(time: Date(), kind: .keySlots, app: nil, clientID: nil, resource: nil, requester: requester,
                                     outcome: "ok", step: step))
            return result
        } catch {
            let code = (error as? VaultError)?.code.rawValue ?? "error"
            audit?.record(AuditEvent(time: Date(), kind: .keySlots, app: nil, clientID: nil, resource: nil, requester: requester,
                                     outcome: code, step: step))
            throw error
        }
    }

    public func rekey() throws {
        try audited("rekey") {
            try withRotationLocks { try vault.rekey(unlockingWith: unlock, available: available, rebind: Self.rebindJournals) }
        }
    }

    /// Adds a key-file slot for `key`; returns the new slot's id.
    public func addKeyFileSlot(_ key: SecretBytes) throws -> String {
        try audited("key-add-file") { try vault.addSlot(unlockingWith: unlock, newCredential: .keyFile(key)) }
    }

    public func removeSlot(_ id: String, rekey: Bool) throws -> RekeyOutcome {
        // The plain refusals first, so they leave the directory as it was (no lock files created).
        let slots = try vault.open(unlock).file.slots
        guard slots.contains(where: { $0.idHex == id.lowercased() }) else {
            throw VaultError("slots.unknown", "no key slot \(id)")
        }
        guard slots.count > 1 else {
            throw VaultError("slots.last", "refusing to remove the only key slot: the vault could never be opened again")
        }
        return try audited("key-remove") {
            try withRotationLocks {
                try vault.removeSlot(unlockingWith: unlock, slotID: id, available: available, rekey: rekey ? .whenPossible : .never,
                                     rebind: Self.rebindJournals)
            }
        }
    }

    public func changePassphrase(to new: SecretBytes, rekey: Bool) throws -> RekeyOutcome {
        try audited("passwd") {
            try withRotationLocks {
                try vault.changePassphrase(unlockingWith: unlock, to: new, available: available, rekey: rekey ? .whenPossible : .never,
                                           rebind: Self.rebindJournals)
            }
        }
    }

    /// The slots a rekey could not rewrap with what is at hand.
    public func slotsWithoutCredential() throws -> [String] {
        try vault.slotsWithoutCredential(unlockingWith: unlock, available: available)
    }

    func withRotationLocks<R>(_ body: () throws -> R) throws -> R {
        let names = try vault.open(unlock).contents.names(kind: "app")
        var held: [RotationLock] = []
        defer { held.forEach { $0.release() } }
        for name in names {
            guard let lock = try RotationLock.acquire(vault.directory, app: name, wait: false) else {
                throw VaultError("rotation.busy", "a rotation of '\(name)' is running, so the vault's keys were not changed", context: ["case": "rekey"])
            }
            held.append(lock)
        }
        return try body()
    }

    /// Journal fingerprints are keyed by the master key: each one that names a secret still in the vault is computed
    /// again under the new key; one that names none stays unmatched (a fresh random value), so a journal refused
    /// before the rekey is refused after it.
    public static let rebindJournals: RebindContents = { contents, old, new in
        for name in contents.names(kind: RotationJournal.recordKind(.password)) {
            guard var record = try contents.record(kind: RotationJournal.recordKind(.password), name: name),
                  var journal = try? VaultContents.decoder.decode(RotationJournal.self, from: Data(record.metadata)) else { continue }
            let app = try contents.app(named: record.name)
            let candidates = [app?.secret, app?.previous, record.secrets["new"]].compactMap { $0 }
            func rebound(_ fingerprint: String?) throws -> String? {
                guard let fingerprint else { return nil }
                for c in candidates where try KeyDerivation.fingerprint(of: c, master: old) == fingerprint {
                    return try KeyDerivation.fingerprint(of: c, master: new)
                }
                return SystemRandom().bytes(16).map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
            }
            journal.oldFingerprint = try rebound(journal.oldFingerprint)
            journal.newFingerprint = try rebound(journal.newFingerprint)
            record.metadata = Array(try VaultContents.encoder.encode(journal))
            contents.put(record)
        }
    }
}
