import EntraEmulator
import Foundation
import Testing
import VaultTestSupport
import _CryptoExtras

/// An emulator whose first app can manage its own FICs (Application.ReadWrite.OwnedBy, owning itself), a second app
/// with User.Read.All only, and a test issuer it trusts through `issuer_ca`.
struct FederatedFixture {
    static let clientID = "55555555-5555-5555-5555-555555555555"
    static let readerID = "66666666-6666-6666-6666-666666666666"
    let dir = TemporaryDirectory("fic")
    let issuer: TestIssuer
    let emu: EmulatorHarness

    init(cloud: EmulatorCloud? = nil, cacheSeconds: Double = 0, federated: [EmulatorConfig.FederatedCredential] = []) throws {
        issuer = try TestIssuer(directory: dir.path)
        var app = EmulatorConfig.App(name: "fic-app", clientID: Self.clientID, roles: ["Application.ReadWrite.OwnedBy"], ownsSelf: true,
                                     passwords: [.init(secret: "Fic8Q~emulator-test-secret-0000000000000")])
        app.federatedCredentials = federated
        let reader = EmulatorConfig.App(name: "reader", clientID: Self.readerID, roles: ["User.Read.All"],
                                        passwords: [.init(secret: "Rdr8Q~emulator-test-secret-0000000000000")])
        var config = EmulatorConfig(apps: [app, reader], users: 4)
        config.issuerCA = [issuer.caPath]
        config.issuerCacheSeconds = cacheSeconds
        config.cloud = cloud
        emu = try EmulatorHarness.start(config)
    }

    var appPath: String { "/v1.0/applications(appId='\(Self.clientID)')/federatedIdentityCredentials" }

    func graphToken(_ clientID: String = clientID) throws -> String {
        let secret = clientID == Self.clientID ? "Fic8Q~emulator-test-secret-0000000000000" : "Rdr8Q~emulator-test-secret-0000000000000"
        let a = try emu.secretToken(clientID: clientID, secret: secret)
        guard let t = a.json["access_token"] as? String else { throw EmulatorHarness.HarnessError(message: a.text) }
        return t
    }

    func create(_ body: [String: Any], token: String? = nil) throws -> EmulatorHarness.Answer {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.withoutEscapingSlashes]), as: UTF8.self)
        return try emu.graph(appPath, token: token ?? graphToken(), method: "POST", body: json)
    }

    func fic(_ name: String, subject: String, issuer: String? = nil, audiences: [String] = ["api://AzureADTokenExchange"]) -> [String: Any] {
        ["name": name, "issuer": issuer ?? self.issuer.issuer, "subject": subject, "audiences": audiences]
    }

    func exchange(_ assertion: String, clientID: String = clientID) throws -> EmulatorHarness.Answer {
        try emu.tokenRequest([("client_id", clientID), ("grant_type", "client_credentials"), ("client_assertion", assertion),
                              ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                              ("scope", "https://graph.microsoft.com/.default")],
                             headers: [("client-request-id", "fedc0000-0000-0000-0000-000000000001")])
    }

    func stop() {
        emu.stop()
        issuer.stop()
    }
}

/// Checks the Entra error body shape the emulator uses everywhere, with the code and `error` expected.
func expectEntraError(_ a: EmulatorHarness.Answer, status: Int, error: String, code: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.status == status, "\(a.text)", sourceLocation: sourceLocation)
    #expect(a.json["error"] as? String == error, sourceLocation: sourceLocation)
    #expect(a.json["error_codes"] as? [Int] == [code], sourceLocation: sourceLocation)
    #expect((a.json["error_description"] as? String)?.hasPrefix("AADSTS\(code): ") == true, "\(a.text)", sourceLocation: sourceLocation)
    #expect(a.json["correlation_id"] as? String == "fedc0000-0000-0000-0000-000000000001", sourceLocation: sourceLocation)
    #expect(a.json["trace_id"] is String && a.json["timestamp"] is String, sourceLocation: sourceLocation)
    #expect(a.json["access_token"] == nil, sourceLocation: sourceLocation)
}

@Suite("Emulator: federated identity credentials through Graph", .serialized, .timeLimit(.minutes(3)))
struct FederatedGraphTests {
    @Test("create (201), list, get by id and by name, $expand, delete (204), then 404")
    func lifecycle() throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        let created = try f.create(f.fic("openbao-fleet", subject: "entity-1"))
        #expect(created.status == 201, "\(created.text)")
        let id = try #require(created.json["id"] as? String)
        #expect(created.json["name"] as? String == "openbao-fleet")
        #expect(created.json["issuer"] as? String == f.issuer.issuer)
        #expect(created.json["subject"] as? String == "entity-1")
        #expect(created.json["audiences"] as? [String] == ["api://AzureADTokenExchange"])
        #expect(created.json["description"] is NSNull)
        #expect((created.json["@odata.context"] as? String)?.hasSuffix("/federatedIdentityCredentials/$entity") == true)

