import EntraAuth
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

/// Moves a version-1 `tokens.db` (every app's tokens in one file) into the per-app caches of format version 2
/// (docs/FORMAT.md §5), once, holding every app's token lock. Each app receives the tokens of its client id, under
/// whatever its own cache already holds (that is newer); expired tokens are dropped. A version-1 cache that cannot be
/// opened is deleted: it is only a cache, and a token is one request away.
enum TokenCacheMigration {
    static func migrate(_ caches: TokenCaches, apps: () throws -> [AppMetadata], now: Int64) throws {
        guard caches.hasVersion1 else { return }
        try caches.withAllLocked {
            guard caches.hasVersion1 else { return }
            if let plain = try? caches.loadVersion1(), let legacy = try? MSALCache.parse(plain) {
                let byClient = Dictionary(grouping: legacy.accessTokens) { $0.clientID.lowercased() }
                for app in try apps() {
                    guard let tokens = byClient[app.clientID.lowercased()] else { continue }
                    let store = try caches.store(app: app.name)
                    let existing = (try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) }
                    var merged = MSALCache()
                    for t in tokens { merged.put(t) }
                    for t in existing?.accessTokens ?? [] { merged.put(t) }
                    merged.prune(now: now)
                    // Best effort per app: a cache that cannot be written now is fetched again later.
                    _ = try? store.save(try merged.sealedBytes())
                }
            }
            try caches.removeVersion1()
        }
    }
}
