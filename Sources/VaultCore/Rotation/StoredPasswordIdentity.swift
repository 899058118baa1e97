import FoundationEssentials
import Graph
import VaultStore
import VaultFormat
import VaultRecords

/// Which of the app's passwords is the stored secret (docs/protocols.md, "Graph: reading password credentials": reads
/// show hints and keyIds, never secrets).
extension RotationService {
    /// The keyId of the stored secret: the one recorded at the last rotation (also while a recent rotation's
    /// password is not yet visible in Graph's reads), else the only password with the stored hint, else the hint
    /// match whose start is closest to when the secret was added.
    static func identify(_ meta: AppMetadata, in creds: [PasswordCredential], lagWindow: Double, now: Date) -> String? {
        if let k = meta.secretKeyID {
            if creds.contains(where: { $0.keyID == k }) { return k }
            if let rotated = meta.rotated, now < rotated.addingTimeInterval(lagWindow) { return k }
        }
        let matches = creds.filter { $0.hint == meta.secretHint }
        if matches.count == 1 { return matches[0].keyID }
        return matches.min { a, b in
            abs((a.startDate ?? .distantPast).timeIntervalSince(meta.added)) < abs((b.startDate ?? .distantPast).timeIntervalSince(meta.added))
        }?.keyID
    }
}
