import EntraAuth
import Foundation
import Testing
import VaultCrypto
import VaultStore
import VaultFormat
import VaultRecords

/// The warm path at scale: one cache entry read without decoding the cache, record secrets without a copy each.
@Suite("Warm path at scale")
struct CachePathTests {
    static let tenant = "11111111-1111-1111-1111-111111111111"
    static let scope = "https://graph.microsoft.com/.default"

    func token(_ client: String, secret: String, expires: Int64 = 4_000_000_000) -> AccessToken {
        AccessToken(secret: secret, tokenType: "Bearer", clientID: client, environment: "login.microsoftonline.com", realm: Self.tenant,
                    target: Self.scope, cachedAt: 1_800_000_000, expiresOn: expires, extendedExpiresOn: expires, refreshOn: nil)
    }

    func secretBytes(_ s: String) -> SecretBytes { var b = Array(s.utf8); return SecretBytes(consuming: &b) }

    func quick(_ cache: SecretBytes, client: String, realm: String? = tenant) -> AccessToken? {
        MSALCache.quickLookup(cache, key: AccessToken.cacheKey(environment: "login.microsoftonline.com", clientID: client, realm: realm ?? "", target: Self.scope),
                              environment: "login.microsoftonline.com", clientID: client, realm: realm, scope: Self.scope)
    }

    @Test("quickLookup finds the app's entry among thousands and agrees with the full lookup")
    func agreesWithFullLookup() throws {
        var cache = MSALCache()
        for i in 0..<2000 { cache.put(token(String(format: "%08x-0000-4000-8000-%012x", i, i), secret: "tok-\(i)")) }
        let bytes = try cache.sealedBytes()
        for i in [0, 777, 1999] {
            let client = String(format: "%08x-0000-4000-8000-%012x", i, i)
            let fast = try #require(quick(bytes, client: client))
            let full = try #require(MSALCache.parse(bytes).lookup(environment: "login.microsoftonline.com", clientID: client, realm: Self.tenant, scope: Self.scope))
            #expect(fast == full)
            #expect(fast.secret == "tok-\(i)")
        }
        #expect(quick(bytes, client: "99999999-0000-4000-8000-000000000000") == nil)
        #expect(quick(bytes, client: String(format: "%08x-0000-4000-8000-%012x", 5, 5), realm: nil) == nil, "an unknown realm matches nothing")
    }

    @Test("a key that only appears inside a value, an escaped key or a malformed entry falls back (nil), never a wrong token")
    func fallsBack() throws {
        let client = "22222222-2222-2222-2222-222222222222"
        let key = AccessToken.cacheKey(environment: "login.microsoftonline.com", clientID: client, realm: Self.tenant, target: Self.scope)
        let inValue = #"{"AccessToken":{"x":{"credential_type":"AccessToken","secret":"\"\#(key)\": {\"secret\":\"forged\"}"}}}"#
        #expect(quick(secretBytes(inValue), client: client) == nil)
        let escaped = #"{"AccessToken":{"\#(key.replacingOccurrences(of: "/", with: "\\/"))":{"credential_type":"AccessToken","secret":"t","home_account_id":null,"environment":"login.microsoftonline.com","client_id":"\#(client)","target":"\#(Self.scope)","realm":"\#(Self.tenant)","expires_on":"4000000000"}}}"#
        #expect(quick(secretBytes(escaped), client: client) == nil)
        #expect(try MSALCache.parse(secretBytes(escaped)).lookup(environment: "login.microsoftonline.com", clientID: client, realm: Self.tenant, scope: Self.scope) != nil,
                "the full path still finds it")
        let other = #"{"AccessToken":{"\#(key)":{"credential_type":"AccessToken","secret":"t","home_account_id":null,"environment":"login.microsoftonline.com","client_id":"33333333-3333-3333-3333-333333333333","target":"\#(Self.scope)","realm":"\#(Self.tenant)","expires_on":"4000000000"}}}"#
        #expect(quick(secretBytes(other), client: client) == nil, "an entry filed under the key but for another app is not used")
        #expect(quick(secretBytes(#"{"AccessToken":{"\#(key)":{"secret":"t""#), client: client) == nil)
    }

    @Test("record secrets are read-only views of one buffer that outlive the contents they came from")
    func recordViews() throws {
        var contents = VaultContents()
        for i in 0..<50 {
            let meta = AppMetadata(name: "a\(i)", tenant: "t.com", clientID: "22222222-2222-2222-2222-222222222222", cloud: "global",
                                   authority: nil, secretHint: "s\(i)", added: Date(timeIntervalSince1970: 1_800_000_000))
            try contents.putApp(meta, secret: secretBytes("secret-\(i)"))
        }
        var decoded: VaultContents? = try RecordCodec.decodeVersion1Body(RecordCodec.encodeVersion1Body(contents))
        let kept = try #require(try decoded?.app(named: "a42")?.secret)
        decoded = nil
        #expect(kept.withUnsafeBytes { Array($0) } == Array("secret-42".utf8), "the view keeps its buffer alive")
        // Version 2: the records opened together share one buffer too, and their secrets outlive the vault value.
        let key = Credential.keyFile(secretBytes(String(repeating: "k", count: 32)))
        let made = try VaultCodec.create(credentials: [key], contents: contents)
        var opened: UnlockedVault? = try VaultCodec.unlockAndOpen(made.bytes, with: key)
        let all = try #require(try opened?.contents.apps)
        opened = nil
        #expect(all.count == 50)
        #expect(all.first { $0.metadata.name == "a7" }?.secret?.constantTimeEquals(secretBytes("secret-7")) == true)
    }
}