        let token = try f.graphToken()
        let list = try f.emu.graph(f.appPath, token: token)
        #expect(list.status == 200)
        #expect((list.json["value"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [id])
        #expect(try f.emu.graph(f.appPath + "/\(id)", token: token).json["subject"] as? String == "entity-1")
        #expect(try f.emu.graph(f.appPath + "/openbao-fleet", token: token).json["id"] as? String == id)

        let objectID = try #require(f.emu.info.apps.first?.objectID)
        let byObjectID = try f.emu.graph("/v1.0/applications/\(objectID)/federatedIdentityCredentials", token: token)
        #expect((byObjectID.json["value"] as? [[String: Any]])?.count == 1)
        let expanded = try f.emu.graph("/v1.0/applications/\(objectID)?$expand=federatedIdentityCredentials", token: token)
        #expect((expanded.json["federatedIdentityCredentials"] as? [[String: Any]])?.first?["name"] as? String == "openbao-fleet")
        let collection = try f.emu.graph("/v1.0/applications?$expand=federatedIdentityCredentials", token: token)
        let mine = (collection.json["value"] as? [[String: Any]])?.first { $0["appId"] as? String == FederatedFixture.clientID }
        #expect((mine?["federatedIdentityCredentials"] as? [[String: Any]])?.first?["subject"] as? String == "entity-1")

        let deleted = try f.emu.graph(f.appPath + "/\(id)", token: token, method: "DELETE")
        #expect(deleted.status == 204)
        let gone = try f.emu.graph(f.appPath + "/\(id)", token: token)
        #expect(gone.status == 404)
        #expect(gone.errorCode == "Request_ResourceNotFound")
        #expect((try f.emu.graph(f.appPath, token: token).json["value"] as? [Any])?.isEmpty == true)
    }

    struct RuleCase: Sendable, CustomTestStringConvertible {
        var label: String
        var body: @Sendable (FederatedFixture) -> [String: Any]
        var status: Int
        var code: String
        var testDescription: String { label }
    }

    @Test("Entra's rules, with Graph's error bodies", arguments: [
        RuleCase(label: "two audiences", body: { $0.fic("two-aud", subject: "s", audiences: ["api://AzureADTokenExchange", "api://other"]) },
                 status: 400, code: "Request_BadRequest"),
        RuleCase(label: "no audience", body: { $0.fic("no-aud", subject: "s", audiences: []) }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "another audience", body: { $0.fic("other-aud", subject: "s", audiences: ["api://AzureADTokenExchangeUSGov"]) },
                 status: 400, code: "InvalidFederatedIdentityCredentialValue"),
        RuleCase(label: "subject over 600 characters", body: { $0.fic("long-sub", subject: String(repeating: "a", count: 601)) }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "issuer over 600 characters", body: { $0.fic("long-iss", subject: "s", issuer: "https://x.example/" + String(repeating: "a", count: 601)) },
                 status: 400, code: "Request_BadRequest"),
        RuleCase(label: "wildcard subject", body: { $0.fic("wild", subject: "repo:contoso/*") }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "wildcard issuer", body: { $0.fic("wild-iss", subject: "s", issuer: "https://*.example") }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "name with a dot", body: { $0.fic("bad.name", subject: "s") }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "name of 2 characters", body: { $0.fic("ab", subject: "s") }, status: 400, code: "Request_BadRequest"),
        RuleCase(label: "no subject", body: { ["name": "no-sub", "issuer": $0.issuer.issuer, "audiences": ["api://AzureADTokenExchange"]] },
                 status: 400, code: "Request_BadRequest"),
        RuleCase(label: "name taken", body: { $0.fic("existing", subject: "other") }, status: 409, code: "Request_MultipleObjectsWithSameKeyValue"),
        RuleCase(label: "issuer and subject taken", body: { $0.fic("another", subject: "taken") }, status: 400,
                 code: "InvalidFederatedIdentityCredentialValue"),
    ])
    func rules(_ c: RuleCase) throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        #expect(try f.create(f.fic("existing", subject: "taken")).status == 201)
        let a = try f.create(c.body(f))
        #expect(a.status == c.status, "\(a.text)")
        #expect(a.errorCode == c.code, "\(a.text)")
        #expect((try f.emu.graph(f.appPath, token: f.graphToken()).json["value"] as? [Any])?.count == 1)
    }

    @Test("at most 20 FICs an app: the 21st is refused")
    func twenty() throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        let token = try f.graphToken()
        for i in 1...20 { #expect(try f.create(f.fic("fic-\(i)", subject: "subject-\(i)"), token: token).status == 201) }
        let a = try f.create(f.fic("fic-21", subject: "subject-21"), token: token)
        #expect(a.status == 400)
        #expect(a.errorCode == "Request_BadRequest")
        #expect((try f.emu.graph(f.appPath, token: token).json["value"] as? [Any])?.count == 20)
    }

    @Test("writing needs Application.ReadWrite.OwnedBy on an owned app (or .All); reading needs an application read role")
    func permissions() throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        #expect(try f.create(f.fic("mine", subject: "s")).status == 201)
        let reader = try f.graphToken(FederatedFixture.readerID)
        let denied = try f.create(f.fic("theirs", subject: "t"), token: reader)
        #expect(denied.status == 403)
        #expect(denied.errorCode == "Authorization_RequestDenied")
        #expect(try f.emu.graph(f.appPath, token: reader).status == 403)
        #expect(try f.emu.graph(f.appPath + "/mine", token: reader, method: "DELETE").status == 403)
        // The owner of one app cannot touch another it does not own.
        let other = "/v1.0/applications(appId='\(FederatedFixture.readerID)')/federatedIdentityCredentials"
        let body = String(decoding: try JSONSerialization.data(withJSONObject: f.fic("x-app", subject: "s")), as: UTF8.self)
        #expect(try f.emu.graph(other, token: f.graphToken(), method: "POST", body: body).status == 403)
    }

    @Test("in the US Government cloud the one audience is api://AzureADTokenExchangeUSGov")
    func usgov() throws {
        let f = try FederatedFixture(cloud: .usgov)
        defer { f.stop() }
        let global = try f.create(f.fic("global", subject: "s"))
        #expect(global.status == 400)
        #expect(global.errorCode == "InvalidFederatedIdentityCredentialValue")
        #expect(try f.create(f.fic("usgov", subject: "s", audiences: ["api://AzureADTokenExchangeUSGov"])).status == 201)
        let ok = try f.exchange(f.issuer.token(subject: "s", audience: "api://AzureADTokenExchangeUSGov"))
        #expect(ok.status == 200, "\(ok.text)")
    }
}

