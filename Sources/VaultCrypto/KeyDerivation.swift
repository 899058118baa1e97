import CSodium
import VaultErrors

/// Subkeys derived from the master key with `crypto_kdf_derive_from_key` (BLAKE2b), one per purpose, so the
/// secrets file and the token cache are sealed under different keys.
public enum KeyDerivation {
    /// The 8-byte context of every vault subkey.
    public static let context: [CChar] = Array("vaultkey".utf8CString.prefix(8))

    public enum Purpose: UInt64, Sendable {
        case secrets = 1
        case tokenCache = 2
        /// Keys the fingerprints that bind a rotation journal to the secret it replaces.
        case fingerprint = 3
        /// Seals each record of a version-2 `vault.db` (docs/FORMAT.md §4.2).
        case records = 4
        /// Keys the hash that names an app's token-cache file (docs/FORMAT.md §5).
        case tokenFileName = 5
    }

    public static func subkey(of master: SecretBytes, for purpose: Purpose) throws -> SecretBytes {
        try Sodium.ready()
        guard master.count == Int(crypto_kdf_KEYBYTES) else { throw VaultError("crypto.kdf", "internal error: master key size") }
        let sub = SecretBytes(count: 32)
        let rc = sub.withUnsafeMutableBytes { s in
            master.withUnsafeBytes { m in
                crypto_kdf_derive_from_key(s.u8, 32, purpose.rawValue, context,
                                           m.u8)
            }
        }
        guard rc == 0 else { throw VaultError("crypto.kdf", "key derivation failed") }
        return sub
    }

    /// Keyed BLAKE2b-256 of `message` under `key`: turns a key file's 32 bytes into a slot's wrapping key.
    public static func keyedHash(key: SecretBytes, message: [UInt8]) throws -> SecretBytes {
        try Sodium.ready()
        let out = SecretBytes(count: 32)
        let rc = out.withUnsafeMutableBytes { o in
            key.withUnsafeBytes { k in
                crypto_generichash(o.u8, 32, message, UInt64(message.count),
                                   k.bindMemory(to: UInt8.self).baseAddress, k.count)
            }
        }
        guard rc == 0 else { throw VaultError("crypto.hash", "hashing failed") }
        return out
    }

    /// A keyed fingerprint of a secret (BLAKE2b-128 under the master key's fingerprint subkey), hex: lets a record say
    /// which secret it belongs to without holding a copy, and reveals nothing about it without the master key.
    public static func fingerprint(of secret: SecretBytes, master: SecretBytes) throws -> String {
        let key = try subkey(of: master, for: .fingerprint)
        try Sodium.ready()
        var out = [UInt8](repeating: 0, count: 16)
        let rc = secret.withUnsafeBytes { m in
            key.withUnsafeBytes { k in
                crypto_generichash(&out, 16, m.bindMemory(to: UInt8.self).baseAddress, UInt64(m.count),
                                   k.bindMemory(to: UInt8.self).baseAddress, k.count)
            }
        }
        guard rc == 0 else { throw VaultError("crypto.hash", "hashing failed") }
        let digits = Array("0123456789abcdef")
        return String(out.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
    }

    /// Keyed BLAKE2b of public bytes, `length` bytes long (the key is secret, the message and digest are not).
    public static func keyedHash(_ message: [UInt8], key: SecretBytes, length: Int) throws -> [UInt8] {
        try Sodium.ready()
        var out = [UInt8](repeating: 0, count: length)
        let rc = key.withUnsafeBytes { k in
            crypto_generichash(&out, length, message, UInt64(message.count), k.bindMemory(to: UInt8.self).baseAddress, k.count)
        }
        guard rc == 0 else { throw VaultError("crypto.hash", "hashing failed") }
        return out
    }

    /// Unkeyed BLAKE2b of public bytes lent by pointer, `length` bytes long.
    public static func hash(_ message: UnsafeRawBufferPointer, length: Int) -> [UInt8] {
        try? Sodium.ready()
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, message.bindMemory(to: UInt8.self).baseAddress, UInt64(message.count), nil, 0)
        return out
    }

    /// Unkeyed BLAKE2b of public bytes, `length` bytes long.
    public static func hash(_ message: [UInt8], length: Int = 32) -> [UInt8] {
        try? Sodium.ready()
        var out = [UInt8](repeating: 0, count: length)
        _ = crypto_generichash(&out, length, message, UInt64(message.count), nil, 0)
        return out
    }
}
