import EntraAuth
import FoundationEssentials
import Graph
import VaultCrypto
import VaultErrors
import VaultRotation
import VaultTokens
import VaultHTTP
import VaultStore
import VaultFormat
import VaultRecords

/// What commands that use an app do about a pending rotation of it (conventions.md: a rule of the rotation use case).
extension RotationService {
    /// Before a command uses `app`: settles a pending rotation if no other process is driving it, without waiting
    /// for Graph's lag. Returns what was done, or nil when another process holds the rotation (then the stored secret
    /// is used as it is: before the commit it is the old, still valid one; after it, the new one).
    public func settleBeforeUse(app: String) throws -> RotationReport? {
        guard let held = try RotationLock.acquire(vault.directory, app: app, wait: false) else { return nil }
        defer { held.release() }
        return try settle(app: app, patience: .none)
    }

    /// Runs `body` with a token service that stops on a pending rotation; if it stops, settles the rotation (or leaves
    /// it to the process driving it) and runs `body` once more on the stored secret. Notes go to `note`.
    public static func usingApp<R>(_ app: String, tokens: TokenService, checkpoint: @escaping @Sendable (String) -> Void = { _ in },
                                   note: (String) -> Void, _ body: (TokenService) throws -> R) throws -> R {
        var strict = tokens
        strict.refusePendingRotation = true
        do { return try body(strict) } catch let e as VaultError where e.code == "rotation.pending" {
            let settled: RotationReport?
            do {
                settled = try RotationService(tokens: tokens, checkpoint: checkpoint).settleBeforeUse(app: app)
            } catch let e as VaultError where e.code != "rotation.stale" {
                // The stored secret works at every step (the old one before the commit, the new one after it), so a
                // rotation that cannot be settled now (Graph down, a proof that failed) does not stop this command.
                note("could not settle the interrupted rotation of '\(app)' now (\(e.reason)); using the stored secret")
                settled = nil
            }
            if let r = settled {
                if r.rolledBack && !r.unfinished {
                    note("rolled back an interrupted rotation of '\(app)'")
                } else if r.rolledBack {
                    note("rolling back an interrupted rotation of '\(app)': its password is not confirmed removed yet")
                } else if !r.unfinished {
                    note("finished an interrupted rotation of '\(app)' (new key id \(r.newKeyID ?? "?"))")
                }
            }
            return try body(tokens)
        }
    }

    /// `usingApp` as a token handout's use of an app (notes are dropped: `exec` and `serve` have no terminal to say them on).
    public static let handoutUse: TokenHandout.AppUse = { app, tokens, body in
        try usingApp(app, tokens: tokens, note: { _ in }, body)
    }
}
