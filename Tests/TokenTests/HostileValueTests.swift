import EntraAuth
import Foundation
import Testing
import VaultCrypto
import VaultErrors
import VaultHTTP
import VaultJSON

/// Regression tests for values that used to trap (abort the process) when a server or file sent them.
@Suite("hostile values in token responses, caches and headers")
struct HostileValueTests {
    @Test("Retry-After HTTP-dates with absurd years or fields are ignored, never overflow",
          arguments: ["Sun, 06 Nov 10000000000000 08:49:37 GMT", "Sun, 06 Nov -99999999999999 08:49:37 GMT",
                      "Sun, 99999999999999999 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 99999999999999:49:37 GMT", "NaN", "inf"])
    func absurdRetryAfter(_ value: String) {
        #expect(RetryAfter.seconds(value) == nil)
    }

    @Test("a plausible Retry-After date still counts")
    func plausibleRetryAfter() {
        let now = Date(timeIntervalSince1970: 784_111_777) // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:50:37 GMT", now: now) == 60)
    }

    @Test("cache times beyond year 9999, negative, fractional or 1e300 are not times", arguments: [
        JSONValue.number(1e300), .number(-1), .number(1.5), .number(.infinity), .string("9223372036854775807"),
        .string("-9223372036854775808"), .string("1e300"),
    ])
    func cacheTimes(_ v: JSONValue) {
        #expect(v.seconds == nil)
    }

    @Test("an imported MSAL cache entry with expires_on 1e300 is skipped, not trapped on")
    func cacheEntryWithHugeExpiry() throws {
        let json = #"{"AccessToken":{"k":{"credential_type":"AccessToken","secret":"t","home_account_id":null,"environment":"e","client_id":"c","realm":"r","target":"s","expires_on":1e300}}}"#
        let cache = try MSALCache(json: Array(json.utf8))
        #expect(cache.accessTokens.isEmpty)
    }

    static func response(_ body: String) -> HTTPResponse {
        HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))
    }

    @Test("token responses with unusable expires_in are refused with a clear error", arguments: [
        "1e300", "\"9223372036854775807\"", "9223372036854775807", "-1", "0", "3599.5", "\"abc\"", "null", "31536001",
    ])
    func badLifetimes(_ expiresIn: String) throws {
        let flow = ClientCredentials(transport: FixedTransport(Self.response(#"{"access_token":"a.b.c","expires_in":\#(expiresIn)}"#)))
        #expect {
            _ = try flow.acquire(identity(), scope: "https://graph.microsoft.com/.default")
        } throws: { error in
            (error as? VaultError)?.reason.contains("unusable expires_in") == true
        }
    }

    @Test("a numeric-string expires_in (as MSAL tolerates) is read")
    func stringLifetime() throws {
        let flow = ClientCredentials(transport: FixedTransport(Self.response(#"{"access_token":"a.b.c","expires_in":"3599"}"#)))
        let t = try flow.acquire(identity(), scope: "https://graph.microsoft.com/.default")
        #expect(t.expiresOn - t.cachedAt == 3599)
    }
}

/// Answers every request with the same response.
struct FixedTransport: HTTPTransport {
    let response: HTTPResponse
    init(_ r: HTTPResponse) { response = r }
    func send(_ request: HTTPRequest) throws -> HTTPResponse { response }
}
