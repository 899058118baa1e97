import FoundationEssentials
import VaultCrypto
import VaultErrors
import VaultJSON

/// An access token as vault holds it. The token is treated as opaque (docs/protocols.md, "Entra: access tokens").
public struct AccessToken: Sendable, Equatable {
    public var secret: String
    public var tokenType: String
    public var clientID: String
    public var environment: String
    public var realm: String
    public var target: String
    public var cachedAt: Int64
    public var expiresOn: Int64
    public var extendedExpiresOn: Int64
    public var refreshOn: Int64?
    /// The `client-request-id` of the request that fetched it (Entra ID's correlation id); not kept in the cache.
    public var correlationID: String?

    public init(secret: String, tokenType: String, clientID: String, environment: String, realm: String, target: String,
                cachedAt: Int64, expiresOn: Int64, extendedExpiresOn: Int64, refreshOn: Int64?) {
        self.secret = secret; self.tokenType = tokenType; self.clientID = clientID; self.environment = environment
        self.realm = realm; self.target = target; self.cachedAt = cachedAt; self.expiresOn = expiresOn
        self.extendedExpiresOn = extendedExpiresOn; self.refreshOn = refreshOn
    }

    /// Equal when every cached field is (the correlation id of the fetch is not part of a token's identity).
    public static func == (a: AccessToken, b: AccessToken) -> Bool {
        a.secret == b.secret && a.tokenType == b.tokenType && a.clientID == b.clientID && a.environment == b.environment
            && a.realm == b.realm && a.target == b.target && a.cachedAt == b.cachedAt && a.expiresOn == b.expiresOn
            && a.extendedExpiresOn == b.extendedExpiresOn && a.refreshOn == b.refreshOn
    }

    /// `-{environment}-accesstoken-{client_id}-{realm}-{target}`, lower-cased (empty home_account_id first).
    public var cacheKey: String { Self.cacheKey(environment: environment, clientID: clientID, realm: realm, target: target) }

    /// MSAL's key of an app-only access token: `-{environment}-accesstoken-{client_id}-{realm}-{target}`, lower-case.
    public static func cacheKey(environment: String, clientID: String, realm: String, target: String) -> String {
        "-\(environment)-accesstoken-\(clientID)-\(realm)-\(target)".lowercased()
    }
}

/// MSAL's unified token cache (docs/protocols.md, "MSAL: token cache"). Unknown sections and fields are kept as they
/// are.
public struct MSALCache: Sendable {
    public private(set) var root: [String: JSONValue]

    public init() { root = [:] }

    /// Parses cache JSON; throws on anything that is not a JSON object.
    public init(json: [UInt8]) throws {
        guard case .object(let o) = try JSONDecoder().decode(JSONValue.self, from: Data(json)) else {
            throw VaultError("cache.format", "the token cache is not a JSON object")
        }
        root = o
    }

