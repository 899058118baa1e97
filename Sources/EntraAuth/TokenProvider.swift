import FoundationEssentials
import VaultCrypto
import Synchronization
import VaultErrors
import VaultStore
import VaultFormat
import VaultRecords

/// Where the encrypted MSAL cache lives, with the lock that makes fetches single-flight across processes.
public protocol TokenCacheStorage: Sendable {
    func load() throws -> SecretBytes?
    func save(_ plaintext: SecretBytes) throws
    func withLock<R>(_ body: () throws -> R) throws -> R
}

extension TokenCacheStore: TokenCacheStorage {}

/// Fetches a new token from the identity provider.
public protocol TokenFetcher: Sendable {
    func acquire(_ app: AppIdentity, scope: String) throws -> AccessToken
}

extension ClientCredentials: TokenFetcher {}

public struct TokenResult: Sendable {
    public enum Source: String, Sendable { case cache, identityProvider = "identity_provider" }
    public var token: AccessToken
    public var source: Source
    public var warnings: [String]
}

/// MSAL's cache policy (docs/protocols.md, "MSAL: token cache") with single flight across processes:
/// - a cached token is used while more than 5 minutes remain and its `refresh_on` (if any) has not passed;
/// - past `refresh_on`, a new token is requested, and if that fails the still-valid old one is used;
/// - when the cache misses, the fetch happens under `tokens.lock` and the cache is read again once the lock is held,
///   so N processes that start together make one request;
/// - a cache that cannot be read is discarded with a warning (it is only a cache).
public struct TokenProvider: Sendable {
    public static let expiryBuffer: Int64 = 300
    let storage: any TokenCacheStorage
    let fetcher: any TokenFetcher
    let now: @Sendable () -> Date

    public init(storage: any TokenCacheStorage, fetcher: any TokenFetcher, now: @escaping @Sendable () -> Date = { Date() }) {
        self.storage = storage
        self.fetcher = fetcher
        self.now = now
    }

    /// A token for `app` and `scope`. `rejecting` names a token the resource server refused (expired mid-run):
    /// it is never returned again.
    public func token(for app: AppIdentity, scope: String, rejecting: String? = nil) throws -> TokenResult {
        var warnings: [String] = []
        let t = Int64(now().timeIntervalSince1970)
        func fresh(_ token: AccessToken) -> Bool {
            token.secret != rejecting && t < token.expiresOn - Self.expiryBuffer && (token.refreshOn.map { t < $0 } ?? true)
        }
        func usable(_ token: AccessToken) -> Bool { token.secret != rejecting && t < token.expiresOn - Self.expiryBuffer }
        func lookup(_ cache: MSALCache) -> AccessToken? {
            cache.lookup(environment: app.environment, clientID: app.clientID, realm: app.realm, scope: scope)
        }

        // A warm call reads one entry (MSALCache.quickLookup), not the whole cache; anything else takes the full path.
        // One read of the cache serves both the quick path and, on a miss, the full lookup.
        let loaded = Result { try storage.load() }
        if case .success(let bytes?) = loaded, let realm = app.realm,
           let cached = MSALCache.quickLookup(bytes, key: AccessToken.cacheKey(environment: app.environment, clientID: app.clientID,
                                                                               realm: realm, target: scope),
                                              environment: app.environment, clientID: app.clientID, realm: realm, scope: scope),
           fresh(cached) {
            return TokenResult(token: cached, source: .cache, warnings: warnings)
        }
        if let cached = lookup(parse(loaded, &warnings)), fresh(cached) {
            return TokenResult(token: cached, source: .cache, warnings: warnings)
        }
        return try storage.withLock {
            var cache = read(&warnings)
            let cached = lookup(cache)
            if let cached, fresh(cached) { return TokenResult(token: cached, source: .cache, warnings: warnings) }
            let token: AccessToken
            do {
                token = try fetcher.acquire(app, scope: scope)
            } catch let error as VaultError {
                if let cached, usable(cached) {
                    warnings.append("refreshing the token failed (\(error.reason)); using the cached token, valid until \(Self.describe(cached.expiresOn))")
                    return TokenResult(token: cached, source: .cache, warnings: warnings)
                }
                throw error
            }
            cache.prune(now: t)
            cache.put(token)
            do { try storage.save(try cache.sealedBytes()) } catch let e as VaultError {
                warnings.append("the token could not be cached: \(e.reason)")
            }
            return TokenResult(token: token, source: .identityProvider, warnings: warnings)
        }
    }

    func read(_ warnings: inout [String]) -> MSALCache { parse(Result { try storage.load() }, &warnings) }

    /// The cache from what `load` gave; a damaged one is discarded with a warning.
    func parse(_ loaded: Result<SecretBytes?, any Error>, _ warnings: inout [String]) -> MSALCache {
        do {
            guard let bytes = try loaded.get() else { return MSALCache() }
            return try MSALCache.parse(bytes)
        } catch let e as VaultError {
            warnings.append("discarding the token cache: \(e.reason)")
        } catch {
            warnings.append("discarding the token cache: it is not valid JSON")
        }
        return MSALCache()
    }

    static func describe(_ epoch: Int64) -> String {
        Date(timeIntervalSince1970: TimeInterval(epoch)).formatted(.iso8601)
    }
}

/// The in-memory twin of the on-disk cache, for unit tests.
public final class MemoryTokenCache: TokenCacheStorage {
    private let bytes: Mutex<[UInt8]?>
    public init(json: [UInt8]? = nil) { bytes = Mutex(json) }
    public func load() throws -> SecretBytes? { bytes.withLock { $0.map { var b = $0; return SecretBytes(consuming: &b) } } }
    public func save(_ plaintext: SecretBytes) throws { bytes.withLock { $0 = plaintext.withUnsafeBytes { Array($0) } } }
    public func withLock<R>(_ body: () throws -> R) throws -> R { try body() }
    public var json: [UInt8]? { bytes.withLock { $0 } }
}
