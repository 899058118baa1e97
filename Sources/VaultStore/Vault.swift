import VaultCrypto

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
                throw VaultError("vault.exists", "a vault already exists at \(directory.path)",
                                 hint: "use it, or choose another location with --vault DIR", exit: .usage)
            }
            let (bytes, _) = try VaultCodec.create(credentials: credentials, kdf: kdf, random: random)
            try directory.writeAtomically(VaultDirectory.secretsFileName, bytes)
        }
    }

    /// Opens the vault for reading (no lock needed: files are only ever replaced by rename).
    public func open(_ credential: Credential) throws -> UnlockedVault {
        try VaultCodec.unlockAndOpen(try directory.readSecrets(), with: credential)
    }

    /// Read-modify-write under the lock. `change` may throw to abandon the change: nothing is written then.
    /// Returns what `change` returns.
    @discardableResult
    public func update<R>(_ credential: Credential, _ change: (inout UnlockedVault) throws -> R) throws -> R {
        try directory.withExclusiveLock {
            var vault = try VaultCodec.unlockAndOpen(try directory.readSecrets(), with: credential)
            let result = try change(&vault)
            try directory.writeAtomically(VaultDirectory.secretsFileName, try vault.sealed(random: random))
            return result
        }
    }

    /// Adds a key slot for `newCredential`; returns its id (hex).
    @discardableResult
    public func addSlot(unlockingWith credential: Credential, newCredential: Credential, kdf: KDFParameters = .default) throws -> String {
        try update(credential) { vault in
            guard vault.file.slots.count < VaultFile.maxSlots else {
                throw VaultError("slots.full", "the vault already has \(VaultFile.maxSlots) key slots", hint: "remove one with `vault key remove`", exit: .usage)
            }
            let slot = try KeySlots.make(for: newCredential, master: vault.master, vaultID: vault.file.vaultID, kdf: kdf, random: random)
            vault.file.slots.append(slot)
            return slot.idHex
        }
    }

    /// Removes the slot with id `slotID` (hex). The last slot cannot be removed.
    public func removeSlot(unlockingWith credential: Credential, slotID: String) throws {
        try update(credential) { vault in
            guard let index = vault.file.slots.firstIndex(where: { $0.idHex == slotID.lowercased() }) else {
                throw VaultError("slots.unknown", "no key slot \(slotID)", hint: "`vault key list` shows the slot ids", exit: .usage)
            }
            guard vault.file.slots.count > 1 else {
                throw VaultError("slots.last", "refusing to remove the only key slot: the vault could never be opened again",
                                 hint: "add another slot first (`vault key add-file` or `vault passwd --add`)", exit: .usage)
            }
            vault.file.slots.remove(at: index)
        }
    }

    /// Replaces the passphrase slot that `credential` opened (or every passphrase slot when unlocked by key file)
    /// with one for `newPassphrase`. Only the master key is rewrapped; the data key stays the same.
    public func changePassphrase(unlockingWith credential: Credential, to newPassphrase: SecretBytes, kdf: KDFParameters = .default) throws {
        try update(credential) { vault in
            let slot = try KeySlots.make(for: .passphrase(newPassphrase), master: vault.master, vaultID: vault.file.vaultID, kdf: kdf, random: random)
            if case .passphrase = credential {
                vault.file.slots[vault.openedSlot] = slot
            } else if let i = vault.file.slots.firstIndex(where: { $0.kind == .passphrase }) {
                vault.file.slots[i] = slot
                vault.file.slots.removeAll { $0.kind == .passphrase && $0.id != slot.id }
            } else {
                guard vault.file.slots.count < VaultFile.maxSlots else {
                    throw VaultError("slots.full", "the vault already has \(VaultFile.maxSlots) key slots", exit: .usage)
                }
                vault.file.slots.append(slot)
            }
        }
    }
}