@Suite("Emulator: the token endpoint with a federated credential", .serialized, .timeLimit(.minutes(3)))
struct FederatedTokenTests {
    static let subject = "0f3e2a4c-9d1b-4b6e-8a7f-2c5d9e1b3a70"

    func fixture(cacheSeconds: Double = 0) throws -> FederatedFixture {
        let f = try FederatedFixture(cacheSeconds: cacheSeconds)
        #expect(try f.create(f.fic("openbao", subject: Self.subject)).status == 201)
        return f
    }

    @Test("an issuer's token for a matching FIC gets an access token (appidacr 2) that works on Graph")
    func exchange() throws {
        let f = try fixture()
        defer { f.stop() }
        let a = try f.exchange(f.issuer.token(subject: Self.subject))
        #expect(a.status == 200, "\(a.text)")
        let token = try #require(a.json["access_token"] as? String)
        #expect(claims(of: token)["appid"] as? String == FederatedFixture.clientID)
        #expect(claims(of: token)["appidacr"] as? String == "2")
        #expect(try f.emu.graph(f.appPath, token: token).status == 200)
        // An audience list that holds the FIC's audience also matches.
        #expect(try f.exchange(f.issuer.token(subject: Self.subject, audience: ["https://other.example", "api://AzureADTokenExchange"])).status == 200)
    }