    public func serialized(pretty: Bool = false) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(JSONValue.object(root)))
    }

    var accessTokenSection: [String: JSONValue] { root["AccessToken"]?.object ?? [:] }

    /// Every access token entry vault can read.
    public var accessTokens: [AccessToken] {
        accessTokenSection.values.compactMap(Self.decode)
    }

    static func decode(_ v: JSONValue) -> AccessToken? {
        guard let o = v.object, o["credential_type"]?.string == "AccessToken", let secret = o["secret"]?.string,
              let clientID = o["client_id"]?.string, let env = o["environment"]?.string, let realm = o["realm"]?.string,
              let target = o["target"]?.string, let expires = o["expires_on"]?.seconds else { return nil }
        // MSAL treats a missing or non-null home_account_id as a different (user) token.
        guard o["home_account_id"] == .null else { return nil }
        return AccessToken(secret: secret, tokenType: o["token_type"]?.string ?? "Bearer", clientID: clientID, environment: env,
                           realm: realm, target: target, cachedAt: o["cached_at"]?.seconds ?? 0, expiresOn: expires,
                           extendedExpiresOn: o["extended_expires_on"]?.seconds ?? expires, refreshOn: o["refresh_on"]?.seconds)
    }

    /// The cached token for an app and scope. Target matching is case-sensitive and accepts a superset of scopes.
    /// `realm` is the app's tenant id: a token of another tenant never matches, and an unknown realm matches nothing.
    public func lookup(environment: String, clientID: String, realm: String?, scope: String) -> AccessToken? {
        guard let realm = realm?.lowercased() else { return nil }
        let wanted = Set(scope.split(separator: " ").map(String.init))
        return accessTokens.filter { t in
            t.environment.lowercased() == environment.lowercased() && t.clientID.lowercased() == clientID.lowercased()
                && t.realm.lowercased() == realm
                && wanted.isSubset(of: Set(t.target.split(separator: " ").map(String.init)))
        }.max { $0.expiresOn < $1.expiresOn }
    }

    /// Stores a token and the app's AppMetadata entry, as MSAL does.
    public mutating func put(_ t: AccessToken) {
        var section = accessTokenSection
        var entry: [String: JSONValue] = [
            "credential_type": .string("AccessToken"), "secret": .string(t.secret), "home_account_id": .null,
            "environment": .string(t.environment), "client_id": .string(t.clientID), "target": .string(t.target),
            "realm": .string(t.realm), "token_type": .string(t.tokenType), "cached_at": .string(String(t.cachedAt)),
            "expires_on": .string(String(t.expiresOn)), "extended_expires_on": .string(String(t.extendedExpiresOn)),
        ]
        if let r = t.refreshOn { entry["refresh_on"] = .string(String(r)) }
        section[t.cacheKey] = .object(entry)
        root["AccessToken"] = .object(section)
        var meta = root["AppMetadata"]?.object ?? [:]
        meta["appmetadata-\(t.environment)-\(t.clientID)"] = .object(["client_id": .string(t.clientID), "environment": .string(t.environment)])
        root["AppMetadata"] = .object(meta)
    }

    /// Removes entries (all, or those of one client id). Returns how many access tokens went.
    @discardableResult
    public mutating func remove(clientID: String? = nil, environment: String? = nil) -> Int {
        var section = accessTokenSection
        let before = section.count
        section = section.filter { _, v in
            guard let t = Self.decode(v) else { return clientID == nil ? false : true }
            if let clientID, t.clientID.lowercased() != clientID.lowercased() { return true }
            if let environment, t.environment.lowercased() != environment.lowercased() { return true }
            return false
        }
        root["AccessToken"] = .object(section)
        if let clientID, var meta = root["AppMetadata"]?.object {
            meta = meta.filter { _, v in v["client_id"]?.string?.lowercased() != clientID.lowercased() }
            root["AppMetadata"] = .object(meta)
        } else if clientID == nil {
            root["AppMetadata"] = .object([:])
        }
        return before - section.count
    }

    /// Drops entries already past `expires_on` (MSAL deletes them on lookup too).
    public mutating func prune(now: Int64) {
        let section = accessTokenSection.filter { _, v in (Self.decode(v)?.expiresOn ?? now + 1) > now }
        root["AccessToken"] = .object(section)
    }

    /// The entry stored under `key` (the app's exact MSAL cache key), found by a byte search of the plaintext instead
    /// of decoding the whole cache: what a warm `vault token` needs from a cache of thousands of tokens. The entry is
    /// decoded alone and must match the app in every field `lookup` checks; anything unexpected (no such key, an
    /// escaped key, a malformed entry) returns nil and the caller falls back to `parse` + `lookup`.
    public static func quickLookup(_ bytes: SecretBytes, key: String, environment: String, clientID: String, realm: String?,
                                   scope: String) -> AccessToken? {
        guard let realm = realm?.lowercased() else { return nil }
        // The app's cache file holds its own tokens only (one file per app): validated whole by the one scanner,
        // then the one entry is read by name.
        let entry: [UInt8]? = bytes.withUnsafeBytes { buf in
            let b = buf.bindMemory(to: UInt8.self)
            guard let top = try? JSONScan.members(b, in: 0..<b.count), let tokens = top["AccessToken"], b[tokens.lowerBound] == 0x7b,
                  let entries = try? JSONScan.members(b, in: tokens), let r = entries[key], b[r.lowerBound] == 0x7b else { return nil }
            // The key written as vault and MSAL write it (no escapes); any other spelling is the full path's to judge.
            let needle = Array(("\"" + key + "\"").utf8)
            var k = r.lowerBound - 1
            while k >= 0, b[k] != 0x3a { k -= 1 }
            var e = k - 1
            while e >= 0, [0x20, 0x0a, 0x0d, 0x09].contains(b[e]) { e -= 1 }
            guard k > 0, e + 1 >= needle.count, b[(e + 1 - needle.count)...e].elementsEqual(needle) else { return nil }
            return Array(b[r])
        }
        guard let entry, let value = entry.withUnsafeBufferPointer({ MSALEntryReader.read($0) }) ?? (try? JSONDecoder().decode(JSONValue.self, from: Data(entry))),
              let t = decode(value) else { return nil }
        let wanted = Set(scope.split(separator: " ").map(String.init))
        guard t.environment.lowercased() == environment.lowercased(), t.clientID.lowercased() == clientID.lowercased(),
              t.realm.lowercased() == realm, wanted.isSubset(of: Set(t.target.split(separator: " ").map(String.init))) else { return nil }
        return t
    }

    /// The warm path's hand reading of one entry and `JSONDecoder`'s, for the same bytes (for the tests and the fuzz
    /// harness: whenever the hand reader answers, the two must agree).
    public static func entryDecodings(_ bytes: [UInt8]) -> (fast: JSONValue?, reference: JSONValue?) {
        (bytes.withUnsafeBufferPointer { MSALEntryReader.read($0) }, try? JSONDecoder().decode(JSONValue.self, from: Data(bytes)))
    }

    /// Parses cache JSON that is in secret memory.
    public static func parse(_ bytes: SecretBytes) throws -> MSALCache {
        try bytes.withUnsafeBytes { try MSALCache(json: Array($0)) }
    }

    public func sealedBytes() throws -> SecretBytes {
        var b = try serialized()
        return SecretBytes(consuming: &b)
    }
}
