import VaultCrypto

/// The encrypted token caches (docs/FORMAT.md §5), sealed under the token-cache subkey so that the often written
/// caches never rewrite `vault.db`. Version 2 keeps one file per app, `tokens/ID`, where ID names the app only to the
/// holder of the master key; version 1 (read, then migrated) kept every app's tokens in one `tokens.db`.
public enum TokenCacheFile {
    public static let magicV1: [UInt8] = Array("VCACHE1\n".utf8)
    public static let magic: [UInt8] = Array("VCACHE2\n".utf8)
    package static let maxBody = 32 << 20

    /// The 16 bytes that name `app`'s cache file: BLAKE2b-128 of the name under the token-file-name subkey.
    public static func fileID(app: String, master: SecretBytes) throws -> [UInt8] {
        try KeyDerivation.keyedHash(Array(app.utf8), key: try KeyDerivation.subkey(of: master, for: .tokenFileName), length: 16)
    }

    /// A version-2 file: magic ‖ vault id ‖ nonce ‖ length ‖ ciphertext, the AD binding magic, vault id and file id.
    public static func seal(_ plaintext: SecretBytes, vaultID: [UInt8], fileID: [UInt8], master: SecretBytes,
                            random: any RandomSource = SystemRandom()) throws -> [UInt8] {
        try seal(plaintext, header: magic + vaultID, ad: magic + vaultID + fileID, master: master, random: random)
    }

    /// A version-1 `tokens.db` (every app's tokens), for the migration tests.
    public static func sealVersion1(_ plaintext: SecretBytes, vaultID: [UInt8], master: SecretBytes,
                                    random: any RandomSource = SystemRandom()) throws -> [UInt8] {
        try seal(plaintext, header: magicV1 + vaultID, ad: magicV1 + vaultID, master: master, random: random)
    }

    static func seal(_ plaintext: SecretBytes, header: [UInt8], ad: [UInt8], master: SecretBytes, random: any RandomSource) throws -> [UInt8] {
        let key = try KeyDerivation.subkey(of: master, for: .tokenCache)
        let nonce = random.bytes(AEAD.nonceBytes)
        let sealed = try AEAD.seal(plaintext, ad: ad, nonce: nonce, key: key)
        var w = ByteWriter()
        w.raw(header)
        w.raw(nonce)
        w.u32(UInt32(sealed.count))
        w.raw(sealed)
        return w.bytes
    }

    /// Opens a version-2 cache file of `fileID`; throws a `FormatError` when it is damaged, of another vault or app,
    /// or not a cache.
    public static func open(_ bytes: [UInt8], vaultID: [UInt8], fileID: [UInt8], master: SecretBytes) throws -> SecretBytes {
        try open(bytes, magic: magic, ad: magic + vaultID + fileID, vaultID: vaultID, master: master)
    }

    /// Opens a version-1 `tokens.db`.
    public static func openVersion1(_ bytes: [UInt8], vaultID: [UInt8], master: SecretBytes) throws -> SecretBytes {
        try open(bytes, magic: magicV1, ad: magicV1 + vaultID, vaultID: vaultID, master: master)
    }

    static func open(_ bytes: [UInt8], magic: [UInt8], ad: [UInt8], vaultID: [UInt8], master: SecretBytes) throws -> SecretBytes {
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
        guard let plain = try AEAD.open(sealed, ad: ad, nonce: nonce, key: key) else { throw FormatError.damagedBody }
        return plain
    }
}
