import VaultCrypto
import VaultErrors
import VaultFormat
import VaultRecords

/// The file-backed vault: every change is read-modify-write under the exclusive lock, written atomically.
public struct Vault: Sendable {
    public let directory: VaultDirectory
    public let random: any RandomSource

    public init(directory: VaultDirectory, random: any RandomSource = SystemRandom()) {
        self.directory = directory
        self.random = random
    }

    /// Creates a new, empty vault. Refuses to overwrite an existing one.
    public func create(credentials: [Credential], kdf: KDFParameters = .default) throws {
        try directory.create()
        try directory.withExclusiveLock {
            if directory.exists {
                throw VaultError("vault.exists", "a vault already exists at \(directory.path)")
            }
            let (bytes, _) = try VaultCodec.create(credentials: credentials, kdf: kdf, random: random)
            try directory.writeAtomically(VaultDirectory.secretsFileName, bytes)
        }
    }

    /// Opens the vault for reading (no lock needed: files are only ever replaced by rename). Records are read from
    /// the file as they are asked for.
    public func open(_ credential: Credential) throws -> UnlockedVault {
        try VaultCodec.unlockAndOpen(try directory.openSecrets(), with: credential)
    }

    /// Read-modify-write under the lock. `change` may throw to abandon the change: nothing is written then.
    /// Returns what `change` returns.
    @discardableResult
    public func update<R>(_ credential: Credential, _ change: (inout UnlockedVault) throws -> R) throws -> R {
        try directory.withExclusiveLock {
            var vault = try VaultCodec.unlockAndOpen(try directory.readSecrets(), with: credential)
            let result = try change(&vault)
            try directory.writeAtomically(VaultDirectory.secretsFileName, parts: try vault.sealedParts(random: random))
            return result
        }
    }

    // MARK: key slots and rekeying

    /// Adds a key slot for `newCredential`; returns its id (hex). Adding a way in needs no new master key.
    @discardableResult
    public func addSlot(unlockingWith credential: Credential, newCredential: Credential, kdf: KDFParameters = .default) throws -> String {
        try update(credential) { vault in
            guard vault.file.slots.count < VaultFile.maxSlots else {
                throw VaultError("slots.full", "the vault already has \(VaultFile.maxSlots) key slots")
            }
            let slot = try KeySlots.make(for: newCredential, master: vault.master, vaultID: vault.file.vaultID, kdf: kdf, random: random)
            vault.file.slots.append(slot)
            return slot.idHex
        }
    }

    /// Removes the slot with id `slotID` (hex), then rekeys when every remaining slot's credential is in `available`
    /// (and `rekey` is not `.never`). The last slot cannot be removed.
    public func removeSlot(unlockingWith credential: Credential, slotID: String, available: [Credential] = [], rekey: RekeyPolicy = .whenPossible,
                           rebind: @escaping RebindContents = { _, _, _ in }) throws -> RekeyOutcome {
        try changeSlots(unlockingWith: credential, available: available, rekey: rekey, rebind: rebind) { plans, _ in
            guard let index = plans.firstIndex(where: { $0.slot.idHex == slotID.lowercased() }) else {
                throw VaultError("slots.unknown", "no key slot \(slotID)")
            }
            guard plans.count > 1 else {
                throw VaultError("slots.last", "refusing to remove the only key slot: the vault could never be opened again")
            }
            plans.remove(at: index)
        }
    }

    /// Replaces the passphrase slot that `credential` opened (or every passphrase slot when unlocked by key file)
    /// with one for `newPassphrase`, then rekeys as `removeSlot` does.
    public func changePassphrase(unlockingWith credential: Credential, to newPassphrase: SecretBytes, kdf: KDFParameters = .default,
                                 available: [Credential] = [], rekey: RekeyPolicy = .whenPossible,
                                 rebind: @escaping RebindContents = { _, _, _ in }) throws -> RekeyOutcome {
        try changeSlots(unlockingWith: credential, available: available, rekey: rekey, rebind: rebind) { plans, opened in
            let fresh = SlotPlan(slot: KeySlot(kind: .passphrase, id: random.bytes(8), kdf: kdf, salt: [], nonce: [], wrappedKey: []),
                                 credential: .passphrase(newPassphrase), isNew: true)
            if credential.slotKind == .passphrase {
                plans[opened] = fresh
            } else if let i = plans.firstIndex(where: { $0.slot.kind == .passphrase }) {
                plans[i] = fresh
                plans.removeAll { $0.slot.kind == .passphrase && !$0.isNew }
            } else {
                guard plans.count < VaultFile.maxSlots else {
                    throw VaultError("slots.full", "the vault already has \(VaultFile.maxSlots) key slots")
                }
                plans.append(fresh)
            }
        }
    }

    /// A new master key for the slots as they are: every slot's credential must be in `available`.
    public func rekey(unlockingWith credential: Credential, available: [Credential], rebind: @escaping RebindContents = { _, _, _ in }) throws {
        _ = try changeSlots(unlockingWith: credential, available: available, rekey: .required, rebind: rebind) { _, _ in }
    }

