import EntraAuth
import Foundation
import Testing
import VaultCrypto

/// The warm path's reader of one MSAL cache entry answers for what MSAL and vault write, and whenever it answers, it
/// answers what JSONDecoder does; everything else is left to JSONDecoder.
@Suite("MSAL cache entry: the hand reader agrees with JSONDecoder")
struct MSALEntryReaderTests {
    static let entry = #"{"credential_type":"AccessToken","secret":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln","home_account_id":null,"environment":"login.microsoftonline.com","client_id":"22222222-2222-2222-2222-222222222222","realm":"11111111-1111-1111-1111-111111111111","target":"https://graph.microsoft.com/.default","token_type":"Bearer","cached_at":"1800000000","expires_on":"1800003599","extended_expires_on":"1800003599","refresh_on":"1800001799"}"#

    @Test("an entry vault writes is read by hand, to the same value")
    func written() throws {
        let token = AccessToken(secret: "tok", tokenType: "Bearer", clientID: "22222222-2222-2222-2222-222222222222",
                                environment: "login.microsoftonline.com", realm: "11111111-1111-1111-1111-111111111111",
                                target: "https://graph.microsoft.com/.default", cachedAt: 1_800_000_000, expiresOn: 1_800_003_599,
                                extendedExpiresOn: 1_800_003_599, refreshOn: 1_800_001_799)
        var cache = MSALCache()
        cache.put(token)
        // The entry's bytes as vault's serializer wrote them: the object after its key (it holds no braces).
        let text = String(decoding: try cache.serialized(), as: UTF8.self)
        let key = AccessToken.cacheKey(environment: token.environment, clientID: token.clientID, realm: token.realm, target: token.target)
        let after = try #require(text.range(of: "\"\(key)\":"))
        let open = try #require(text[after.upperBound...].firstIndex(of: "{"))
        let close = try #require(text[open...].firstIndex(of: "}"))
        let (fast, reference) = MSALCache.entryDecodings(Array(text[open...close].utf8))
        #expect(fast != nil, "the hand reader gave up on vault's own output: \(text[open...close])")
        #expect(fast == reference)
    }

    @Test("MSAL's own layout (indented, numbers as strings or integers) is read by hand, to JSONDecoder's value", arguments: [
        entry,
        entry.replacingOccurrences(of: ",", with: ",\n    ").replacingOccurrences(of: "{", with: "{\n    ").replacingOccurrences(of: "}", with: "\n}"),
        entry.replacingOccurrences(of: #""expires_on":"1800003599""#, with: #""expires_on":1800003599"#),
        entry.replacingOccurrences(of: #""cached_at":"1800000000""#, with: #""cached_at" : 0"#),
        #"{}"#,
        #"{ "a" : "" , "b":null }"#,
    ])
    func read(_ text: String) {
        let (fast, reference) = MSALCache.entryDecodings(Array(text.utf8))
        #expect(fast != nil, "the hand reader gave up on \(text)")
        #expect(fast == reference)
    }

    @Test("anything else is left to JSONDecoder (nil), never read differently", arguments: [
        #"{"secret":"a\"b"}"#,                       // an escape
        #"{"secret":"a\/b"}"#,
        #"{"secret":"Zürich"}"#,                     // non-ASCII
        "{\"secret\":\"a\u{7f}b\"}",                 // DEL
        "{\"secret\":\"a\tb\"}",                     // a control character (invalid JSON)
        #"{"secret":"a","secret":"b"}"#,             // a repeated key
        #"{"n":-1}"#, #"{"n":1.5}"#, #"{"n":1e3}"#, #"{"n":01}"#, #"{"n":1234567890123456}"#,
        #"{"b":true}"#, #"{"a":[]}"#, #"{"o":{}}"#,
        #"{"a":"b",}"#, #"{"a":"b"} x"#, #"{"a" "b"}"#, #"{"a":nul}"#, #"{"a":"b""#, #"["a"]"#, "",
    ])
    func givesUp(_ text: String) {
        let (fast, reference) = MSALCache.entryDecodings(Array(text.utf8))
        #expect(fast == nil, "\(text): \(String(describing: fast)) (JSONDecoder: \(String(describing: reference)))")
    }

    @Test("the warm lookup still finds a token in an entry the hand reader leaves to JSONDecoder")
    func fallback() throws {
        let escaped = Self.entry.replacingOccurrences(of: #""target":"https://graph.microsoft.com/.default""#,
                                                      with: #""target":"https:\/\/graph.microsoft.com\/.default""#)
        #expect(MSALCache.entryDecodings(Array(escaped.utf8)).fast == nil)
        let key = AccessToken.cacheKey(environment: "login.microsoftonline.com", clientID: "22222222-2222-2222-2222-222222222222",
                                       realm: "11111111-1111-1111-1111-111111111111", target: "https://graph.microsoft.com/.default")
        var bytes = Array(#"{"AccessToken":{"\#(key)":\#(escaped)}}"#.utf8)
        let cache = SecretBytes(consuming: &bytes)
        let token = MSALCache.quickLookup(cache, key: key, environment: "login.microsoftonline.com", clientID: "22222222-2222-2222-2222-222222222222",
                                          realm: "11111111-1111-1111-1111-111111111111", scope: "https://graph.microsoft.com/.default")
        #expect(token?.secret == "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln")
        #expect(token?.target == "https://graph.microsoft.com/.default")
    }
}
