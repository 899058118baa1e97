import ArgumentParser
import FoundationEssentials
import VaultCore
import VaultErrors
import VaultTokens
import VaultRotation
import VaultCrypto
#if canImport(Glibc)
import Glibc
#endif

package enum Duration {
    /// `90d`, `12h`, `2w`, `1y` → seconds.
    package static func seconds(_ text: String) throws -> TimeInterval {
        let units: [Character: Double] = ["h": 3600, "d": 86400, "w": 604_800, "y": 31_557_600]
        guard let unit = text.last, let factor = units[unit], let n = Double(text.dropLast()), n > 0 else {
            throw VaultError("usage", "invalid duration '\(text)'", context: ["case": "duration"])
        }
        let seconds = n * factor
        guard seconds >= 3600, seconds <= 2 * 31_557_600 else {
            throw VaultError("usage", "the secret lifetime must be between 1 hour and 2 years")
        }
        return seconds
    }
}

/// Test hooks, debug builds only: `VAULT_TEST_CRASH_AT=STEP` kills the process with SIGKILL right after the named
/// rotation step, to prove recovery. Release builds compile the hook out: the checkpoint does nothing.
package enum TestHooks {
    #if DEBUG
    package static let crashAt = Environment.current["VAULT_TEST_CRASH_AT"]

    package static let checkpoint: @Sendable (String) -> Void = { step in
        if let crashAt, crashAt == step { kill(getpid(), SIGKILL) }
    }
    #else
    package static let checkpoint: @Sendable (String) -> Void = { _ in }
    #endif
}
