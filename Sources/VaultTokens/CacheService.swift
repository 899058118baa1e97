import FoundationEssentials
import EntraAuth
import VaultCrypto
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

/// Use cases on the token cache: list, clear, export to and import from an MSAL cache file.
public struct CacheService: Sendable {
    public let vault: Vault
    public let unlock: Credential

    public init(vault: Vault, unlock: Credential) {
        self.vault = vault
        self.unlock = unlock
    }

    /// The per-app caches of an unlocked vault, a version-1 cache first moved into them.
    func caches() throws -> (TokenCaches, UnlockedVault) {
        let unlocked = try vault.open(unlock)
        let caches = TokenCaches(vault: unlocked, directory: vault.directory)
        try TokenCacheMigration.migrate(caches, apps: { try unlocked.contents.apps.map(\.metadata) }, now: Int64(Date().timeIntervalSince1970))
        return (caches, unlocked)
    }

    /// Every app's cached tokens in one MSAL cache, and a warning naming caches that had to be treated as empty.
    public func load() throws -> (cache: MSALCache, apps: [AppMetadata], warning: String?) {
        let (caches, unlocked) = try caches()
        let apps = try unlocked.contents.apps.map(\.metadata)
        var all = MSALCache()
        var unreadable: [String] = []
        for app in apps {
            let store = try caches.store(app: app.name)
            do {
                guard let bytes = try store.load() else { continue }
                for t in try MSALCache.parse(bytes).accessTokens { all.put(t) }
            } catch is VaultError {
                unreadable.append(app.name)
            }
        }
        let warning = unreadable.isEmpty ? nil
            : "the token cache of \(unreadable.prefix(5).joined(separator: ", "))\(unreadable.count > 5 ? " and \(unreadable.count - 5) more" : "") cannot be read; treated as empty"
        return (all, apps, warning)
    }

    /// Removes cached tokens of one app, or of all. Returns how many went.
    public func clear(app: String?) throws -> Int {
        let (caches, unlocked) = try caches()
        func count(_ store: TokenCacheStore) -> Int {
            ((try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) })?.accessTokens.count ?? 0
        }
        guard let app else {
            let names = unlocked.contents.names(kind: "app")
            return try caches.withAllLocked {
                let removed = try names.reduce(0) { $0 + count(try caches.store(app: $1)) }
                try caches.removeAll()
                return removed
            }
        }
        guard unlocked.contents.contains(kind: "app", name: app) else { throw VaultError.unknownApp(app) }
        let store = try caches.store(app: app)
        return try store.withLock {
            let removed = count(store)
            try store.remove()
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
            throw VaultError("cache.import", "\(path) is not an MSAL token cache (JSON object expected)")
        }
        let (caches, unlocked) = try caches()
        let apps = try unlocked.contents.apps.map(\.metadata)
        let byClient = Dictionary(grouping: apps) { $0.clientID.lowercased() }
        let now = Int64(Date().timeIntervalSince1970)
        var perApp: [String: [AccessToken]] = [:]
        var imported = 0, skipped = 0
        for t in incoming.accessTokens {
            guard let owners = byClient[t.clientID.lowercased()], t.expiresOn > now else { skipped += 1; continue }
            imported += 1
            for owner in owners { perApp[owner.name, default: []].append(t) }
        }
        for (name, tokens) in perApp.sorted(by: { $0.key < $1.key }) {
            let store = try caches.store(app: name)
            try store.withLock {
                var cache = (try? store.load()).flatMap { $0 }.flatMap { try? MSALCache.parse($0) } ?? MSALCache()
                for t in tokens { cache.put(t) }
                try store.save(try cache.sealedBytes())
            }
        }
        return (imported, skipped)
    }
}
