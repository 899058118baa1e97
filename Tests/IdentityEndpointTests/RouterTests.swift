import FoundationEssentials
import IdentityEndpoint
import Testing
import VaultCrypto

func secret(_ s: String) -> SecretBytes {
    var b = Array(s.utf8)
    return SecretBytes(consuming: &b)
}

@Suite("Managed-identity requests: what is served, what is refused and how")
struct RouterTests {
    static let header = "4f1c2a9e7b3d5f60182a4c6e8b0d2f41"
    let router = IdentityRouter(identityHeader: secret(Self.header), servesIMDS: true)
    static let ok = "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fgraph.microsoft.com"

    func route(_ target: String, _ headers: [(String, String)], method: String = "GET") -> Result<IdentityRequest, IdentityRefusal> {
        router.route(method: method, target: target, headers: headers.map { (name: $0.0, value: $0.1) }, peer: "127.0.0.1:1")
    }

    @Test("App Service: the header's name in any case, its value exact; the resource decoded and mapped to one scope")
    func accepted() throws {
        for name in ["X-IDENTITY-HEADER", "x-identity-header", "X-Identity-Header"] {
            let r = try route(Self.ok, [(name, Self.header)]).get()
            #expect(r.kind == .appService)
            #expect(r.resource == "https://graph.microsoft.com")
            #expect(r.scope == "https://graph.microsoft.com/.default")
            #expect(r.selector == nil)
        }
        let slash = try route("/msi/token?api-version=2019-08-01&resource=https://graph.microsoft.com/", [("X-IDENTITY-HEADER", Self.header)]).get()
        #expect(slash.scope == "https://graph.microsoft.com/.default")
        let imds = try route("/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api%3A%2F%2Fabc&client_id=C1", [("Metadata", "true")]).get()
        #expect(imds.kind == .imds && imds.resource == "api://abc" && imds.selector == .clientID("C1"))
        let object = try route(Self.ok + "&principal_id=P", [("X-IDENTITY-HEADER", Self.header)]).get()
        #expect(object.selector == .objectID("P"))
        let res = try route(Self.ok + "&mi_res_id=%2Fsubscriptions%2Fx", [("X-IDENTITY-HEADER", Self.header)]).get()
        #expect(res.selector == .resourceID("/subscriptions/x"))
    }

    struct Bad: CustomTestStringConvertible, Sendable {
        let label: String
        let target: String
        let headers: [(String, String)]
        let method: String
        let status: Int
        let code: String
        var testDescription: String { label }
        init(_ label: String, _ target: String, _ headers: [(String, String)], method: String = "GET", _ status: Int, _ code: String) {
            self.label = label; self.target = target; self.headers = headers; self.method = method; self.status = status; self.code = code
        }
    }

    static let h = [("X-IDENTITY-HEADER", header)]
    static let bad: [Bad] = [
        Bad("no headers at all (Go's probe)", ok, [], 400, "invalid_request"),
        Bad("Metadata but no identity header", ok, [("Metadata", "true")], 401, "unauthorized_client"),
        Bad("wrong identity header", ok, [("X-IDENTITY-HEADER", String(repeating: "0", count: 32))], 401, "unauthorized_client"),
        Bad("identity header in another case", ok, [("X-IDENTITY-HEADER", header.uppercased())], 401, "unauthorized_client"),
        Bad("identity header one byte short", ok, [("X-IDENTITY-HEADER", String(header.dropLast()))], 401, "unauthorized_client"),
        Bad("two identity headers", ok, h + h, 401, "unauthorized_client"),
        Bad("POST", ok, h, method: "POST", 405, "invalid_request"),
        Bad("unknown path", "/token?api-version=2019-08-01&resource=x", h, 404, "not_found"),
        Bad("no api-version", "/msi/token?resource=https%3A%2F%2Fgraph.microsoft.com", h, 400, "invalid_request"),
        Bad("old api-version", "/msi/token?api-version=2017-09-01&resource=r", h, 400, "invalid_request"),
        Bad("no resource", "/msi/token?api-version=2019-08-01", h, 400, "invalid_request"),
        Bad("empty resource", "/msi/token?api-version=2019-08-01&resource=", h, 400, "invalid_request"),
        Bad("resource twice", ok + "&resource=x", h, 400, "invalid_request"),
        Bad("resource with a space", "/msi/token?api-version=2019-08-01&resource=a+b", h, 400, "invalid_resource"),
        Bad("resource with a quote", "/msi/token?api-version=2019-08-01&resource=a%22b", h, 400, "invalid_resource"),
        Bad("bad percent escape", "/msi/token?api-version=2019-08-01&resource=%zz", h, 400, "invalid_request"),
        Bad("escape that is not UTF-8", "/msi/token?api-version=2019-08-01&resource=%ff", h, 400, "invalid_request"),
        Bad("two selectors", ok + "&client_id=a&object_id=b", h, 400, "invalid_request"),
        Bad("IMDS without Metadata", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r", [("X-IDENTITY-HEADER", header)], 400, "invalid_request"),
        Bad("IMDS Metadata false", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r", [("Metadata", "false")], 400, "invalid_request"),
        Bad("target over 8 KiB", ok + "&x=" + String(repeating: "a", count: 9000), h, 400, "invalid_request"),
    ]

    @Test("refused with the status and code the SDKs surface", arguments: bad)
    func refused(_ c: Bad) {
        guard case .failure(let refusal) = route(c.target, c.headers, method: c.method) else {
            Issue.record("\(c.label) was accepted")
            return
        }
        #expect(refusal.status == c.status)
        #expect(refusal.code == c.code)
        #expect(!refusal.message.isEmpty)
    }

    @Test("IMDS is not served unless asked for, App Service not without a header")
    func disabled() {
        let plain = IdentityRouter(identityHeader: secret(Self.header), servesIMDS: false)
        let r = plain.route(method: "GET", target: "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=r",
                            headers: [(name: "Metadata", value: "true")], peer: "p")
        #expect((try? r.get()) == nil)
        let imdsOnly = IdentityRouter(identityHeader: nil as SecretBytes?, servesIMDS: true)
        let a = imdsOnly.route(method: "GET", target: Self.ok, headers: [(name: "X-IDENTITY-HEADER", value: Self.header)], peer: "p")
        guard case .failure(let f) = a else { Issue.record("App Service served without a header"); return }
        #expect(f.status == 404)
    }

    struct Body: Decodable, Equatable {
        var access_token: String; var expires_on: String; var expires_in: String; var resource: String; var token_type: String; var client_id: String
    }

    @Test("the success body: every field App Service, IMDS and MSAL read, strings escaped, the real remaining lifetime")
    func successBody() throws {
        let token = IdentityToken(token: secret("eyJ.a\"b\\c\u{01}"), expiresOn: 1_800_000_000, clientID: "cid")
        var out: [UInt8] = []
        IdentityResponse.success(token, resource: "api://x\"y", now: 1_799_996_400, into: &out)
        let body = try JSONDecoder().decode(Body.self, from: Data(out))
        #expect(body == Body(access_token: "eyJ.a\"b\\c\u{01}", expires_on: "1800000000", expires_in: "3600", resource: "api://x\"y",
                             token_type: "Bearer", client_id: "cid"))
    }

