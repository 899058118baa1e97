import VaultCrypto

/// The encrypted token cache `tokens.db` (docs/FORMAT.md §5), sealed under the token-cache subkey so that the often
/// written cache never rewrites `vault.db`.
public enum TokenCacheFile {
    public static let magic: [UInt8] = Array("VCACHE1\n".utf8)
    static let maxBody = 32 << 20

    public static func seal(_ plaintext: SecretBytes, vaultID: [UInt8], master: SecretBytes,
                            random: any RandomSource = SystemRandom()) throws -> [UInt8] {
        let key = try KeyDerivation.subkey(of: master, for: .tokenCache)
        let ad = magic + vaultID
        let nonce = random.bytes(AEAD.nonceBytes)
        let sealed = try AEAD.seal(plaintext, ad: ad, nonce: nonce, key: key)
        var w = ByteWriter()
        w.raw(ad)
        w.raw(nonce)
        w.u32(UInt32(sealed.count))
        w.raw(sealed)
        return w.bytes
    }

    /// Opens a cache file; throws a `FormatError` when it is damaged, of another vault, or not a cache.
    public static func open(_ bytes: [UInt8], vaultID: [UInt8], master: SecretBytes) throws -> SecretBytes {
        if bytes.isEmpty { throw FormatError.empty }
        try VaultFile.checkMagic(bytes, expected: magic)
        var r = ByteReader(bytes)
        _ = try r.take(magic.count)
        let id = try r.array(16)
        guard id == vaultID else { throw FormatError.damagedBody }
        let nonce = try r.array(AEAD.nonceBytes)
        let length = Int(try r.u32())
        guard length >= AEAD.tagBytes, length <= maxBody else { throw FormatError.truncated }
        let sealed = try r.take(length)
        guard r.remaining == 0 else { throw FormatError.trailingBytes }
        let key = try KeyDerivation.subkey(of: master, for: .tokenCache)
        guard let plain = try AEAD.open(sealed, ad: magic + vaultID, nonce: nonce, key: key) else { throw FormatError.damagedBody }
        return plain
    }
}

/// The token cache on disk for one unlocked vault: load, save (atomic), and the `tokens.lock` used for single flight.
public struct TokenCacheStore: Sendable {
    public let directory: VaultDirectory
    let vaultID: [UInt8]
    let master: SecretBytes
    /// The key-slot header of the `vault.db` this master key came from.
    let header: [UInt8]

    public init(vault: UnlockedVault, directory: VaultDirectory) {
        self.directory = directory
        vaultID = vault.file.vaultID
        master = vault.master
        header = vault.file.headerBytes()
    }

    /// The plaintext cache, nil when there is none. A damaged cache throws (`format.*`); callers discard it.
    public func load() throws -> SecretBytes? {
        guard let bytes = try FileSystem.read(directory.cachePath) else { return nil }
        do { return try TokenCacheFile.open(bytes, vaultID: vaultID, master: master) } catch let e as FormatError { throw e.vaultError }
    }

    /// Seals and writes the cache, but only while `vault.db` still has the key slots this master key came from: after
    /// a rekey (which deletes `tokens.db` under the same lock) a process that opened the vault before it never writes
    /// a cache under the old master key. Call with `withLock` held.
    public func save(_ plaintext: SecretBytes) throws {
        guard let current = try FileSystem.readPrefix(directory.secretsPath, count: header.count), current == header else {
            throw VaultError("cache.stale_key", "the vault's keys changed while this command ran (a rekey or key change), so its token was not cached", exit: .tempFailure)
        }
        guard plaintext.count <= TokenCacheFile.maxBody - AEAD.tagBytes else {
            throw VaultError("cache.full", "the token cache would exceed \(TokenCacheFile.maxBody >> 20) MiB", hint: "`vault cache clear`", exit: .dataError)
        }
        try directory.writeAtomically(VaultDirectory.cacheFileName, try TokenCacheFile.seal(plaintext, vaultID: vaultID, master: master))
    }

    public func remove() throws { try FileSystem.remove(directory.cachePath) }

    /// Holds `tokens.lock` exclusively: one process at a time fetches or writes tokens.
    public func withLock<R>(_ body: () throws -> R) throws -> R {
        try directory.withExclusiveLock(VaultDirectory.cacheLockFileName, body)
    }
}
