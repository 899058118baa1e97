import EntraAuth
import Foundation
import Testing
import VaultCrypto
import VaultCLI
import VaultErrors
import VaultHTTP

/// Endpoints are parsed and compared as URLs, clouds come from the hosts, and the default scope from the Graph host.
@Suite("Endpoints and clouds")
struct EndpointTests {
    struct Bad: Sendable, CustomTestStringConvertible {
        var url: String
        var problem: EndpointURL.Problem
        var testDescription: String { url }
    }

    @Test(arguments: [
        Bad(url: "https://login.microsoftonline.com@evil.example/", problem: .userinfo),
        Bad(url: "https://user:pw@login.microsoftonline.com", problem: .userinfo),
        Bad(url: "https://login.microsoftonline.com/?a=b", problem: .query),
        Bad(url: "https://login.microsoftonline.com#frag", problem: .fragment),
        Bad(url: "http://login.microsoftonline.com", problem: .plainHTTP),
        Bad(url: "http://127.0.0.1.nip.io:8443", problem: .plainHTTP),
        Bad(url: "http://localhost.evil.example", problem: .plainHTTP),
        Bad(url: "ftp://login.microsoftonline.com", problem: .scheme("ftp")),
        Bad(url: "login.microsoftonline.com", problem: .notURL),
        Bad(url: "https://login microsoftonline.com", problem: .notASCII),
        Bad(url: "https://login.microsoftonline.com\r\nX: y", problem: .notASCII),
        Bad(url: "https://lоgin.microsoftonline.com", problem: .notASCII), // Cyrillic о
        Bad(url: "https://-bad.example", problem: .host),
        Bad(url: "https://a..b", problem: .host),
        Bad(url: "https://1.2.3.999", problem: .host),
        Bad(url: "https://host:0", problem: .port),
        Bad(url: "https://host:65536", problem: .port),
        Bad(url: "https://host:+443", problem: .port),
        Bad(url: "https://host/a/../b", problem: .path),
        Bad(url: "https://host//a", problem: .path),
        Bad(url: "https://host/a%2fb", problem: .path),
        Bad(url: "https://host\\@evil.example", problem: .path),
    ])
    func refused(_ bad: Bad) {
        #expect(throws: bad.problem) { _ = try EndpointURL.parse(bad.url) }
    }

    @Test("normalised: scheme and host lower-cased, default port and trailing slash dropped")
    func normalised() throws {
        #expect(try EndpointURL.parse("HTTPS://Graph.Microsoft.COM:443/").description == "https://graph.microsoft.com")
        #expect(try EndpointURL.parse("https://127.0.0.1:8443/t/").description == "https://127.0.0.1:8443/t")
        #expect(try EndpointURL.parse("http://127.0.0.1:80").description == "http://127.0.0.1")
        #expect(try EndpointURL.parse("http://[::1]:9000").isLoopback)
        #expect(try EndpointURL.parse("http://localhost:9000").isLoopback)
        #expect(try EndpointURL.parse("http://127.9.9.9").isLoopback)
    }