    @Test("AADSTS700211: no FIC names the token's issuer")
    func unknownIssuer() throws {
        let f = try fixture()
        defer { f.stop() }
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, issuer: f.issuer.issuer + "/")), status: 401,
                         error: "invalid_client", code: 700211)
        #expect(f.issuer.hitCount("/oidc/.well-known/openid-configuration") == 0)
    }

    @Test("AADSTS70021: exact subject and audience, case-sensitive")
    func noMatch() throws {
        let f = try fixture()
        defer { f.stop() }
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject.uppercased())), status: 400, error: "invalid_request", code: 70021)
        expectEntraError(try f.exchange(f.issuer.token(subject: "other")), status: 400, error: "invalid_request", code: 70021)
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, audience: "api://azureadtokenexchange")), status: 400,
                         error: "invalid_request", code: 70021)
        let description = try f.exchange(f.issuer.token(subject: "other")).json["error_description"] as? String ?? ""
        #expect(description.contains("Assertion Issuer: '\(f.issuer.issuer)'. Assertion Subject: 'other'. Assertion Audience: 'api://AzureADTokenExchange'."))
    }

    @Test("AADSTS70021 while a new FIC propagates (the secrets' propagation delay), then a token")
    func propagation() throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        try f.emu.admin("POST", "/settings", ["propagation_delay": 2])
        #expect(try f.create(f.fic("new", subject: "s")).status == 201)
        expectEntraError(try f.exchange(f.issuer.token(subject: "s")), status: 400, error: "invalid_request", code: 70021)
        Thread.sleep(forTimeInterval: 2.3)
        #expect(try f.exchange(f.issuer.token(subject: "s")).status == 200)
    }

    @Test("AADSTS700024: exp and nbf with 300 s of clock skew")
    func lifetime() throws {
        let f = try fixture()
        defer { f.stop() }
        let now = Date().timeIntervalSince1970
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, lifetime: -330)), status: 401, error: "invalid_client", code: 700024)
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, notBefore: now + 330)), status: 401, error: "invalid_client", code: 700024)
        #expect(try f.exchange(f.issuer.token(subject: Self.subject, lifetime: -240)).status == 200)
        #expect(try f.exchange(f.issuer.token(subject: Self.subject, notBefore: now + 240)).status == 200)
    }

    @Test("AADSTS50166: issuer unreachable, untrusted TLS, plain http, not 200, a redirect, a JWKS that never comes")
    func unreachable() throws {
        let f = try FederatedFixture()
        defer { f.stop() }
        let stranger = try TestIssuer(directory: f.dir.path)   // its CA is not trusted
        defer { stranger.stop() }
        for (name, issuer) in [("refused", "https://127.0.0.1:1/oidc"), ("untrusted", stranger.issuer),
                               ("plain-http", "http://127.0.0.1:\(f.issuer.port)/oidc")] {
            #expect(try f.create(f.fic(name, subject: name, issuer: issuer)).status == 201)
            expectEntraError(try f.exchange(f.issuer.token(subject: name, issuer: issuer)), status: 400, error: "invalid_request", code: 50166)
        }
        #expect(stranger.hitCount("/oidc/.well-known/openid-configuration") == 0)
        #expect(try f.create(f.fic("gone", subject: "gone")).status == 201)
        f.issuer.remove("/oidc/.well-known/openid-configuration")
        expectEntraError(try f.exchange(f.issuer.token(subject: "gone")), status: 400, error: "invalid_request", code: 50166)
        // A redirect is not followed.
        f.issuer.serve("/oidc/.well-known/openid-configuration", status: 302, body: [])
        expectEntraError(try f.exchange(f.issuer.token(subject: "gone")), status: 400, error: "invalid_request", code: 50166)
        // A JWKS that never comes is given up (5 s without a byte), not waited for.
        f.issuer.serveDiscovery()
        f.issuer.serve("/oidc/keys", status: 0, body: [])
        expectEntraError(try f.exchange(f.issuer.token(subject: "gone")), status: 400, error: "invalid_request", code: 50166)
        #expect(f.issuer.hitCount("/oidc/keys") == 1)
    }

    @Test("AADSTS90061: documents fetched but unusable")
    func invalidDocuments() throws {
        let f = try fixture()
        defer { f.stop() }
        let cases: [(String, () -> Void)] = [
            ("not JSON", { f.issuer.serve("/oidc/.well-known/openid-configuration", body: Array("<html>".utf8)) }),
            ("served as octet-stream", { f.issuer.serveDiscovery(contentType: "application/octet-stream") }),
            ("no jwks_uri", { f.issuer.serve("/oidc/.well-known/openid-configuration", json: ["issuer": f.issuer.issuer]) }),
            ("http jwks_uri", { f.issuer.serveDiscovery(jwksURI: "http://127.0.0.1:\(f.issuer.port)/oidc/keys") }),
            ("another issuer", { f.issuer.serveDiscovery(issuer: "https://elsewhere.example") }),
            ("over 64 KiB", { f.issuer.serve("/oidc/.well-known/openid-configuration",
                                             json: ["issuer": f.issuer.issuer, "jwks_uri": "\(f.issuer.issuer)/keys",
                                                    "padding": String(repeating: "x", count: 70_000)]) }),
            ("JWKS without keys", { f.issuer.serve("/oidc/keys", json: ["key": TestIssuer.jwk(f.issuer.signingKey)]) }),
            ("JWKS over 512 KiB", { f.issuer.serve("/oidc/keys", json: ["keys": [TestIssuer.jwk(f.issuer.signingKey)],
                                                                     "padding": String(repeating: "x", count: 600_000)]) }),
        ]
        for (label, breakIt) in cases {
            breakIt()
            let a = try f.exchange(f.issuer.token(subject: Self.subject))
            #expect(a.json["error_codes"] as? [Int] == [90061], "\(label): \(a.text)")
            expectEntraError(a, status: 400, error: "invalid_request", code: 90061)
            f.issuer.serveDiscovery()
            f.issuer.publish([f.issuer.signingKey])
        }
        #expect(try f.exchange(f.issuer.token(subject: Self.subject)).status == 200)
    }

    @Test("AADSTS7000272: the signing key is not among the issuer's first 100 signing keys")
    func unknownKey() throws {
        let f = try fixture()
        defer { f.stop() }
        let other = TestIssuer.Key(kid: "key-2", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: other)), status: 401, error: "invalid_client", code: 7000272)
        // Without kid, no published key verifies it either.
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: other, kid: .some(nil))), status: 401,
                         error: "invalid_client", code: 7000272)
        // An encryption key does not count.
        var encryption = other
        encryption.use = "enc"
        f.issuer.publish([f.issuer.signingKey, encryption])
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: other)), status: 401, error: "invalid_client", code: 7000272)
        // Key 100 counts; key 101 does not.
        let fillerKey = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let filler = (1...99).map { TestIssuer.Key(kid: "filler-\($0)", key: fillerKey) }
        let key101 = TestIssuer.Key(kid: "key-101", key: other.key)
        f.issuer.publish(filler + [f.issuer.signingKey, key101])
        #expect(try f.exchange(f.issuer.token(subject: Self.subject)).status == 200)
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: key101)), status: 401, error: "invalid_client", code: 7000272)
        // A key without `use` counts.
        var plain = other
        plain.use = nil
        f.issuer.publish([plain])
        #expect(try f.exchange(f.issuer.token(subject: Self.subject, key: other)).status == 200)
    }

    @Test("RS256 only: a PS256 token and a forged signature are refused (AADSTS700027)")
    func algorithms() throws {
        let f = try fixture()
        defer { f.stop() }
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, alg: "PS256")), status: 401, error: "invalid_client", code: 700027)
        let forger = TestIssuer.Key(kid: "key-1", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: forger)), status: 401, error: "invalid_client", code: 700027)
    }

    @Test("the issuer's metadata is cached for issuer_cache_seconds: a rotated key fails until the cache expires")
    func cache() throws {
        let f = try fixture(cacheSeconds: 60)
        defer { f.stop() }
        #expect(try f.exchange(f.issuer.token(subject: Self.subject)).status == 200)
        #expect(try f.exchange(f.issuer.token(subject: Self.subject)).status == 200)
        #expect(f.issuer.hitCount("/oidc/.well-known/openid-configuration") == 1)
        #expect(f.issuer.hitCount("/oidc/keys") == 1)
        let rotated = TestIssuer.Key(kid: "key-2", key: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        f.issuer.publish([rotated])
        expectEntraError(try f.exchange(f.issuer.token(subject: Self.subject, key: rotated)), status: 401, error: "invalid_client", code: 7000272)
        try f.emu.admin("POST", "/settings", ["issuer_cache_seconds": 60])   // setting it empties the cache
        #expect(try f.exchange(f.issuer.token(subject: Self.subject, key: rotated)).status == 200)
        #expect(f.issuer.hitCount("/oidc/keys") == 2)
    }

    @Test("a FIC given in the configuration reaches the token endpoint (its issuer is asked) and the admin surface shows it")
    func configured() throws {
        let f = try FederatedFixture(federated: [.init(name: "configured", issuer: "https://127.0.0.1:1/none", subject: "s")])
        defer { f.stop() }
        // The configured issuer is unreachable by design: the answer proves the FIC was found and the issuer asked.
        expectEntraError(try f.exchange(f.issuer.token(subject: "s", issuer: "https://127.0.0.1:1/none")), status: 400,
                         error: "invalid_request", code: 50166)
        let state = try f.emu.appState(FederatedFixture.clientID)
        #expect((state["federated_credentials"] as? [[String: Any]])?.first?["name"] as? String == "configured")
    }
}
