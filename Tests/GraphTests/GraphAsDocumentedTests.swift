import Foundation
import Graph
import Synchronization
import Testing
import VaultCrypto
import VaultCLI
import VaultErrors
import VaultHTTP

/// The Graph client against the documented behaviour (docs/protocols.md; the Graph docs' advanced-query and filter
/// pages).
@Suite("Graph as documented: the client")
struct GraphAsDocumentedTests {
    /// Records every request and answers from a script, in order (the last answer repeats).
    final class Script: HTTPTransport, @unchecked Sendable {
        let answers: [HTTPResponse]
        let seen = Mutex<[HTTPRequest]>([])
        init(_ answers: [HTTPResponse]) { self.answers = answers }
        func send(_ request: HTTPRequest) throws -> HTTPResponse {
            seen.withLock { s in
                s.append(request)
                return answers[min(s.count - 1, answers.count - 1)]
            }
        }
        var requests: [HTTPRequest] { seen.withLock { $0 } }
    }

    struct StaticToken: AccessTokenSource { func accessToken(rejecting: String?) throws -> String { "tok.en.value" } }

    static func page(_ json: String, status: Int = 200, headers: [(String, String)] = []) -> HTTPResponse {
        HTTPResponse(status: status, headers: [("Content-Type", "application/json")] + headers, body: Array(json.utf8))
    }

    struct Query: Sendable, CustomTestStringConvertible {
        var filter: String?
        var orderBy: String?
        var advanced: Bool
        var testDescription: String { "\(filter ?? "-") / \(orderBy ?? "-") → \(advanced ? "advanced" : "default")" }
    }

    @Test("advanced mode exactly when a clause or sort is outside the docs' default-safe table", arguments: [
        // The issue's examples: each answered Request_UnsupportedQuery by real Graph in default mode.
        Query(filter: "companyName eq 'Contoso'", advanced: true),
        Query(filter: "startswith(mobilePhone,'+1')", advanced: true),
        Query(filter: "assignedLicenses/$count eq 0", advanced: true),
        Query(orderBy: "createdDateTime desc", advanced: true),
        Query(filter: "startswith(displayName,'A')", orderBy: "displayName", advanced: true),
        Query(filter: "startswith(jobTitle,'Eng')", advanced: true),
        Query(filter: "mail ne null", advanced: true),
        Query(filter: "displayName eq null", advanced: true),
        Query(filter: "endswith(mail,'@contoso.com')", advanced: true),
        Query(filter: "not(startswith(displayName,'A'))", advanced: true),
        Query(filter: "city le 'M'", advanced: true),
        Query(filter: "employeeId in ('1','2')", advanced: true),
        Query(filter: "userPrincipalName ge 'a'", advanced: true),
        Query(filter: "nosuchProperty eq 'x'", advanced: true),
        // Default-safe: no extra parameters.
        Query(filter: "startswith(displayName,'A')", advanced: false),
        Query(filter: "createdDateTime ge 2021-01-01T00:00:00Z", advanced: false),
        Query(filter: "accountEnabled eq true and userType eq 'Member'", advanced: false),
        Query(filter: "businessPhones/any(p:p eq '+1 425 555 0100')", advanced: false),
        Query(filter: "mail in ('a@contoso.com','b@contoso.com')", advanced: false),
        Query(filter: "givenName le 'M' or surname ge 'S'", advanced: false),
        Query(filter: "displayName eq 'O''Brien'", advanced: false),
        Query(orderBy: "displayName desc", advanced: false),
        Query(orderBy: "userPrincipalName", advanced: false),
    ])
    func advancedMode(_ q: Query) {
        var r = UsersRequest()
        r.filter = q.filter
        r.orderBy = q.orderBy
        #expect(r.isAdvanced == q.advanced)
        #expect(r.path.contains("$count=true") == q.advanced)
        #expect(r.headers.contains { $0 == ("ConsistencyLevel", "eventual") } == q.advanced)
    }

    @Test("a root given with /v1.0 or /beta is not doubled; /beta paths are kept; origins compare after normalisation")
    func pathsAndOrigins() throws {
        for root in ["https://graph.microsoft.com/v1.0", "https://graph.microsoft.com/v1.0/", "https://graph.microsoft.com/beta"] {
            let c = GraphClient(root: root, transport: Script([Self.page("{}")]), tokens: StaticToken())
            #expect(c.url("/users") == "https://graph.microsoft.com/v1.0/users", "\(root)")
            #expect(c.url("/beta/users") == "https://graph.microsoft.com/beta/users")
        }
        let c = GraphClient(root: "https://graph.microsoft.com", transport: Script([Self.page("{}")]), tokens: StaticToken())
        for same in ["https://graph.microsoft.com:443/v1.0/users?$skiptoken=x", "HTTPS://Graph.Microsoft.COM/v1.0/users"] {
            #expect(throws: Never.self) { try c.checkSameOrigin(same) }
        }
        for other in ["https://graph.microsoft.com.evil.example/v1.0/users", "https://graph.microsoft.com:8443/v1.0/users",
                      "http://graph.microsoft.com/v1.0/users", "https://x@graph.microsoft.com/v1.0/users"] {
            #expect(throws: VaultError.self, "\(other)") { try c.checkSameOrigin(other) }
        }
    }