    @Test("the tenant comes from MSAL's authority form; a mismatch with --tenant is refused")
    func tenantFromAuthority() throws {
        let r = try AppEndpoints.resolve(cloud: nil, authority: "https://login.microsoftonline.com/contoso.onmicrosoft.com", graph: nil,
                                         tenant: nil, allowCustom: false)
        #expect(r.tenant == "contoso.onmicrosoft.com")
        #expect(r.endpoints.storedAuthority == nil, "the cloud's own host is not stored")
        #expect(r.endpoints.defaultScope == "https://graph.microsoft.com/.default")
        let same = try AppEndpoints.resolve(cloud: nil, authority: "https://login.microsoftonline.com/CONTOSO.onmicrosoft.com", graph: nil,
                                            tenant: "contoso.onmicrosoft.com", allowCustom: false)
        #expect(same.tenant == "contoso.onmicrosoft.com")
        #expect(throws: VaultError.self) {
            _ = try AppEndpoints.resolve(cloud: nil, authority: "https://login.microsoftonline.com/fabrikam.com", graph: nil,
                                         tenant: "contoso.com", allowCustom: false)
        }
    }

    @Test("the default scope follows the Graph host, never only the cloud: a GCC High token never goes to DoD")
    func scopeFollowsGraph() throws {
        let dod = try AppEndpoints.resolve(cloud: nil, authority: "https://login.microsoftonline.us/t.us", graph: "https://dod-graph.microsoft.us",
                                           tenant: nil, allowCustom: false).endpoints
        #expect(dod.cloud == .usdod)
        #expect(dod.defaultScope == "https://dod-graph.microsoft.us/.default")
        let dodByCloud = try AppEndpoints.resolve(cloud: .usdod, authority: nil, graph: nil, tenant: "t.us", allowCustom: false).endpoints
        #expect(dodByCloud.graph.description == "https://dod-graph.microsoft.us")
        #expect(dodByCloud.authority.description == "https://login.microsoftonline.us")
        #expect(dodByCloud.defaultScope == "https://dod-graph.microsoft.us/.default")
        let high = try AppEndpoints.resolve(cloud: .usgov, authority: nil, graph: nil, tenant: "t.us", allowCustom: false).endpoints
        #expect(high.defaultScope == "https://graph.microsoft.us/.default")
        #expect(throws: VaultError.self, "usgov's login with DoD's Graph under --cloud usgov") {
            _ = try AppEndpoints.resolve(cloud: .usgov, authority: nil, graph: "https://dod-graph.microsoft.us", tenant: "t.us", allowCustom: false)
        }
        let custom = try AppEndpoints.resolve(cloud: nil, authority: nil, graph: "https://127.0.0.1:9443", tenant: "t.com", allowCustom: true).endpoints
        #expect(custom.defaultScope == nil)
        #expect(custom.isCustom)
    }

    @Test("China: the partner host is preferred, the older host accepted; a Graph root with /v1.0 is not doubled")
    func chinaAndVersions() throws {
        let cn = try AppEndpoints.resolve(cloud: .china, authority: nil, graph: nil, tenant: "t.cn", allowCustom: false).endpoints
        #expect(cn.authority.host == "login.partner.microsoftonline.cn")
        let old = try AppEndpoints.resolve(cloud: nil, authority: "https://login.chinacloudapi.cn/t.cn", graph: nil, tenant: nil, allowCustom: false).endpoints
        #expect(old.cloud == .china)
        #expect(!old.isCustom)
        #expect(old.defaultScope == "https://microsoftgraph.chinacloudapi.cn/.default")
        let versioned = try AppEndpoints.resolve(cloud: nil, authority: nil, graph: "https://graph.microsoft.com/v1.0/", tenant: "t.com", allowCustom: false).endpoints
        #expect(versioned.storedGraph == nil)
        #expect(!versioned.isCustom)
    }

    @Test("stored endpoints from older versions are parsed again: an unsafe one is refused, a tenant path is dropped")
    func storedEndpoints() throws {
        #expect(throws: VaultError.self) {
            _ = try AppEndpoints.stored(cloud: "global", authority: "https://login.microsoftonline.com@evil.example", graph: nil)
        }
        let healed = try AppEndpoints.stored(cloud: "global", authority: "https://login.microsoftonline.com/contoso.com", graph: nil)
        #expect(healed.authority.origin == "https://login.microsoftonline.com")
    }

    static func identity() -> AppIdentity {
        var secretBytes = Array("s3cret".utf8)
        return AppIdentity(name: "d", clientID: "22222222-2222-2222-2222-222222222222", tenant: "contoso.com",
                           authorityHost: "https://login.microsoftonline.com", secret: SecretBytes(consuming: &secretBytes))
    }

    @Test("a 404 from the token endpoint says the URL does not exist and points at --authority, with no made-up AADSTS code")
    func notFound() throws {
        let app = Self.identity()
        for body in [#"{"error":"not_found","error_description":"No such endpoint"}"#, "<html>404</html>"] {
            let flow = ClientCredentials(transport: FixedTransport(HTTPResponse(status: 404, headers: [("Content-Type", "text/html")], body: Array(body.utf8))))
            let e = try #require(throws: VaultError.self) { _ = try flow.acquire(app, scope: "https://graph.microsoft.com/.default") }
            #expect(e.code == "entra.not_found")
            #expect(e.reason.contains("https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token does not exist (HTTP 404)"))
            #expect(ErrorWords.hint(e)?.contains("--authority") == true)
            #expect(!e.reason.contains("AADSTS"))
        }
        let flow = ClientCredentials(transport: FixedTransport(HTTPResponse(status: 400, body: Array(#"{"error":"invalid_request","error_description":"bad"}"#.utf8))))
        let e = try #require(throws: VaultError.self) { _ = try flow.acquire(app, scope: "https://graph.microsoft.com/.default") }
        #expect(!e.reason.contains("AADSTS0"), "\(e.reason)")
    }

    @Test("a token with a line break or space is refused: it would become a second header in --output header")
    func tokenCharacters() throws {
        let app = Self.identity()
        let body = #"{"access_token":"a.b.c\r\nX-Evil: 1","token_type":"Bearer","expires_in":3599}"#
        let flow = ClientCredentials(transport: FixedTransport(HTTPResponse(status: 200, headers: [("Content-Type", "application/json")], body: Array(body.utf8))))
        let e = try #require(throws: VaultError.self) { _ = try flow.acquire(app, scope: "https://graph.microsoft.com/.default") }
        #expect(e.code == "entra.response")
    }

    @Test("log redaction: secret JSON members anywhere, any whitespace, whole values; invalid JSON not shown")
    func logRedaction() {
        let body = #"{"a":1,"passwordProfile" :{"password":"p1"},"nested":{"newPassword" :  "p2","list":[{"secretText":"p3"}]},"key":"p4","privateKey":{"x":1},"ok":"fine"}"#
        let out = Redaction.jsonForLog(Array(body.utf8))
        for leaked in ["p1", "p2", "p3", "p4", #""x":1"#] { #expect(!out.contains(leaked), "\(leaked) in \(out)") }
        #expect(out.contains(#""ok":"fine""#))
        #expect(out.contains(#""passwordProfile" :"[REDACTED]""#))
        #expect(Redaction.jsonForLog(Array(#"{"password":"p1""#.utf8)).contains("not valid JSON: not shown"))
        let form = Array("client_id=abc&grant_type=client_credentials&client_secret=s%2Bcret&scope=x&weird%3D=y".utf8)
        let summary = form.withUnsafeBytes { Redaction.formSummary($0) }
        #expect(summary == "client_id=abc&grant_type=client_credentials&client_secret=[REDACTED]&scope=x&[REDACTED]")
        let bare = Array("client_id=abc&plainsecretvalue".utf8).withUnsafeBytes { Redaction.formSummary($0) }
        #expect(bare == "client_id=abc&[REDACTED]", "a segment without '=' is never printed")
    }

    @Test("header rules: tokens for names, no control characters in values")
    func headerRules() {
        #expect(HeaderRules.problem(name: "ConsistencyLevel", value: "eventual") == nil)
        #expect(HeaderRules.problem(name: "X-A", value: "b\r\nAuthorization: x") != nil)
        #expect(HeaderRules.problem(name: "X-A", value: "b\u{0}") != nil)
        #expect(HeaderRules.problem(name: "X A", value: "b") != nil)
        #expect(HeaderRules.problem(name: "", value: "b") != nil)
        #expect(HeaderRules.problem(name: "X-A", value: "tab\tis fine") == nil)
    }

    @Test("a credential still propagating is recognised by the invalid_client family, not by one AADSTS number")
    func propagatingFamily() {
        func mapped(_ status: Int, _ error: String, _ code: Int) -> VaultError {
            EntraErrors.map(HTTPResponse(status: status, body: Array(#"{"error":"\#(error)","error_description":"AADSTS\#(code): x","error_codes":[\#(code)]}"#.utf8)),
                            app: "a", clientID: "c", tenant: "t", scope: "s")
        }
        #expect(EntraErrors.mayBePropagating(mapped(401, "invalid_client", 7000215)))
        #expect(EntraErrors.mayBePropagating(mapped(401, "invalid_client", 7000216)), "another code of the family")
        #expect(EntraErrors.mayBePropagating(mapped(401, "invalid_client", 700027)), "a key not yet known (certificates)")
        #expect(!EntraErrors.mayBePropagating(mapped(401, "invalid_client", 7000222)), "an expired secret will not start working")
        #expect(!EntraErrors.mayBePropagating(mapped(401, "invalid_client", 7000218)), "no credential at all")
        #expect(!EntraErrors.mayBePropagating(mapped(400, "unauthorized_client", 700016)))
    }
}
