import FoundationEssentials
import Graph
import VaultHTTP

/// Removing passwords when Graph's reads lag its writes (docs/protocols.md, "Graph: credential propagation"). A
/// password created moments ago may be missing from a read, and removePassword may answer
/// "No password credential found" for it, so neither answer alone proves it is gone. The rules:
/// - a 204 from removePassword is proof: the password existed and was removed;
/// - otherwise a password counts as removed only once a read no longer shows it *and* `lagWindow` has passed since it
///   was created; until then reads and removals are repeated with backoff.
package struct GraphRemoval {
    package let apps: any ApplicationCredentials
    package let lagWindow: Double
    package let clock: RotationClock

    /// Removes one known password (`created`: when it was made, if known; unknown means long ago).
    /// Returns false when `deadline` came before that was certain.
    package func remove(_ keyID: String, created: Date?, deadline: Date) throws -> Bool {
        let settled = (created ?? .distantPast).addingTimeInterval(lagWindow)
        var delay = 0.5
        while true {
            if try apps.removePassword(keyID: keyID) == .removed { return true }
            let now = clock.now()
            if now >= settled, try !apps.passwords().contains(where: { $0.keyID == keyID }) { return true }
            if now >= deadline { return false }
            wait(&delay, until: min(deadline, now.addingTimeInterval(delay)))
        }
    }

    /// Removes everything a rotation may have created: its journaled keyId, and every password carrying its unique
    /// display name that was not there before it started. Returns false when `deadline` came first.
    package func sweep(_ j: RotationJournal, deadline: Date) throws -> Bool {
        let settled = j.started.addingTimeInterval(lagWindow)
        var removed: Set<String> = []
        var delay = 0.5
        while true {
            let visible = try apps.passwords()
            let mine = visible.filter { c in
                !removed.contains(c.keyID) && !j.keyIDsBefore.contains(c.keyID)
                    && (c.keyID == j.newKeyID || c.displayName == j.displayName)
            }
            for c in mine where try apps.removePassword(keyID: c.keyID) == .removed { removed.insert(c.keyID) }
            if let k = j.newKeyID, !removed.contains(k), !visible.contains(where: { $0.keyID == k }),
               try apps.removePassword(keyID: k) == .removed {
                removed.insert(k)
            }
            let now = clock.now()
            let knownGone = j.newKeyID.map { removed.contains($0) } ?? false
            // What a read showed was removed; what it could not show yet may still appear until the window passes.
            if mine.allSatisfy({ removed.contains($0.keyID) }) && (knownGone || now >= settled) { return true }
            if now >= deadline { return false }
            wait(&delay, until: min(deadline, now.addingTimeInterval(delay)))
        }
    }

    package func wait(_ delay: inout Double, until: Date) {
        clock.sleeper.sleep(seconds: max(0.1, until.timeIntervalSince(clock.now())))
        delay = min(delay * 2, 10)
    }
}
