import EntraAuth
import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultHTTP

struct FakeFetcher: TokenFetcher {
    let tokens: MutableBox<[Result<AccessToken, VaultError>]>
    func acquire(_ app: AppIdentity, scope: String) throws -> AccessToken {
        let next = tokens.take()
        return try next.get()
    }
}

final class MutableBox<T>: @unchecked Sendable {
    private var value: T
    private let lock = NSLock()
    init(_ v: T) { value = v }
    func take() -> T.Element where T == [Result<AccessToken, VaultError>] { lock.withLock { value.removeFirst() } }
}

func identity() -> AppIdentity {
    var s = Array("secret".utf8)
    return AppIdentity(name: "a", clientID: "22222222-2222-2222-2222-222222222222", tenant: "11111111-1111-1111-1111-111111111111",
                       authorityHost: "https://login.microsoftonline.com", secret: SecretBytes(consuming: &s))
}

func token(_ secret: String, at: Int64, lifetime: Int64 = 3600, refreshIn: Int64? = nil) -> AccessToken {
    AccessToken(secret: secret, tokenType: "Bearer", clientID: "22222222-2222-2222-2222-222222222222", environment: "login.microsoftonline.com",
                realm: "11111111-1111-1111-1111-111111111111", target: "https://graph.microsoft.com/.default", cachedAt: at,
                expiresOn: at + lifetime, extendedExpiresOn: at + lifetime, refreshOn: refreshIn.map { at + $0 })
}

@Suite("Token cache policy (in memory, fixed clock)")
struct TokenPolicyTests {
    let scope = "https://graph.microsoft.com/.default"

    @Test("refresh_on passed: a new token replaces the old one")
    func refreshes() throws {
        let cache = MemoryTokenCache()
        let clock = MutableClock(1_000_000)
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("one", at: 1_000_000, lifetime: 7200, refreshIn: 3600)),
                                                     .success(token("two", at: 1_003_700, lifetime: 7200, refreshIn: 3600))]))
        let provider = TokenProvider(storage: cache, fetcher: fetcher, now: { clock.date })
        #expect(try provider.token(for: identity(), scope: scope).token.secret == "one")
        clock.set(1_003_000)
        #expect(try provider.token(for: identity(), scope: scope).source == .cache)
        clock.set(1_003_700)
        let r = try provider.token(for: identity(), scope: scope)
        #expect(r.token.secret == "two")
        #expect(r.source == .identityProvider)
    }

    @Test("refresh fails while the old token is valid: the old token, with a warning")
    func keepsOldOnFailure() throws {
        let cache = MemoryTokenCache()
        let clock = MutableClock(1_000_000)
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("one", at: 1_000_000, lifetime: 7200, refreshIn: 3600)),
                                                     .failure(VaultError("http.connect", "down"))]))
        let provider = TokenProvider(storage: cache, fetcher: fetcher, now: { clock.date })
        _ = try provider.token(for: identity(), scope: scope)
        clock.set(1_004_000)
        let r = try provider.token(for: identity(), scope: scope)
        #expect(r.token.secret == "one")
        #expect(r.source == .cache)
        #expect(r.warnings.first?.hasPrefix("refreshing the token failed (down)") == true)
    }

    @Test("expired beyond the buffer and the fetch fails: the error, not a stale token")
    func noStaleToken() throws {
        let cache = MemoryTokenCache()
        let clock = MutableClock(1_000_000)
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("one", at: 1_000_000)), .failure(VaultError("http.connect", "down"))]))
        let provider = TokenProvider(storage: cache, fetcher: fetcher, now: { clock.date })
        _ = try provider.token(for: identity(), scope: scope)
        clock.set(1_000_000 + 3600 - 299)
        #expect(throws: VaultError.self) { try provider.token(for: identity(), scope: scope) }
    }

    @Test("a rejected token is never returned again")
    func rejecting() throws {
        let cache = MemoryTokenCache()
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("one", at: 1_000_000)), .success(token("two", at: 1_000_010))]))
        let provider = TokenProvider(storage: cache, fetcher: fetcher, now: { Date(timeIntervalSince1970: 1_000_010) })
        _ = try provider.token(for: identity(), scope: scope)
        #expect(try provider.token(for: identity(), scope: scope, rejecting: "one").token.secret == "two")
    }

    @Test("the cache is written in MSAL's schema: lower-cased key, null home_account_id, times as strings")
    func msalSchema() throws {
        let cache = MemoryTokenCache()
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("eyJ.x.y", at: 1_767_225_600, lifetime: 3599, refreshIn: 1800))]))
        _ = try TokenProvider(storage: cache, fetcher: fetcher, now: { Date(timeIntervalSince1970: 1_767_225_600) })
            .token(for: identity(), scope: scope)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(cache.json ?? [])) as? [String: Any])
        let at = try #require(json["AccessToken"] as? [String: [String: Any]])
        let key = "-login.microsoftonline.com-accesstoken-22222222-2222-2222-2222-222222222222-11111111-1111-1111-1111-111111111111-https://graph.microsoft.com/.default"
        let entry = try #require(at[key])
        #expect(entry["home_account_id"] is NSNull)
        #expect(entry["credential_type"] as? String == "AccessToken")
        #expect(entry["expires_on"] as? String == "1767229199")
        #expect(entry["cached_at"] as? String == "1767225600")
        #expect(entry["refresh_on"] as? String == "1767227400")
        let meta = try #require(json["AppMetadata"] as? [String: [String: String]])
        #expect(meta["appmetadata-login.microsoftonline.com-22222222-2222-2222-2222-222222222222"]?["client_id"] == "22222222-2222-2222-2222-222222222222")
    }

    @Test("unknown sections and fields survive a write")
    func keepsUnknown() throws {
        let original = #"{"AccessToken":{},"Account":{"x":{"a":1}},"Custom":{"k":"v"}}"#
        let cache = MemoryTokenCache(json: Array(original.utf8))
        let fetcher = FakeFetcher(tokens: MutableBox([.success(token("t", at: 1_000_000))]))
        _ = try TokenProvider(storage: cache, fetcher: fetcher, now: { Date(timeIntervalSince1970: 1_000_000) }).token(for: identity(), scope: scope)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(cache.json ?? [])) as? [String: Any])
        #expect((json["Custom"] as? [String: String])?["k"] == "v")
        #expect(((json["Account"] as? [String: Any])?["x"] as? [String: Int])?["a"] == 1)
    }
}