    @Test("a redirect is followed only when asked, and never with the token to another origin; a signed URL is not printed")
    func redirects() throws {
        let signed = "https://storage.example.net/reports/r.csv?sv=2024&sig=SECRETSIGNATURE"
        let redirect = Self.page("", status: 302, headers: [("Location", signed)])
        let notFollowed = GraphClient(root: "https://graph.microsoft.com", transport: Script([redirect]), tokens: StaticToken())
        let e = try #require(throws: VaultError.self) { try notFollowed.send("GET", "/reports/getOffice365ActiveUserDetail(period='D7')") }
        #expect(e.code == "graph.redirect")
        #expect(ErrorWords.hint(e)?.contains("--follow") == true)
        #expect(!e.reason.contains("SECRETSIGNATURE"))

        let script = Script([Self.page("", status: 302, headers: [("Location", "/v1.0/reports/moved")]), redirect,
                             HTTPResponse(status: 200, body: Array("a,b\n".utf8))])
        let client = GraphClient(root: "https://graph.microsoft.com", transport: script, tokens: StaticToken())
        let r = try client.send("GET", "/reports/x", headers: [("X-Custom", "1")], followRedirects: true)
        #expect(r.body == Array("a,b\n".utf8))
        let seen = script.requests
        #expect(seen.map(\.url) == ["https://graph.microsoft.com/v1.0/reports/x", "https://graph.microsoft.com/v1.0/reports/moved", signed])
        #expect(seen[1].header("Authorization") == "Bearer tok.en.value", "a same-origin redirect keeps the token")
        #expect(seen[2].header("Authorization") == nil, "the token went to another origin")
        #expect(seen[2].header("X-Custom") == nil)
    }

    @Test("501 is permanent: one request, a usage-class exit, not a temporary failure")
    func notImplemented() throws {
        let script = Script([Self.page(#"{"error":{"code":"NotImplemented","message":"This operation target is not yet supported."}}"#, status: 501)])
        let client = GraphClient(root: "https://graph.microsoft.com", transport: script, tokens: StaticToken())
        let e = try #require(throws: VaultError.self) { try client.send("GET", "/users?$select=skills") }
        #expect(e.code == "graph.not_implemented")
        #expect(ErrorWords.exitStatus(e) == 65)
        #expect(script.requests.count == 1)
    }

    @Test("app-management policy and object-size errors of addPassword get their own message and hint")
    func policyErrors() throws {
        let cases = [
            ("CredentialInvalidLifetimeAsPerAppPolicy", "Credential lifetime exceeds the max value allowed as per assigned policy 'p'.", "graph.credential_lifetime_policy", "--expires-in"),
            ("Directory_ResourceSizeExceeded", "The size of the object has exceeded its limit.", "graph.object_too_large", "remove unused secrets"),
        ]
        for (code, message, expected, hint) in cases {
            let script = Script([Self.page(#"{"error":{"code":"\#(code)","message":"\#(message)"}}"#, status: 400)])
            let apps = Applications(client: GraphClient(root: "https://graph.microsoft.com", transport: script, tokens: StaticToken()))
            let e = try #require(throws: VaultError.self) {
                _ = try apps.addPassword(appID: "22222222-2222-2222-2222-222222222222", displayName: "x", end: Date().addingTimeInterval(86_400))
            }
            #expect(e.code.rawValue == expected)
            #expect(ErrorWords.hint(e)?.contains(hint) == true, "\(ErrorWords.hint(e) ?? "")")
        }
    }

    @Test("a secretText with JSON escapes is decoded into the secret; a broken escape is an error, never a crash")
    func escapedSecretText() throws {
        func add(_ secretJSON: String) throws -> AddedPassword {
            let body = #"{"keyId":"0d5b1a3a-86a4-4c6a-9b1e-3c1f1f6f2a11","hint":"ab+","secretText":"\#(secretJSON)","endDateTime":"2027-01-01T00:00:00Z"}"#
            let apps = Applications(client: GraphClient(root: "https://graph.microsoft.com", transport: Script([Self.page(body)]), tokens: StaticToken()))
            return try apps.addPassword(appID: "22222222-2222-2222-2222-222222222222", displayName: "x", end: Date().addingTimeInterval(86_400))
        }
        let added = try add(#"ab\u002bc\/d~Q8"#)
        #expect(added.secret.withUnsafeBytes { Array($0) } == Array("ab+c/d~Q8".utf8))
        for broken in [#"ab\u12"#, #"ab\"#, #"ab\x41"#, #"\uD800"#] {
            #expect(throws: VaultError.self, "\(broken)") { _ = try add(broken) }
        }
    }
}