    /// The slots' ids whose credentials are not among `available` (so a rekey now would fail).
    public func slotsWithoutCredential(unlockingWith credential: Credential, available: [Credential]) throws -> [String] {
        let v = try open(credential)
        return try SlotPlan.match(v, available: [credential] + available).filter { $0.credential == nil }.map(\.slot.idHex)
    }

    /// The one path for every slot change (docs/FORMAT.md §3.2). Under every app's token lock (the whole of
    /// `tokens.lock`) and then `vault.lock` (the order token fetches use), the vault is opened, each slot matched with its credential, `edit` applied, and then:
    /// - **rekey** (every slot's credential at hand, policy not `.never`): a new random master key; every slot made
    ///   again for it (same id and kind, new salt and nonce), `rebind` re-keys what the contents derived from the old
    ///   master (journal fingerprints), every record is sealed under the new key, and every token cache is deleted *before*
    ///   the new `vault.db` is renamed into place. An old credential and an old copy of `vault.db` yield the old master
    ///   key, which opens nothing written from now on.
    /// - **rewrap** (policy `.whenPossible` and a credential missing): new slots are wrapped around the old master key
    ///   and the outcome names the slots that prevented a rekey.
    func changeSlots(unlockingWith credential: Credential, available: [Credential], rekey: RekeyPolicy, rebind: RebindContents,
                     edit: (inout [SlotPlan], Int) throws -> Void) throws -> RekeyOutcome {
        let tokens = try RangeLock.allTokens(directory)
        defer { tokens.release() }
        return try directory.withExclusiveLock {
            var vault = try VaultCodec.unlockAndOpen(try directory.readSecrets(), with: credential)
            var plans = try SlotPlan.match(vault, available: [credential] + available)
            try edit(&plans, vault.openedSlot)
            guard !plans.isEmpty else { throw VaultError("slots.last", "a vault needs at least one key slot", context: ["case": "none"]) }
            let missing = plans.filter { $0.credential == nil }.map(\.slot.idHex)
            if rekey == .required, !missing.isEmpty {
                throw VaultError("rekey.credentials", "cannot rekey: the credential of key slot\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", ")) was not given")
            }
            if rekey != .never, missing.isEmpty {
                var fresh = random.bytes(32)
                let master = SecretBytes(consuming: &fresh)
                var slots: [KeySlot] = []
                for plan in plans {
                    var slot = try KeySlots.make(for: plan.credential!, master: master, vaultID: vault.file.vaultID,
                                                 kdf: plan.slot.kdf ?? .default, random: random, id: plan.slot.id)
                    slot.kind = plan.slot.kind
                    slots.append(slot)
                }
                var contents = vault.contents
                try rebind(&contents, vault.master, master)
                var file = vault.file
                file.slots = slots
                let parts = try VaultCodec.seal(contents, into: file, master: master, random: random).encodedParts()
                try directory.removeTokenCaches()
                try directory.writeAtomically(VaultDirectory.secretsFileName, parts: parts)
                return .rekeyed
            }
            var slots: [KeySlot] = []
            for plan in plans {
                if plan.isNew {
                    slots.append(try KeySlots.make(for: plan.credential!, master: vault.master, vaultID: vault.file.vaultID,
                                                   kdf: plan.slot.kdf ?? .default, random: random, id: plan.slot.id))
                } else {
                    slots.append(plan.slot)
                }
            }
            vault.file.slots = slots
            try directory.writeAtomically(VaultDirectory.secretsFileName, parts: try vault.sealedParts(random: random))
            return .rewrapped(missing: missing)
        }
    }
}

/// Whether a slot change also replaces the master key.
public enum RekeyPolicy: Sendable, Equatable {
    /// Rekey, or fail naming the slots whose credentials are missing.
    case required
    /// Rekey when every slot's credential is at hand, else only rewrap (the outcome says which slots stopped it).
    case whenPossible
    /// Only rewrap.
    case never
}

public enum RekeyOutcome: Sendable, Equatable {
    case rekeyed
    /// The master key was kept; `missing` are the slots whose credentials were not at hand (empty with `.never`).
    case rewrapped(missing: [String])
}

/// Re-derives, under the new master key, whatever the contents computed from the old one (old, new).
public typealias RebindContents = @Sendable (inout VaultContents, SecretBytes, SecretBytes) throws -> Void

/// A slot during a change, with the credential that opens it when one was given.
struct SlotPlan {
    var slot: KeySlot
    var credential: Credential?
    var isNew = false

    /// Each slot with the first given credential that unwraps the vault's master key from it. KDF parameters of all
    /// slots were checked before the vault opened (`KeySlots.unlock`).
    static func match(_ vault: UnlockedVault, available: [Credential]) throws -> [SlotPlan] {
        try vault.file.slots.enumerated().map { i, slot in
            if i == vault.openedSlot { return SlotPlan(slot: slot, credential: available[0]) }
            for c in available.dropFirst() where try KeySlots.opens(slot, vaultID: vault.file.vaultID, with: c, master: vault.master) {
                return SlotPlan(slot: slot, credential: c)
            }
            return SlotPlan(slot: slot, credential: nil)
        }
    }
}