    struct Failure: Decodable { var error: String; var error_description: String; var statusCode: Int; var message: String }

    @Test("the error body carries both shapes")
    func failureBody() throws {
        let f = try JSONDecoder().decode(Failure.self, from: Data(IdentityResponse.failure(IdentityRefusal(status: 403, code: "invalid_resource", message: "no \"x\"\n"))))
        #expect(f.error == "invalid_resource" && f.statusCode == 403 && f.message == "no \"x\"\n" && f.error_description == f.message)
    }

    @Test("what a web page can make a browser send is refused: Origin, Sec-Fetch-*, X-Forwarded-For, a Host other than the endpoint's")
    func browsers() {
        func r(_ headers: [(String, String)], port: Int? = 8765) -> Int? {
            switch router.route(method: "GET", target: Self.ok, headers: ([("X-IDENTITY-HEADER", Self.header)] + headers).map { (name: $0.0, value: $0.1) },
                                peer: "127.0.0.1:1", localPort: port) {
            case .success: return nil
            case .failure(let f): return f.status
            }
        }
        #expect(r([("Host", "127.0.0.1:8765")]) == nil)
        #expect(r([("Host", "LOCALHOST:8765")]) == nil)
        #expect(r([("Host", "[::1]:8765")]) == nil)
        #expect(r([]) == nil)
        #expect(r([("Host", "attacker.example:8765")]) == 403)
        #expect(r([("Host", "127.0.0.1:8766")]) == 403)
        #expect(r([("Host", "127.0.0.1:8765"), ("Host", "127.0.0.1:8765")]) == 403)
        #expect(r([("Host", "169.254.169.254")]) == nil)  // IMDS served by this router
        #expect(r([("Host", "attacker.example")], port: nil) == nil)  // a Unix socket: no web page reaches it
        #expect(r([("Origin", "null")]) == 403)
        #expect(r([("sec-fetch-site", "cross-site")]) == 403)
        #expect(r([("X-Forwarded-For", "203.0.113.7")]) == 400)
        #expect(r([("Forwarded", "for=203.0.113.7")]) == 400)
    }

    @Test("the header can be replaced while serving: the old one is refused from then on")
    func replacedHeader() {
        let box = IdentityHeaderSecret(secret(Self.header))
        let r = IdentityRouter(identityHeader: box, servesIMDS: false)
        func status(_ h: String) -> Int? {
            if case .failure(let f) = r.route(method: "GET", target: Self.ok, headers: [(name: "X-IDENTITY-HEADER", value: h)], peer: "p") { return f.status }
            return nil
        }
        #expect(status(Self.header) == nil)
        box.replace(secret("0123456789abcdef0123456789abcdef"))
        #expect(status(Self.header) == 401)
        #expect(status("0123456789abcdef0123456789abcdef") == nil)
    }
}
