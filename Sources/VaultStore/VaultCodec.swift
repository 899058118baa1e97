import VaultCrypto

/// Pure functions from credentials and contents to file bytes and back (no I/O).
public enum VaultCodec {
    /// A new vault: random master key and id, one slot per credential, the given contents sealed.
    public static func create(credentials: [Credential], contents: VaultContents = VaultContents(),
                              kdf: KDFParameters = .default, random: any RandomSource = SystemRandom()) throws -> (bytes: [UInt8], master: SecretBytes) {
        guard !credentials.isEmpty else { throw VaultError("internal", "a vault needs at least one key slot") }
        var masterBytes = random.bytes(32)
        let master = SecretBytes(consuming: &masterBytes)
        let vaultID = random.bytes(16)
        var slots: [KeySlot] = []
        for c in credentials {
            slots.append(try KeySlots.make(for: c, master: master, vaultID: vaultID, kdf: kdf, random: random))
        }
        let file = try seal(contents, into: VaultFile(vaultID: vaultID, slots: slots, bodyNonce: [], sealedBody: []),
                            master: master, random: random)
        return (file.encode(), master)
    }

    /// Seals `contents` under the secrets subkey with a fresh nonce, the file's header as associated data.
    public static func seal(_ contents: VaultContents, into file: VaultFile, master: SecretBytes,
                            random: any RandomSource = SystemRandom()) throws -> VaultFile {
        try contents.checkEncodable()
        guard (1...VaultFile.maxSlots).contains(file.slots.count) else {
            throw VaultError("slots.full", "a vault holds 1 to \(VaultFile.maxSlots) key slots, not \(file.slots.count)", exit: .usage)
        }
        var out = file
        out.bodyNonce = random.bytes(AEAD.nonceBytes)
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        let body = contents.encodeBody()
        guard body.count + AEAD.tagBytes <= VaultFile.maxBody else {
            throw VaultError("vault.full", "the vault's contents would exceed \(VaultFile.maxBody >> 20) MiB, the most a reader accepts; nothing was changed",
                             hint: "remove apps you no longer use (`vault remove`)", exit: .dataError)
        }
        out.sealedBody = try AEAD.seal(body, ad: out.headerBytes(), nonce: out.bodyNonce, key: key)
        return out
    }

    /// Opens the body with the master key; a failure here means the body or the header was changed.
    public static func open(_ file: VaultFile, master: SecretBytes) throws -> VaultContents {
        let key = try KeyDerivation.subkey(of: master, for: .secrets)
        guard let body = try AEAD.open(file.sealedBody[...], ad: file.headerBytes(), nonce: file.bodyNonce, key: key) else {
            throw FormatError.damagedBody.vaultError
        }
        do { return try VaultContents.decodeBody(body) } catch let e as FormatError { throw e.vaultError }
    }

    /// Decode + unlock + open in one step, mapping format errors to `VaultError`s.
    public static func unlockAndOpen(_ bytes: [UInt8], with credential: Credential) throws -> UnlockedVault {
        let file: VaultFile
        do { file = try VaultFile.decode(bytes) } catch let e as FormatError { throw e.vaultError }
        let (master, slot) = try KeySlots.unlock(file, with: credential)
        let contents = try open(file, master: master)
        return UnlockedVault(file: file, master: master, contents: contents, openedSlot: slot)
    }
}

/// A vault opened in memory: the parsed file, its master key and decrypted records.
public struct UnlockedVault: Sendable {
    public var file: VaultFile
    public let master: SecretBytes
    public var contents: VaultContents
    public let openedSlot: Int

    /// The file bytes for the current contents and slots (new body nonce).
    public func sealed(random: any RandomSource = SystemRandom()) throws -> [UInt8] {
        try VaultCodec.seal(contents, into: file, master: master, random: random).encode()
    }
}