final class MutableClock: @unchecked Sendable {
    private var seconds: Double
    private let lock = NSLock()
    init(_ s: Double) { seconds = s }
    func set(_ s: Double) { lock.withLock { seconds = s } }
    var date: Date { lock.withLock { Date(timeIntervalSince1970: seconds) } }
}

@Suite("HTTP pieces")
struct HTTPPieceTests {
    @Test("form encoding matches MSAL's (docs/protocols.md, section Entra: token request)")
    func formEncoding() {
        var s = Array("Xy8Q~ab+c/d=e &f%".utf8)
        let encoded = FormEncoding.encode(SecretBytes(consuming: &s))
        #expect(encoded.prefixString(100) == "Xy8Q~ab%2Bc%2Fd%3De+%26f%25")
    }

    @Test("redaction of headers, forms and JSON")
    func redaction() {
        #expect(Redaction.header("Authorization", "Bearer abc.def.ghi") == "Bearer [REDACTED]")
        #expect(Redaction.header("Accept", "application/json") == "application/json")
        #expect(Redaction.form("client_id=x&client_secret=s3cr%2Bt&scope=y&client_assertion=eyJ.a.b")
                == "client_id=x&client_secret=[REDACTED]&scope=y&client_assertion=[REDACTED]")
        #expect(Redaction.json(#"{"token_type":"Bearer","access_token":"eyJabc.def.ghi","x":1}"#)
                == #"{"token_type":"Bearer","access_token":"[REDACTED]","x":1}"#)
        #expect(Redaction.json(#"{"secretText": "Q_e8Q~abc"}"#) == #"{"secretText": "[REDACTED]"}"#)
        #expect(Redaction.bearer("token eyJhbGciOi.eyJzdWIi.c2ln here") == "token [REDACTED] here")
    }

    @Test("Retry-After: integers, fractions and HTTP dates")
    func retryAfter() {
        #expect(RetryAfter.seconds("10") == 10)
        #expect(RetryAfter.seconds("2.128") == 2.128)
        #expect(RetryAfter.seconds(nil) == nil)
        #expect(RetryAfter.seconds("soon") == nil)
        let now = Date(timeIntervalSince1970: 784_111_767) // Sun, 06 Nov 1994 08:49:27 GMT
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == 10)
    }

    @Test("plain http is refused except for loopback")
    func httpsOnly() throws {
        let t = try CurlTransport(options: HTTPOptions())
        let error = try #require(throws: VaultError.self) { try t.send(HTTPRequest(method: "GET", url: "http://example.com/x")) }
        #expect(error.code == "http.insecure")
        #expect(URLParts.isLoopback("http://127.0.0.1:8080/x"))
        #expect(!URLParts.isLoopback("http://127.0.0.1.example.com/x"))
    }

    @Test("a URL's origin is its scheme and authority as written; its host drops user-info and port", arguments: [
        ("https://login.microsoftonline.com/tenant/oauth2/v2.0/token", "https://login.microsoftonline.com", "login.microsoftonline.com"),
        ("https://User@Graph.Microsoft.com:8443?x#y", "https://User@Graph.Microsoft.com:8443", "graph.microsoft.com"),
        ("https://[::1]:8443/x", "https://[::1]:8443", "[::1]"),
        ("https://host#frag/x", "https://host", "host"),
        ("not a url", "not a url", ""),
    ])
    func originAndHost(_ c: (url: String, origin: String, host: String)) {
        #expect(URLParts.origin(c.url) == c.origin)
        #expect(URLParts.host(c.url) == c.host)
    }
}
