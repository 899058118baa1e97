import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultStore

/// Use cases on the token cache: list, clear, export to and import from an MSAL cache file.
public struct CacheService: Sendable {
    public let vault: Vault
    public let unlock: Credential

    public init(vault: Vault, unlock: Credential) {
        self.vault = vault
        self.unlock = unlock
    }

    func store() throws -> (TokenCacheStore, UnlockedVault) {
        let unlocked = try vault.open(unlock)
        return (TokenCacheStore(vault: unlocked, directory: vault.directory), unlocked)
    }

    /// The cache and any warning about a cache that had to be discarded.
    public func load() throws -> (cache: MSALCache, apps: [AppMetadata], warning: String?) {
        let (store, unlocked) = try store()
        let apps = unlocked.contents.apps.map(\.metadata)
        do {
            guard let bytes = try store.load() else { return (MSALCache(), apps, nil) }
            return (try MSALCache.parse(bytes), apps, nil)
        } catch let e as VaultError {
            return (MSALCache(), apps, "the token cache cannot be read (\(e.reason)); it is treated as empty")
        }
    }

    /// Removes cached tokens of one app, or all. Returns how many went.
    public func clear(app: String?) throws -> Int {
        let (store, unlocked) = try store()
        return try store.withLock {
            guard let app else {
                let count = ((try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) })?.accessTokens.count ?? 0
                try store.remove()
                return count
            }
            guard let meta = unlocked.contents.app(named: app)?.metadata else {
                throw VaultError.unknownApp(app)
            }
            var cache = (try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) } ?? MSALCache()
            let removed = cache.remove(clientID: meta.clientID)
            try store.save(try cache.sealedBytes())
            return removed
        }
    }

    /// Writes the cache as plaintext MSAL JSON to a new file (0600). Refuses to overwrite unless `force`.
    public func export(to path: String, force: Bool) throws -> Int {
        let (cache, _, _) = try load()
        var copy = cache
        copy.prune(now: Int64(Date().timeIntervalSince1970))
        var bytes = try copy.serialized(pretty: true)
        defer { wipe(&bytes) }
        if force, FileSystem.exists(path) { try FileSystem.remove(path) }
        try bytes.withUnsafeBytes { try FileSystem.createExclusive(path, bytes: $0) }
        return copy.accessTokens.count
    }

    /// Merges access tokens from an MSAL cache file: only for apps in the vault, only unexpired ones.
    public func importFile(_ path: String) throws -> (imported: Int, skipped: Int) {
        let raw = try FileSystem.readSecret(path, limit: 16 << 20)
        let incoming: MSALCache
        do { incoming = try MSALCache.parse(raw) } catch {
            throw VaultError("cache.import", "\(path) is not an MSAL token cache (JSON object expected)", exit: .dataError)
        }
        let (store, unlocked) = try store()
        let known = Set(unlocked.contents.apps.map { $0.metadata.clientID.lowercased() })
        let now = Int64(Date().timeIntervalSince1970)
        return try store.withLock {
            var cache = (try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) } ?? MSALCache()
            var imported = 0, skipped = 0
            for t in incoming.accessTokens {
                if known.contains(t.clientID.lowercased()) && t.expiresOn > now { cache.put(t); imported += 1 } else { skipped += 1 }
            }
            try store.save(try cache.sealedBytes())
            return (imported, skipped)
        }
    }
}
