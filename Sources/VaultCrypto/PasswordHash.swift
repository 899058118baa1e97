import CSodium
import Synchronization
import VaultErrors

/// Argon2id (`crypto_pwhash`, ALG_ARGON2ID13) with parameters checked against hard caps before any work,
/// so a hostile vault file cannot make vault allocate gigabytes or spin for minutes.
public struct KDFParameters: Equatable, Sendable {
    public var opsLimit: UInt64
    public var memLimit: UInt64

    public init(opsLimit: UInt64, memLimit: UInt64) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// vault's default: libsodium's MODERATE limits, 3 passes over 256 MiB (about a second here). With the agent
    /// (`vault unlock`) the passphrase is typed once per session, so the cost is paid once.
    public static let `default` = KDFParameters(
        opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MODERATE), memLimit: UInt64(crypto_pwhash_argon2id_MEMLIMIT_MODERATE))
    /// The default before the agent: 3 passes over 64 MiB (vaults made then keep it until their passphrase changes).
    public static let earlierDefault = KDFParameters(opsLimit: 3, memLimit: 64 << 20)
    /// libsodium's INTERACTIVE limits (2 passes, 64 MiB): tests only.
    public static let interactive = KDFParameters(
        opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE), memLimit: UInt64(crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE))
    /// The cheapest parameters libsodium accepts (1 pass, 8 KiB): for test vectors, never for real vaults.
    public static let minimum = KDFParameters(
        opsLimit: UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN), memLimit: UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN))

    /// Caps applied to parameters read from disk.
    public static let maxOpsLimit: UInt64 = 16
    public static let maxMemLimit: UInt64 = 1 << 30

    /// Throws unless the parameters are within libsodium's minimums and vault's caps.
    public func validate() throws {
        if opsLimit < UInt64(crypto_pwhash_argon2id_OPSLIMIT_MIN) || memLimit < UInt64(crypto_pwhash_argon2id_MEMLIMIT_MIN) {
            throw VaultError("format.kdf_params", "the vault's key-derivation parameters are below libsodium's minimum")
        }
        if opsLimit > Self.maxOpsLimit || memLimit > Self.maxMemLimit {
            throw VaultError("format.kdf_params", "the vault's key-derivation parameters exceed vault's caps (opslimit \(opsLimit) > \(Self.maxOpsLimit) or memlimit \(memLimit) > \(Self.maxMemLimit) bytes)")
        }
    }
}

public enum PasswordHash {
    public static let saltBytes = Int(crypto_pwhash_argon2id_SALTBYTES)

    /// How many times this process ran Argon2id (`VAULT_TEST_COUNT_KDF` makes the CLI say it at exit).
    public static let derivations = Atomic<Int>(0)

    /// Keys derived in this process, by a keyed hash of (salt, parameters, passphrase) under a random per-process key:
    /// a command that opens its vault at several steps (a rotation: 19 times) runs Argon2id once per slot, not once
    /// per open. The derived keys are in secret memory for the life of the process, as the passphrase itself already
    /// is; at most `memoCapacity` are kept.
    static let memo = Mutex<[[UInt8]: SecretBytes]>([:])
    static let memoKey = SecretBytes.random(count: 32)
    static let memoCapacity = 8

    static func memoID(passphrase: SecretBytes, salt: [UInt8], params: KDFParameters) -> [UInt8] {
        var header = salt
        withUnsafeBytes(of: params.opsLimit.littleEndian) { header += $0 }
        withUnsafeBytes(of: params.memLimit.littleEndian) { header += $0 }
        // The message (with the passphrase) is built in secret memory, never in an array.
        let message = header.withUnsafeBytes { SecretBytes.concat([SecretBytes(copying: $0), passphrase]) }
        var out = [UInt8](repeating: 0, count: 32)
        message.withUnsafeBytes { m in
            memoKey.withUnsafeBytes { k in
                _ = crypto_generichash(&out, 32, m.u8, UInt64(m.count), k.u8, k.count)
            }
        }
        return out
    }


    /// Derives a 32-byte key from `passphrase` and `salt` with Argon2id after validating `params`.
    public static func deriveKey(passphrase: SecretBytes, salt: [UInt8], params: KDFParameters) throws -> SecretBytes {
        try Sodium.ready()
        try params.validate()
        guard salt.count == saltBytes else { throw VaultError("crypto.salt", "internal error: wrong salt size") }
        let id = memoID(passphrase: passphrase, salt: salt, params: params)
        if let known = memo.withLock({ $0[id] }) { return known }
        derivations.add(1, ordering: .relaxed)
        let key = SecretBytes(count: 32)
        let rc = key.withUnsafeMutableBytes { k in
            passphrase.withUnsafeBytes { p in
                crypto_pwhash(k.u8, 32, UnsafeRawPointer(p.u8).assumingMemoryBound(to: CChar.self), UInt64(p.count), salt,
                              params.opsLimit, Int(params.memLimit), crypto_pwhash_ALG_ARGON2ID13)
            }
        }
        guard rc == 0 else {
            throw VaultError("crypto.pwhash", "Argon2id failed (out of memory for \(params.memLimit >> 20) MiB?)")
        }
        memo.withLock { m in
            if m.count >= memoCapacity { m.removeAll() }
            m[id] = key
        }
        return key
    }
}
