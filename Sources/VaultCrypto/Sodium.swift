import CSodium
import VaultErrors

/// Initialises libsodium exactly once. Every entry point of VaultCrypto calls `Sodium.ready()` first.
public enum Sodium {
    private static let initResult: Int32 = sodium_init()

    /// Throws when libsodium could not initialise (`sodium_init` < 0); 0 and 1 both mean ready.
    public static func ready() throws {
        if initResult < 0 {
            throw VaultError("crypto.init", "libsodium failed to initialise")
        }
    }

    public static var version: String { String(cString: sodium_version_string()) }
}
