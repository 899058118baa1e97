import CSodium
import VaultErrors

/// XChaCha20-Poly1305 (IETF) from libsodium: 32-byte keys, 24-byte nonces, 16-byte tags.
public enum AEAD {
    public static let keyBytes = Int(crypto_aead_xchacha20poly1305_ietf_KEYBYTES)
    public static let nonceBytes = Int(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES)
    public static let tagBytes = Int(crypto_aead_xchacha20poly1305_ietf_ABYTES)

    /// Seals `plaintext` under `key` with `nonce`, authenticating `ad`. Returns ciphertext ‖ tag.
    public static func seal(_ plaintext: SecretBytes, ad: [UInt8], nonce: [UInt8], key: SecretBytes) throws -> [UInt8] {
        try plaintext.withUnsafeBytes { try seal($0, ad: ad, nonce: nonce, key: key) }
    }

    /// Opens ciphertext ‖ tag into secret memory; returns nil when authentication fails.
    public static func open(_ sealed: ArraySlice<UInt8>, ad: [UInt8], nonce: [UInt8], key: SecretBytes) throws -> SecretBytes? {
        try Sodium.ready()
        guard key.count == keyBytes, nonce.count == nonceBytes else {
            throw VaultError("crypto.aead", "internal error: wrong AEAD key or nonce size")
        }
        guard sealed.count >= tagBytes else { return nil }
        let out = SecretBytes(count: sealed.count - tagBytes)
        var outLen: UInt64 = 0
        let rc = sealed.withUnsafeBufferPointer { ct in
            key.withUnsafeBytes { k in
                ad.withUnsafeBufferPointer { a in
                    out.withUnsafeMutableBytes { o in
                        crypto_aead_xchacha20poly1305_ietf_decrypt(
                            o.u8, &outLen, nil,
                            ct.baseAddress!, UInt64(ct.count),
                            a.baseAddress, UInt64(a.count), nonce, k.u8)
                    }
                }
            }
        }
        return rc == 0 ? out : nil
    }

    /// Seals bytes lent from secret memory (a slice of a larger buffer), so many records can share one scratch buffer.
    public static func seal(_ plaintext: UnsafeRawBufferPointer, ad: [UInt8], nonce: [UInt8], key: SecretBytes) throws -> [UInt8] {
        try Sodium.ready()
        guard key.count == keyBytes, nonce.count == nonceBytes else {
            throw VaultError("crypto.aead", "internal error: wrong AEAD key or nonce size")
        }
        var out = [UInt8](repeating: 0, count: plaintext.count + tagBytes)
        var outLen: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_encrypt(&out, &outLen, plaintext.bindMemory(to: UInt8.self).baseAddress,
                                                       UInt64(plaintext.count), ad, UInt64(ad.count), nil, nonce, k.u8)
        }
        guard rc == 0 else { throw VaultError("crypto.aead", "encryption failed") }
        return out
    }

    /// Opens ciphertext ‖ tag into `output` (exactly `sealed.count - tagBytes` bytes of secret memory, e.g. a range of
    /// one buffer shared by many records). Returns false when authentication fails; `output` is then zeroed.
    public static func open(_ sealed: UnsafeRawBufferPointer, ad: [UInt8], nonce: UnsafeRawBufferPointer, key: SecretBytes,
                            into output: UnsafeMutableRawBufferPointer) throws -> Bool {
        try Sodium.ready()
        guard key.count == keyBytes, nonce.count == nonceBytes, sealed.count >= tagBytes,
              output.count == sealed.count - tagBytes else {
            throw VaultError("crypto.aead", "internal error: wrong AEAD key, nonce or buffer size")
        }
        var outLen: UInt64 = 0
        let rc = key.withUnsafeBytes { k in
            crypto_aead_xchacha20poly1305_ietf_decrypt(output.bindMemory(to: UInt8.self).baseAddress, &outLen, nil,
                                                       sealed.bindMemory(to: UInt8.self).baseAddress!, UInt64(sealed.count),
                                                       ad, UInt64(ad.count), nonce.bindMemory(to: UInt8.self).baseAddress!, k.u8)
        }
        if rc != 0, output.count > 0 { sodium_memzero(output.baseAddress, output.count) }
        return rc == 0
    }
}
